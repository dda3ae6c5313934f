package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
)

// memoryScript is what an agent does with its memory and home: append to the CLAUDE.md the
// host created, keep a session file.
const memoryScript = `
echo "id=$(id -u):$(id -g) home=$HOME"
echo "- remembered by the agent" >> /workspace/group/CLAUDE.md && echo "memory: appended"
mkdir -p "$HOME/.nanoclaw/sessions" && echo '{}' > "$HOME/.nanoclaw/sessions/s1.json" && echo "home: writable"
`

// TestAgentWritesAsOwner runs a real container as the computed user and checks that the
// agent can append to the CLAUDE.md the host created and write in its home. The root-host
// case is the real one (1000:1000, prepared by chown); a host running as uid 4242 is
// simulated by the root test process preparing everything for 4242:4242, as such a host
// would by creating it.
func TestAgentWritesAsOwner(t *testing.T) {
	d := docker(t)
	if os.Geteuid() != 0 {
		t.Skip("preparing ownership for another uid needs root")
	}
	ctx := context.Background()
	cases := []struct {
		name  string
		owner agentfs.Owner
	}{
		{"root host: 1000:1000", agentfs.OwnerFor(0, 0)},
		{"non-root host: its own uid 4242", agentfs.Owner{UID: 4242, GID: 4242, Chown: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := layoutAs(t, c.owner)
			spec, err := BuildSpec(ctx, l, RunSpec{Folder: "family", SocketDir: sockDir(t, l, "family"), Image: testImage, Now: time.Now()}, allowAll{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res, err := l.Agent.CreateMemory("family", []byte("# Memory\n")); err != nil || res != agentfs.MemoryCreated {
				t.Fatalf("CreateMemory = %v, %v", res, err)
			}
			spec.Entrypoint = []string{"/bin/sh", "-c", memoryScript}
			stdout, stderr, code := runScript(t, d, spec)
			want := []string{fmt.Sprintf("id=%d:%d home=/home/node", c.owner.UID, c.owner.GID), "memory: appended", "home: writable"}
			for _, w := range want {
				if !strings.Contains(stdout, w) {
					t.Errorf("missing %q; exit %d\nstdout: %s\nstderr: %s", w, code, stdout, stderr)
				}
			}
			b, err := os.ReadFile(filepath.Join(l.ProjectRoot, "groups", "family", "CLAUDE.md"))
			if err != nil || string(b) != "# Memory\n- remembered by the agent\n" {
				t.Errorf("CLAUDE.md on the host: %q, %v", b, err)
			}
			fi, err := os.Lstat(filepath.Join(l.ProjectRoot, "data", "sessions", "family", ".nanoclaw", "sessions", "s1.json"))
			if err != nil {
				t.Fatalf("the session file is not on the host: %v", err)
			}
			if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != c.owner.UID {
				t.Errorf("the session file belongs to uid %d, want %d", st.Uid, c.owner.UID)
			}
		})
	}
}

// runScript starts spec, closes its stdin and returns what it printed and its exit code.
func runScript(t *testing.T, d *Docker, spec Spec) (stdout, stderr string, code int64) {
	t.Helper()
	ctx := context.Background()
	p, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Stdin.Close()
	var out, errOut bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&errOut, p.Stderr); close(done) }()
	_, _ = io.Copy(&out, p.Stdout)
	<-done
	code, err = p.Wait()
	if err != nil {
		t.Fatalf("wait: %v\nstdout: %s\nstderr: %s", err, out.String(), errOut.String())
	}
	return out.String(), errOut.String(), code
}
