package mountpolicy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

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

// project builds a home with a nanoclaw checkout at ~/code/nanoclaw and its state.
func project(t *testing.T) *osFacts {
	t.Helper()
	home, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{
		"code/nanoclaw/data/ipc/main", "code/nanoclaw/data/proxy/main", "code/nanoclaw/data/sessions/main",
		"code/nanoclaw/data/plugin-cache", "code/nanoclaw/plugins", "code/nanoclaw/store", "code/nanoclaw/groups/main",
		"code/nanoclaw/groups/family", "code/nanoclaw/bin", "code/nanoclaw/.git", "code/nanoclaw/src",
		"code/other", ".config/nanoclaw",
	} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(home, "code/nanoclaw/data"), filepath.Join(home, "code/other/data-link")); err != nil {
		t.Fatal(err)
	}
	return &osFacts{home: home}
}

// setProjectAllowlist installs an allowlist with the protected list the host would send for
// the checkout at ~/code/nanoclaw.
func (f *osFacts) setProjectAllowlist(content string) {
	f.setAllowlist(content)
	root := filepath.Join(f.home, "code/nanoclaw")
	f.doc.ProtectedPaths = []string{root, root + "/data", root + "/store", root + "/plugins", root + "/data/plugin-cache",
		f.home + "/.config/nanoclaw", root + "/groups", root + "/groups/main", root + "/groups/family"}
}

// TestProtectedPaths: the host's own state is refused under an allowed root of ~ or of a
// parent of the project, for main too, equal, inside or containing, and the reason names
// the protected path concerned.
func TestProtectedPaths(t *testing.T) {
	f := project(t)
	root := filepath.Join(f.home, "code/nanoclaw")
	cases := []struct {
		host   string
		reason string // "" means allowed
	}{
		{"~/code/other", ""},
		{"~/code/nanoclaw", "path is a protected nanoclaw path (" + root + ")"},
		{"~/code/nanoclaw/src", "inside a protected nanoclaw path (" + root + ")"},
		{"~/code/nanoclaw/bin", "inside a protected nanoclaw path (" + root + ")"},
		{"~/code/nanoclaw/.git", "inside a protected nanoclaw path (" + root + ")"},
		{"~/code/nanoclaw/data", "path is a protected nanoclaw path (" + root + "/data)"},
		{"~/code/nanoclaw/data/ipc/main", "inside a protected nanoclaw path (" + root + "/data)"},
		{"~/code/nanoclaw/data/proxy", "inside a protected nanoclaw path (" + root + "/data)"},
		{"~/code/nanoclaw/data/sessions", "inside a protected nanoclaw path (" + root + "/data)"},
		{"~/code/nanoclaw/data/plugin-cache", "path is a protected nanoclaw path (" + root + "/data/plugin-cache)"},
		{"~/code/nanoclaw/plugins", "path is a protected nanoclaw path (" + root + "/plugins)"},
		{"~/code/nanoclaw/store", "path is a protected nanoclaw path (" + root + "/store)"},
		{"~/code/nanoclaw/groups", "path is a protected nanoclaw path (" + root + "/groups)"},
		{"~/code/nanoclaw/groups/family", "path is a protected nanoclaw path (" + root + "/groups/family)"},
		{"~/code/nanoclaw/groups/main/", "path is a protected nanoclaw path (" + root + "/groups/main)"},
		{"~/code/other/data-link/ipc", "inside a protected nanoclaw path (" + root + "/data)"},
		{"~/code", "path contains a protected nanoclaw path (" + root + ")"},
		{"~/.config", "path contains a protected nanoclaw path (" + f.home + "/.config/nanoclaw)"},
		{"~", "path contains a protected nanoclaw path (" + root + ")"},
	}
	for _, allow := range []string{"~", "~/code"} {
		f.setProjectAllowlist(`{"allowedRoots":[{"path":"` + allow + `","allowReadWrite":true}],"blockedPatterns":[],"nonMainReadOnly":false}`)
		g := New(f)
		for _, c := range cases {
			if allow == "~/code" && (c.host == "~" || c.host == "~/.config") {
				continue // outside this allowlist's root
			}
			for _, isMain := range []bool{true, false} {
				t.Run(allow+" "+c.host, func(t *testing.T) {
					v := g.Decide(&protocol.MountRequest{Group: "main", IsMain: isMain, HostPath: c.host, ContainerPath: "x", ReadOnly: true})
					if c.reason == "" {
						if !v.Allow {
							t.Fatalf("refused: %s", v.Reason)
						}
						return
					}
					if v.Allow || !strings.Contains(v.Reason, c.reason) {
						t.Fatalf("verdict %+v, want a refusal saying %q", v, c.reason)
					}
				})
			}
		}
	}
}

