package mountpolicy

import (
	"errors"
	"fmt"

	"github.com/nanoclaw/nanoclaw-go/plugins/wire"
)

// Allowlist is NanoClaw's mount allowlist (~/.config/nanoclaw/mount-allowlist.json), so an
// existing file works unchanged:
//
//	{"allowedRoots": [{"path": "~/projects", "allowReadWrite": true, "description": "..."}],
//	 "blockedPatterns": ["password"], "nonMainReadOnly": true}
type Allowlist struct {
	Roots           []Root
	BlockedPatterns []string // the file's patterns merged with DefaultBlockedPatterns
	NonMainReadOnly bool
}

// Root is one directory tree mounts may come from.
type Root struct {
	Path           string // as written: may start with ~ and may be a symlink
	AllowReadWrite bool
	Description    string
}

// DefaultBlockedPatterns are always blocked, whatever the file says: the usual homes of
// credentials.
var DefaultBlockedPatterns = []string{
	".ssh", ".gnupg", ".gpg", ".aws", ".azure", ".gcloud", ".kube", ".docker",
	"credentials", ".env", ".netrc", ".npmrc", ".pypirc", "id_rsa", "id_ed25519",
	"private_key", ".secret",
}

var errSchema = errors.New("invalid mount allowlist")

func schema(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errSchema, fmt.Sprintf(format, args...))
}

// ParseAllowlist validates the file's shape as NanoClaw does (allowedRoots and
// blockedPatterns arrays, nonMainReadOnly boolean) and more strictly (every root needs a
// non-empty path, every pattern must be a non-empty string). A missing nonMainReadOnly means
// true: the safe reading.
func ParseAllowlist(content []byte) (*Allowlist, error) {
	v, err := wire.Parse(content)
	if err != nil {
		return nil, schema("not JSON: %v", err)
	}
	if v.Kind != wire.Object {
		return nil, schema("want a JSON object, got %s", v.Kind)
	}
	a := &Allowlist{NonMainReadOnly: true}
	roots := v.Field("allowedRoots")
	if roots.Kind != wire.Array {
		return nil, schema("\"allowedRoots\" must be an array, got %s", roots.Kind)
	}
	roots.EachElem(func(e wire.Value) bool {
		if e.Kind != wire.Object {
			err = schema("allowedRoots[%d] must be an object, got %s", len(a.Roots), e.Kind)
			return false
		}
		var r Root
		path, ok := e.Field("path").Str()
		if !ok || path == "" {
			err = schema("allowedRoots[%d].path must be a non-empty string", len(a.Roots))
			return false
		}
		r.Path = path
		if rw := e.Field("allowReadWrite"); rw.Kind != wire.Invalid {
			if r.AllowReadWrite, ok = rw.Bool(); !ok {
				err = schema("allowedRoots[%d].allowReadWrite must be a boolean", len(a.Roots))
				return false
			}
		}
		r.Description, _ = e.Field("description").Str()
		a.Roots = append(a.Roots, r)
		return true
	})
	if err != nil {
		return nil, err
	}
	patterns := v.Field("blockedPatterns")
	if patterns.Kind != wire.Array && patterns.Kind != wire.Invalid {
		return nil, schema("\"blockedPatterns\" must be an array, got %s", patterns.Kind)
	}
	a.BlockedPatterns = append(a.BlockedPatterns, DefaultBlockedPatterns...)
	patterns.EachElem(func(e wire.Value) bool {
		p, ok := e.Str()
		if !ok || p == "" {
			err = schema("blockedPatterns must hold non-empty strings")
			return false
		}
		a.BlockedPatterns = append(a.BlockedPatterns, p)
		return true
	})
	if err != nil {
		return nil, err
	}
	if ro := v.Field("nonMainReadOnly"); ro.Kind != wire.Invalid {
		b, ok := ro.Bool()
		if !ok {
			return nil, schema("\"nonMainReadOnly\" must be a boolean, got %s", ro.Kind)
		}
		a.NonMainReadOnly = b
	}
	return a, nil
}
