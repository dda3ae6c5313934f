package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nanoclaw/nanoclaw-go/host/agentfs"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

func TestContainerName(t *testing.T) {
	at := time.UnixMilli(1732540000123)
	for folder, want := range map[string]string{
		"main":           "nanoclaw-main-1732540000123-",
		"whatsapp_fam-1": "nanoclaw-whatsapp-fam-1-1732540000123-",
		"a;rm -rf $(x)":  "nanoclaw-a-rm--rf---x--1732540000123-",
	} {
		got := ContainerName(folder, at)
		if !strings.HasPrefix(got, want) || len(got) != len(want)+4 || strings.Trim(got[len(want):], "0123456789abcdef") != "" {
			t.Errorf("ContainerName(%q) = %q, want %q and 4 hex digits", folder, got, want)
		}
	}
	if ContainerName("main", at) == ContainerName("main", at) && ContainerName("main", at) == ContainerName("main", at) {
		t.Error("two starts in one millisecond got the same name (three times)")
	}
}

func TestBuildSpecRefusesDeniedExtraMounts(t *testing.T) {
	l := layout(t)
	s, err := BuildSpec(context.Background(), l, RunSpec{Folder: "family", SocketDir: sockDir(t, l, "family"), Now: time.Now(),
		Extra: []ExtraMount{{HostPath: "/x/denied", ContainerPath: "d"}}}, allowAll{real: "/x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range s.Mounts {
		if strings.HasPrefix(m.Target, PathExtra) || m.Target == PathProject {
			t.Errorf("non-main spec has %s", m.Target)
		}
	}
	if s.Image != DefaultImage || s.User != l.Agent.Owner().User() || s.Limits != DefaultLimits() {
		t.Errorf("defaults not applied: %+v", s)
	}
	if _, err := BuildSpec(context.Background(), l, RunSpec{Folder: "family", Now: time.Now()}, allowAll{}, nil); err == nil {
		t.Error("a spec without the group's agent socket was built")
	}
}

func TestValidate(t *testing.T) {
	base := func() Spec {
		return Spec{Name: "n", Labels: map[string]string{LabelManaged: "true", LabelGroup: "g"}, Mounts: []Mount{{Source: "/a", Target: "/b"}}}
	}
	cases := []struct {
		name string
		mod  func(*Spec)
		ok   bool
	}{
		{"valid", func(*Spec) {}, true},
		{"relative source", func(s *Spec) { s.Mounts[0].Source = "a" }, false},
		{"relative target", func(s *Spec) { s.Mounts[0].Target = "b" }, false},
		{"duplicate target", func(s *Spec) { s.Mounts = append(s.Mounts, Mount{Source: "/c", Target: "/b"}) }, false},
		{"no labels", func(s *Spec) { s.Labels = nil }, false},
	}
	for _, c := range cases {
		s := base()
		c.mod(&s)
		if err := s.validate(); (err == nil) != c.ok {
			t.Errorf("%s: validate() = %v", c.name, err)
		}
	}
}

// TestBuildSpecUser: the container runs as the computed owner, with HOME set explicitly (the
// image's passwd knows only uid 1000), and the group folder and session store are the
// owner's before the container starts.
func TestBuildSpecUser(t *testing.T) {
	cases := []struct {
		name  string
		owner agentfs.Owner
		user  string
	}{
		{"root host", agentfs.OwnerFor(0, 0), "1000:1000"},
		{"non-root host, simulated by root", agentfs.Owner{UID: 4242, GID: 4343, Chown: true}, "4242:4343"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("preparing ownership for another uid needs root")
			}
			l := layoutAs(t, c.owner)
			s, err := BuildSpec(context.Background(), l, RunSpec{Folder: "family", SocketDir: sockDir(t, l, "family"), Now: time.Now()}, allowAll{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.User != c.user || !slices.Contains(s.Env, "HOME="+PathHome) {
				t.Errorf("user %q env %q, want %q with HOME", s.User, s.Env, c.user)
			}
			for _, dir := range []string{l.Agent.GroupDir("family"), l.Agent.SessionDir("family")} {
				fi, err := os.Lstat(dir)
				if err != nil {
					t.Fatal(err)
				}
				if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != c.owner.UID || int(st.Gid) != c.owner.GID {
					t.Errorf("%s is owned by %d:%d, want %s", dir, st.Uid, st.Gid, c.user)
				}
			}
		})
	}
	if _, err := BuildSpec(context.Background(), Layout{ProjectRoot: "/p", DataDir: "/p/data"}, RunSpec{Folder: "family", SocketDir: "/p/data/agents/family"}, allowAll{}, nil); err == nil {
		t.Error("BuildSpec ran without the agent directories")
	}
}

// verdicts is a mount plugin gone wrong: it allows every request with the verdict the test
// gives for its container path.
type verdicts map[string]protocol.MountVerdict

func (v verdicts) DecideMount(_ context.Context, req *protocol.MountRequest) plugin.MountDecision {
	return plugin.MountDecision{MountVerdict: v[req.ContainerPath], DecidedBy: "hostile"}
}

// TestBuildSpecChecksVerdicts: whatever a plugin allows, the host binds only clean absolute
// host paths at clean paths strictly under /workspace/extra that collide with no other
// mount, each pinned with its identity; everything else is refused with a log line.
func TestBuildSpecChecksVerdicts(t *testing.T) {
	l := layout(t)
	good := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(good, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	allow := func(host, container string) protocol.MountVerdict {
		return protocol.MountVerdict{Allow: true, ReadOnly: true, HostPath: host, ContainerPath: container}
	}
	cases := []struct {
		name   string
		v      protocol.MountVerdict
		reason string // "" means bound
	}{
		{"well-formed", allow(good, PathExtra+"/ok"), ""},
		{"nested well-formed", allow(good, PathExtra+"/a/b"), ""},
		{"the group folder", allow(good, PathGroup), "not under /workspace/extra/"},
		{"dotdot out of extra", allow(good, PathExtra+"/../group"), "not a clean absolute path"},
		{"prefix lookalike", allow(good, "/workspace/extraX"), "not under /workspace/extra/"},
		{"prefix lookalike with a child", allow(good, "/workspace/extraX/y"), "not under /workspace/extra/"},
		{"relative", allow(good, "workspace/extra/x"), "not a clean absolute path"},
		{"extra itself", allow(good, PathExtra), "not under /workspace/extra/"},
		{"extra with a slash", allow(good, PathExtra+"/"), "not a clean absolute path"},
		{"trailing slash", allow(good, PathExtra+"/y/"), "not a clean absolute path"},
		{"double slash", allow(good, PathExtra+"//y"), "not a clean absolute path"},
		{"dot segment", allow(good, PathExtra+"/./y"), "not a clean absolute path"},
		{"NUL", allow(good, PathExtra+"/y\x00z"), "NUL"},
		{"home", allow(good, PathHome), "not under /workspace/extra/"},
		{"the same target twice", allow(good, PathExtra+"/ok"), "collides with the mount at /workspace/extra/ok"},
		{"inside an earlier extra mount", allow(good, PathExtra+"/ok/in"), "collides with the mount at /workspace/extra/ok"},
		{"above an earlier extra mount", allow(good, PathExtra+"/a"), "collides with the mount at /workspace/extra/a/b"},
		{"relative host path", allow("tmp/x", PathExtra+"/h1"), "host path \"tmp/x\" is not a clean absolute path"},
		{"unclean host path", allow(good+"/../"+filepath.Base(good), PathExtra+"/h2"), "not a clean absolute path"},
		{"host path with a trailing slash", allow(good+"/", PathExtra+"/h3"), "not a clean absolute path"},
		{"host path through a symlink", allow(link, PathExtra+"/h4"), "without following symlinks"},
		{"host path is a file", allow(file, PathExtra+"/h5"), "not a directory"},
		{"host path missing", allow(good+"/missing", PathExtra+"/h6"), "no such file"},
	}
	policy := verdicts{}
	var extra []ExtraMount
	for i, c := range cases {
		key := strconv.Itoa(i)
		policy[key] = c.v
		extra = append(extra, ExtraMount{HostPath: "~/case-" + key, ContainerPath: key, ReadOnly: true})
	}
	var logs bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn, JSONFormat: true})
	s, err := BuildSpec(context.Background(), l, RunSpec{Folder: "main", IsMain: true, SocketDir: sockDir(t, l, "main"), Now: time.Now(), Extra: extra}, policy, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Pinned.Close()
	bound := map[string]Mount{}
	for _, m := range s.Mounts {
		if m.Verify != nil || strings.HasPrefix(m.Target, PathExtra) {
			bound[m.Target] = m
		}
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var st syscall.Stat_t
	if err := syscall.Stat(good, &st); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.reason == "" {
				m, ok := bound[c.v.ContainerPath]
				if !ok || m.Source != c.v.HostPath || !m.ReadOnly || m.Verify == nil || *m.Verify != (FileID{Dev: uint64(st.Dev), Ino: st.Ino}) {
					t.Fatalf("not bound as allowed and pinned: %+v (mounts %+v)\nlog: %s", m, s.Mounts, logs.String())
				}
				return
			}
			found := false
			for _, line := range lines {
				var entry map[string]any
				if err := json.Unmarshal([]byte(line), &entry); err == nil && entry["host_path"] == "~/case-"+strconv.Itoa(i) &&
					strings.Contains(fmt.Sprint(entry["reason"]), c.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("no log line refusing it with %q:\n%s", c.reason, logs.String())
			}
		})
	}
	if len(bound) != 2 || s.Pinned.Len() != 2 {
		t.Errorf("bound %d extra mounts with %d pinned, want the two well-formed ones: %+v", len(bound), s.Pinned.Len(), bound)
	}
	if len(lines) != len(cases)-2 {
		t.Errorf("%d log lines for %d refusals:\n%s", len(lines), len(cases)-2, logs.String())
	}
}