// TestMostSpecificRoot: the most specific allowed root decides read-write, in any file order.
func TestMostSpecificRoot(t *testing.T) {
	f := fixture(t)
	for _, d := range []string{"a/b/c", "a/d", "same/x"} {
		if err := os.MkdirAll(filepath.Join(f.home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(f.home, "same"), filepath.Join(f.home, "same-link")); err != nil {
		t.Fatal(err)
	}
	rwA, roB := `{"path":"~/a","allowReadWrite":true}`, `{"path":"~/a/b","allowReadWrite":false}`
	rwB, roA := `{"path":"~/a/b","allowReadWrite":true}`, `{"path":"~/a","allowReadWrite":false}`
	rwSame, roSame := `{"path":"~/same","allowReadWrite":true}`, `{"path":"~/same-link","allowReadWrite":false}`
	cases := []struct {
		name     string
		roots    string
		host     string
		readonly bool
		root     string // the root the reason names
	}{
		{"rw parent, ro child: child decides", rwA + "," + roB, "~/a/b/c", true, "~/a/b"},
		{"ro child listed first", roB + "," + rwA, "~/a/b/c", true, "~/a/b"},
		{"the child root itself", rwA + "," + roB, "~/a/b", true, "~/a/b"},
		{"outside the child: parent decides", rwA + "," + roB, "~/a/d", false, "~/a"},
		{"ro parent, rw child: child decides", roA + "," + rwB, "~/a/b/c", false, "~/a/b"},
		{"rw child listed first", rwB + "," + roA, "~/a/b/c", false, "~/a/b"},
		{"outside the rw child: ro parent decides", rwB + "," + roA, "~/a/d", true, "~/a"},
		{"two names for one root: read-only wins", rwSame + "," + roSame, "~/same/x", true, "~/same-link"},
		{"two names for one root, other order", roSame + "," + rwSame, "~/same/x", true, "~/same-link"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.setAllowlist(`{"allowedRoots":[` + c.roots + `],"blockedPatterns":[],"nonMainReadOnly":false}`)
			v := New(f).Decide(&protocol.MountRequest{IsMain: true, HostPath: c.host, ContainerPath: "x", ReadOnly: false})
			if !v.Allow || v.ReadOnly != c.readonly || !strings.Contains(v.Reason, "under "+c.root+" ") && !strings.HasSuffix(v.Reason, "under "+c.root) {
				t.Fatalf("verdict %+v, want allow, readonly=%v, under %s", v, c.readonly, c.root)
			}
		})
	}
}

// reportingFacts also tells what the guard reported about the allowlist file.
type reportingFacts struct {
	*osFacts
	problem string
	reports int
}

func (f *reportingFacts) Problem(msg string) { f.problem, f.reports = msg, f.reports+1 }

// TestAllowlistProblemReported: an invalid or unreadable allowlist is reported as a problem
// naming the file, once per version; a valid file, or none, clears it.
func TestAllowlistProblemReported(t *testing.T) {
	f := &reportingFacts{osFacts: fixture(t)}
	g := New(f)
	req := &protocol.MountRequest{Group: "main", IsMain: true, HostPath: "~/projects/app", ContainerPath: "app", ReadOnly: true}
	steps := []struct {
		name    string
		change  func()
		problem string // substring; "" means no problem
	}{
		{"truncated", func() { f.setAllowlist(`{"allowedRoots":[`) }, "mount-allowlist.json: invalid mount allowlist"},
		{"same version: no new report", func() {}, "every additional mount is refused"},
		{"fixed", func() { f.setAllowlist(`{"allowedRoots":[{"path":"~/projects"}]}`) }, ""},
		{"unreadable", func() { f.doc.Exists, f.doc.Content, f.doc.Error = false, nil, "permission denied"; f.version++ }, "cannot be read (permission denied)"},
		{"removed", func() { f.doc.Error = ""; f.version++ }, ""},
	}
	reports := 0
	for _, s := range steps {
		s.change()
		before := f.reports
		if v := g.Decide(req); s.problem != "" && v.Allow {
			t.Fatalf("%s: allowed %+v", s.name, v)
		}
		if s.name == "same version: no new report" {
			if f.reports != before {
				t.Fatalf("%s: reported again", s.name)
			}
		} else if reports++; f.reports != reports {
			t.Fatalf("%s: %d reports, want %d", s.name, f.reports, reports)
		}
		if (s.problem == "") != (f.problem == "") || !strings.Contains(f.problem, s.problem) {
			t.Fatalf("%s: problem %q, want %q", s.name, f.problem, s.problem)
		}
	}
}

// TestLongPathDenyFitsTheVerdictCap: a deny quoting an agent's long path of control
// characters stays a deny the host can read (under its 16 KiB verdict cap), never a fault.
func TestLongPathDenyFitsTheVerdictCap(t *testing.T) {
	f := fixture(t)
	g := New(f)
	for _, c := range []struct{ name, host string }{
		{"control characters", "\t" + strings.Repeat("\x01", 3838) + "\t"},
		{"under home", "~/" + strings.Repeat("\x01", 3800)},
		{"multibyte at the cut", "~/projects/" + strings.Repeat("é", 1900)},
		{"missing under a root", "~/projects/" + strings.Repeat("a/", 1900)},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := g.Decide(&protocol.MountRequest{Group: "family", HostPath: c.host, ContainerPath: "+", ReadOnly: true})
			if v.Allow || v.Reason == "" {
				t.Fatalf("verdict %+v, want a deny with a reason", v)
			}
			if n := len(v.AppendJSON(nil)); n > 16<<10 {
				t.Fatalf("verdict is %d bytes, over the host's 16 KiB cap", n)
			}
			if !utf8.ValidString(v.Reason) {
				t.Fatalf("reason is not valid UTF-8 after the cut")
			}
		})
	}
}
