package sandbox

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/sandbox/imagetest"
)

// toolsScript runs in an agent image under a run's real settings and prints one line per
// check; every image has bash. Tools that are missing print "NAME: missing".
const toolsScript = `
echo "uid=$(id -u)"
(echo x > /etc/x) 2>/dev/null && echo "root: WRITABLE" || echo "root: read-only"
(exec 3<>/dev/tcp/1.1.1.1/80) 2>/dev/null && echo "net: CONNECTED" || echo "net: none"
echo ok > "$HOME/probe" && echo "home: writable"
echo ok > /tmp/probe && echo "tmp: writable"
check() { name=$1; shift; out=$("$@" 2>&1) && echo "$name: $out" || echo "$name: missing"; }
check bash bash -c 'echo $((6*7))'
check python3 python3 -c 'import json, sqlite3, csv; print(sum(range(7)))'
check git bash -c 'cd /tmp && git init -q r && cd r && git -c user.name=a -c user.email=a@b commit -q --allow-empty -m m && git log --format=%s'
check rg bash -c 'printf "a\nneedle\n" > /tmp/f && rg -c needle /tmp/f'
check jq bash -c 'echo "{\"a\":[1,2]}" | jq -c ".a|length"'
check sqlite3 sqlite3 :memory: 'select 40+2'
check curl bash -c 'v=$(curl --version) && echo ${v:0:4}'
check certs bash -c 'test -s /etc/ssl/certs/ca-certificates.crt && echo present'
`

// TestAgentImage runs each agent image under the settings of a real run (read-only root, no
// network, no capabilities, the agent's uid) and checks what the agent gets: the minimal
// image has bash and busybox only; the full image has git, python3, ripgrep, jq, sqlite3,
// curl and CA certificates, all usable as the agent's user.
func TestAgentImage(t *testing.T) {
	d := docker(t)
	base := []string{"root: read-only", "net: none", "home: writable", "tmp: writable", "bash: 42"}
	cases := []struct {
		kind    imagetest.Kind
		want    []string
		missing []string
	}{
		{kind: imagetest.Minimal, want: base, missing: []string{"python3", "git", "rg", "jq", "sqlite3", "curl"}},
		{kind: imagetest.Full, want: append(base, "python3: 21", "git: m", "rg: 1", "jq: 2", "sqlite3: 42", "curl: curl", "certs: present")},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			image := agentImage(t, d, c.kind)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			l := layout(t)
			spec, err := BuildSpec(ctx, l, RunSpec{Folder: "tools", SocketDir: sockDir(t, l, "tools"), Image: image, Now: time.Now()}, allowAll{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer spec.Pinned.Close()
			spec.Entrypoint = []string{"/bin/bash", "-c", toolsScript}
			p, err := d.Start(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			_ = p.Stdin.Close()
			var stdout, stderr bytes.Buffer
			done := make(chan struct{})
			go func() { _, _ = io.Copy(&stderr, p.Stderr); close(done) }()
			_, _ = io.Copy(&stdout, p.Stdout)
			<-done
			if code, err := p.Wait(); err != nil || code != 0 {
				t.Fatalf("exit %d, %v\nstdout: %s\nstderr: %s", code, err, stdout.String(), stderr.String())
			}
			out := stdout.String()
			want := append([]string{"uid=" + strings.SplitN(spec.User, ":", 2)[0]}, c.want...)
			for _, m := range c.missing {
				want = append(want, m+": missing")
			}
			for _, w := range want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
		})
	}
}
