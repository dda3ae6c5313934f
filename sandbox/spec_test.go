package sandbox

import (
	"context"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
)

func TestContainerName(t *testing.T) {
	at := time.UnixMilli(1732540000123)
	for folder, want := range map[string]string{
		"main":           "nanoclaw-main-1732540000123",
		"whatsapp_fam-1": "nanoclaw-whatsapp-fam-1-1732540000123",
		"a;rm -rf $(x)":  "nanoclaw-a-rm--rf---x--1732540000123",
	} {
		if got := ContainerName(folder, at); got != want {
			t.Errorf("ContainerName(%q) = %q, want %q", folder, got, want)
		}
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
