package mountpolicy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// osFacts resolves real paths under a fake home, as the host's path capability does.
type osFacts struct {
	home    string
	doc     protocol.ConfigDoc
	ok      bool
	version int64
	logged  []string
}

func (f *osFacts) Resolve(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = filepath.Join(f.home, p[1:])
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

func (f *osFacts) Config() (protocol.ConfigDoc, int64, bool) { return f.doc, f.version, f.ok }

func (f *osFacts) Log(msg string) { f.logged = append(f.logged, msg) }

func (f *osFacts) setAllowlist(content string) {
	f.doc = protocol.ConfigDoc{Name: "mount-allowlist", Path: filepath.Join(f.home, ".config/nanoclaw/mount-allowlist.json"), Exists: true, Content: []byte(content),
		ProtectedPaths: []string{filepath.Join(f.home, ".config/nanoclaw"), filepath.Join(f.home, "nanoclaw/store")}}
	f.ok = true
	f.version++
}

// fixture builds a home directory with projects, secrets and symlinks, the attack set's
// playground.
func fixture(t *testing.T) *osFacts {
	t.Helper()
	home, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{
		"projects/app", "projects/app/.ssh", "projects/tokenizer", "docs", "readonly/notes",
		".ssh", ".config/nanoclaw", "nanoclaw/store", "outside/data", "projects/.SSH-upper",
	} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"projects/escape":            filepath.Join(home, "outside"),       // leaf escape
		"projects/mid":               filepath.Join(home, "outside"),       // middle escape
		"projects/keys":              filepath.Join(home, ".ssh"),          // into a blocked dir
		"linkroot":                   filepath.Join(home, "projects"),      // a root that is a symlink
		"projects/loop":              filepath.Join(home, "projects/loop"), // a symlink loop
		"projects/cfg":               filepath.Join(home, ".config/nanoclaw"),
		"projects/harmless-id_rsa-x": filepath.Join(home, "docs"),
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(home, name)); err != nil {
			t.Fatal(err)
		}
	}
	f := &osFacts{home: home}
	f.setAllowlist(`{
		"allowedRoots": [
			{"path": "~/projects", "allowReadWrite": true, "description": "code"},
			{"path": "~/readonly", "allowReadWrite": false},
			{"path": "~/missing-root", "allowReadWrite": true}
		],
		"blockedPatterns": ["password", "token"],
		"nonMainReadOnly": true
	}`)
	return f
}

