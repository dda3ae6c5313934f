package status

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
)

var camelCase = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// ShapeProblems lists where a JSON document breaks the conventions of status --json: a key
// that is not camelCase, or a null anywhere (lists are [], absent objects are left out). It
// is what the tests hold /status to; nil means none.
func ShapeProblems(doc []byte) ([]string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // any valid number, however large
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("status JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("status JSON: data after the document")
	}
	var out []string
	walk("$", v, &out)
	return out, nil
}

func walk(path string, v any, out *[]string) {
	switch x := v.(type) {
	case nil:
		*out = append(*out, path+": null")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !camelCase.MatchString(k) {
				*out = append(*out, fmt.Sprintf("%s: key %q is not camelCase", path, k))
			}
			walk(path+"."+k, x[k], out)
		}
	case []any:
		for i, e := range x {
			walk(fmt.Sprintf("%s[%d]", path, i), e, out)
		}
	}
}
