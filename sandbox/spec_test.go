package sandbox

import (
	"context"
	"strings"
	"testing"
	"time"
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
	if s.Image != DefaultImage || s.User != AgentUser || s.Limits != DefaultLimits() {
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
