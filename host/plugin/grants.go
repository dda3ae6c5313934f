package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/wire"
)

// ReadGrants reads the operator's grants file, {"mount": ["log", ...], "ipc": [...], ...}.
// A kind the file does not name keeps its default; a missing file means DefaultGrants.
func ReadGrants(path string) (Grants, error) {
	g := DefaultGrants()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return g, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plugin grants: %w", err)
	}
	if v, err := wire.Parse(data); err == nil {
		if k, dup := v.DuplicateKey(); dup { // encoding/json would keep the last copy
			return nil, fmt.Errorf("plugin grants %s: repeats the key %q", path, k)
		}
	}
	var file map[protocol.Kind][]string
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("plugin grants %s: %w", path, err)
	}
	for k, caps := range file {
		if !k.Valid() {
			return nil, fmt.Errorf("plugin grants %s: unknown kind %q", path, k)
		}
		for _, c := range caps {
			if !slices.Contains(abi.Capabilities(), c) {
				return nil, fmt.Errorf("plugin grants %s: unknown capability %q for %s", path, c, k)
			}
		}
		g[k] = caps
	}
	return g, nil
}