func TestDecide(t *testing.T) {
	f := fixture(t)
	home := f.home
	g := New(f)
	cases := []struct {
		name     string
		req      protocol.MountRequest
		allow    bool
		readonly bool
		hostPath string // expected resolved path on allow
		cpath    string
		reason   string // substring of the reason
	}{
		{name: "main rw under a rw root", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/app", ContainerPath: "app"},
			allow: true, hostPath: home + "/projects/app", cpath: "/workspace/extra/app"},
		{name: "readonly by default", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/app", ReadOnly: true},
			allow: true, readonly: true, hostPath: home + "/projects/app", cpath: "/workspace/extra/app"},
		{name: "non-main forced read-only", req: protocol.MountRequest{HostPath: "~/projects/app", ContainerPath: "app"},
			allow: true, readonly: true, hostPath: home + "/projects/app", reason: "nonMainReadOnly"},
		{name: "root without read-write", req: protocol.MountRequest{IsMain: true, HostPath: "~/readonly/notes"},
			allow: true, readonly: true, hostPath: home + "/readonly/notes", reason: "does not allow read-write"},
		{name: "absolute host path", req: protocol.MountRequest{IsMain: true, HostPath: home + "/projects/app", ReadOnly: true},
			allow: true, readonly: true, hostPath: home + "/projects/app"},
		{name: "root that is a symlink", req: protocol.MountRequest{IsMain: true, HostPath: "~/linkroot/app", ReadOnly: true},
			allow: true, readonly: true, hostPath: home + "/projects/app"},
		{name: "nested container path", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/app", ContainerPath: "code/app", ReadOnly: true},
			allow: true, readonly: true, cpath: "/workspace/extra/code/app"},

		{name: "outside every root", req: protocol.MountRequest{IsMain: true, HostPath: "~/docs"}, reason: "not under any allowed root"},
		{name: "leaf symlink escape", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/escape/data"}, reason: "not under any allowed root"},
		{name: "middle symlink escape", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/mid/data"}, reason: "not under any allowed root"},
		{name: "dotdot in host path", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/../outside/data"}, reason: "not under any allowed root"},
		{name: "symlink into .ssh", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/keys"}, reason: "blocked pattern \".ssh\""},
		{name: ".ssh inside a root", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/app/.ssh"}, reason: "blocked pattern \".ssh\""},
		{name: "upper-case .SSH", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/.SSH-upper"}, reason: "blocked pattern \".ssh\""},
		{name: "file pattern substring", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/tokenizer"}, reason: "blocked pattern \"token\""},
		{name: "requested name blocked even if harmless target", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/harmless-id_rsa-x"}, reason: "blocked pattern \"id_rsa\""},
		{name: "nanoclaw config dir through a symlink", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/cfg"}, reason: "protected"},
		{name: "ancestor of a protected path", req: protocol.MountRequest{IsMain: true, HostPath: "~"}, reason: "protected"},
		{name: "nonexistent", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/nope"}, reason: "does not exist"},
		{name: "symlink loop", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/loop"}, reason: "cannot resolve"},
		{name: "relative host path", req: protocol.MountRequest{IsMain: true, HostPath: "projects/app"}, reason: "absolute"},
		{name: "NUL in host path", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/app\x00/x"}, reason: "control character"},
		{name: "very long host path", req: protocol.MountRequest{IsMain: true, HostPath: "/" + strings.Repeat("a", 5000)}, reason: "longer than"},

		{name: "absolute container path", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/app", ContainerPath: "/etc"}, reason: "relative"},
		{name: "dotdot container path", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/app", ContainerPath: "../x"}, reason: "'..'"},
		{name: "dotdot inside container path", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/app", ContainerPath: "a/../../x"}, reason: "'..'"},
		{name: "colon injection", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/app", ContainerPath: "x:/etc:rw"}, reason: "':'"},
		{name: "NUL in container path", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/app", ContainerPath: "a\x00b"}, reason: "control"},
		{name: "blank container path", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/app", ContainerPath: "   "}, reason: "empty"},
		{name: "long container path", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/app", ContainerPath: strings.Repeat("a", 300)}, reason: "longer"},
		{name: "unicode line separator", req: protocol.MountRequest{IsMain: true, HostPath: "~/projects/app", ContainerPath: "a\u2028b"}, reason: "control"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := g.Decide(&c.req)
			if v.Allow != c.allow {
				t.Fatalf("allow = %v (%s), want %v", v.Allow, v.Reason, c.allow)
			}
			if !v.Allow && (!v.ReadOnly || v.HostPath != "") {
				t.Fatalf("a deny must be read-only with no path: %+v", v)
			}
			if c.allow && v.ReadOnly != c.readonly {
				t.Errorf("readonly = %v, want %v (%s)", v.ReadOnly, c.readonly, v.Reason)
			}
			if c.hostPath != "" && v.HostPath != c.hostPath {
				t.Errorf("hostPath = %q, want %q", v.HostPath, c.hostPath)
			}
			if c.cpath != "" && v.ContainerPath != c.cpath {
				t.Errorf("containerPath = %q, want %q", v.ContainerPath, c.cpath)
			}
			if !strings.Contains(v.Reason, c.reason) {
				t.Errorf("reason %q does not mention %q", v.Reason, c.reason)
			}
		})
	}
}

func TestAllowlistStates(t *testing.T) {
	f := fixture(t)
	g := New(f)
	req := protocol.MountRequest{IsMain: true, HostPath: "~/projects/app", ReadOnly: true}
	cases := []struct {
		name   string
		set    func()
		allow  bool
		reason string
	}{
		{"valid", func() {
			f.setAllowlist(`{"allowedRoots":[{"path":"~/projects"}],"blockedPatterns":[],"nonMainReadOnly":false}`)
		}, true, ""},
		{"no config at all", func() { f.ok = false; f.version++ }, false, "no mount allowlist"},
		{"missing file", func() { f.ok = true; f.doc.Exists = false; f.doc.Content = nil; f.version++ }, false, "no mount allowlist at"},
		{"unreadable file", func() { f.doc.Exists = false; f.doc.Error = "permission denied"; f.version++ }, false, "cannot be read"},
		{"not JSON", func() { f.setAllowlist(`{allowedRoots:`); f.doc.Error = "" }, false, "not JSON"},
		{"the invalid file was logged", func() {
			if len(f.logged) == 0 || !strings.Contains(f.logged[len(f.logged)-1], "not JSON") {
				t.Errorf("invalid allowlist not logged: %q", f.logged)
			}
		}, false, "not JSON"},
		{"roots not an array", func() { f.setAllowlist(`{"allowedRoots":"~/projects","blockedPatterns":[],"nonMainReadOnly":true}`) }, false, "allowedRoots"},
		{"nonMainReadOnly not boolean", func() { f.setAllowlist(`{"allowedRoots":[],"blockedPatterns":[],"nonMainReadOnly":"yes"}`) }, false, "nonMainReadOnly"},
		{"pattern not a string", func() { f.setAllowlist(`{"allowedRoots":[],"blockedPatterns":[1],"nonMainReadOnly":true}`) }, false, "blockedPatterns"},
		{"root without path", func() {
			f.setAllowlist(`{"allowedRoots":[{"allowReadWrite":true}],"blockedPatterns":[],"nonMainReadOnly":true}`)
		}, false, "path"},
		{"empty roots", func() { f.setAllowlist(`{"allowedRoots":[],"blockedPatterns":[],"nonMainReadOnly":true}`) }, false, "allowed: none"},
		{"fixed again", func() {
			f.setAllowlist(`{"allowedRoots":[{"path":"~/projects"}],"blockedPatterns":[],"nonMainReadOnly":true}`)
		}, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.set()
			v := g.Decide(&req)
			if v.Allow != c.allow || !strings.Contains(v.Reason, c.reason) {
				t.Fatalf("verdict %+v, want allow=%v reason containing %q", v, c.allow, c.reason)
			}
		})
	}
}

func TestDefaultPatternsAlwaysBlocked(t *testing.T) {
	f := fixture(t)
	f.setAllowlist(`{"allowedRoots":[{"path":"~/projects"}],"blockedPatterns":[],"nonMainReadOnly":false}`)
	g := New(f)
	for _, p := range DefaultBlockedPatterns {
		dir := filepath.Join(f.home, "projects", "x"+p+"x")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if v := g.Decide(&protocol.MountRequest{IsMain: true, HostPath: dir, ReadOnly: true}); v.Allow {
			t.Errorf("%s not blocked: %+v", p, v)
		}
	}
}
