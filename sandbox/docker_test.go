package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// testImage is a FROM-scratch image with busybox and the agent user: what the minimal
// agent image holds, minus the runner. No registry is needed to build it.
const testImage = "nanoclaw-sandbox-test:latest"

// docker returns a runtime, skipping when no engine answers — unless
// NANOCLAW_REQUIRE_DOCKER=1 (CI), where a missing engine fails the test.
func docker(t *testing.T) *Docker {
	t.Helper()
	required := os.Getenv("NANOCLAW_REQUIRE_DOCKER") == "1"
	d, err := NewDocker()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = d.Ping(ctx)
	}
	if err != nil {
		if required {
			t.Fatalf("NANOCLAW_REQUIRE_DOCKER=1 but: %v", err)
		}
		t.Skipf("no container engine: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	buildTestImage(t, d)
	return d
}

func buildTestImage(t *testing.T, d *Docker) {
	t.Helper()
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("the test image needs Debian's busybox-static (/bin/busybox): %v", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	add("Dockerfile", 0o644, []byte("FROM scratch\nCOPY busybox /bin/busybox\nCOPY passwd /etc/passwd\nCOPY group /etc/group\n"+
		"RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nUSER 1000:1000\nENTRYPOINT [\"/bin/sh\"]\n"))
	add("busybox", 0o755, busybox)
	add("passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\n"))
	add("group", 0o644, []byte("root:x:0:\nnode:x:1000:\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := d.Client().ImageBuild(context.Background(), &buf, client.ImageBuildOptions{Tags: []string{testImage}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatalf("build test image: %v", err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if bytes.Contains(out, []byte(`"error"`)) {
		t.Fatalf("build test image: %s", out)
	}
}

// allowAll stands in for the mount plugin: it allows the extra mount it is asked for, as
// read-only, at a path the test chose.
type allowAll struct{ real string }

func (a allowAll) DecideMount(_ context.Context, req *protocol.MountRequest) plugin.MountDecision {
	if strings.Contains(req.HostPath, "denied") {
		return plugin.MountDecision{MountVerdict: protocol.MountVerdict{Reason: "test denies"}, DecidedBy: "test"}
	}
	return plugin.MountDecision{MountVerdict: protocol.MountVerdict{Allow: true, ReadOnly: true, HostPath: a.real, ContainerPath: PathExtra + "/" + req.ContainerPath}}
}

// layout is a fresh project for agents running as this host's computed user (under root:
// 1000:1000, prepared by chown).
func layout(t testing.TB) Layout {
	t.Helper()
	return layoutAs(t, agentfs.OwnerFor(os.Getuid(), os.Getgid()))
}

// layoutAs is a fresh project whose agents run as owner.
func layoutAs(t testing.TB, owner agentfs.Owner) Layout {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"groups/global", "groups/other", "store", "data", "src"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{".env": "ANTHROPIC_API_KEY=sk-real-secret", "store/creds.json": "whatsapp", "groups/other/secret.txt": "other group", "src/main.go": "package main"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	afs, err := agentfs.New(root, owner, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Layout{ProjectRoot: root, DataDir: filepath.Join(root, "data"), Agent: afs}
}

// sockDir makes the directory a group's agent socket lives in, for runs that need no
// socket; it returns the directory, as agentsock.Server.Listen does.
func sockDir(t testing.TB, l Layout, folder string) string {
	t.Helper()
	dir := filepath.Join(l.DataDir, "agents", folder)
	if err := os.MkdirAll(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	return dir
}

// escapeScript tries to leave the sandbox; every line prints what happened.
const escapeScript = `
echo "uid=$(id -u) gid=$(id -g)"
touch /workspace/project/x 2>/dev/null && echo "project: WRITABLE" || echo "project: read-only"
touch /etc/x 2>/dev/null && echo "root: WRITABLE" || echo "root: read-only"
cat /workspace/project/.env 2>/dev/null | grep -q secret && echo "env: LEAKED" || echo "env: hidden"
ls /workspace/project/store 2>/dev/null | grep -q creds && echo "store: LEAKED" || echo "store: hidden"
cat /workspace/group/../other/secret.txt 2>/dev/null && echo "other group: READ" || echo "other group: unreachable"
grep -q "^CapEff:.*0000000000000000" /proc/self/status && echo "caps: none" || echo "caps: SOME"
grep -q "^NoNewPrivs:.*1" /proc/self/status && echo "nnp: on" || echo "nnp: OFF"
ls /sys/class/net | tr '\n' ' ' | grep -qx "lo " && echo "net: lo only" || echo "net: $(ls /sys/class/net)"
wget -T 2 -q -O /dev/null http://1.1.1.1/ 2>/dev/null && echo "connect: SUCCEEDED" || echo "connect: failed"
su -c true root 2>/dev/null && echo "su: ROOT" || echo "su: refused"
echo hello > /workspace/group/out.txt && echo "group: writable"
echo x > /tmp/x && echo "tmp: writable"
touch /workspace/extra/shared/x 2>/dev/null && echo "extra: WRITABLE" || echo "extra: read-only"
read line; echo "stdin: $line"
echo "to stderr" >&2
`

func TestDockerRun(t *testing.T) {
	d := docker(t)
	ctx := context.Background()
	for _, isMain := range []bool{true, false} {
		name := map[bool]string{true: "main", false: "family"}[isMain]
		t.Run(name, func(t *testing.T) {
			l := layout(t)
			shared := t.TempDir()
			if err := os.Chmod(shared, 0o755); err != nil {
				t.Fatal(err)
			}
			spec, err := BuildSpec(ctx, l, RunSpec{Folder: name, IsMain: isMain, SocketDir: sockDir(t, l, name), Image: testImage, TZ: "Europe/London", Now: time.Now(),
				Extra: []ExtraMount{{HostPath: "~/shared", ContainerPath: "shared", ReadOnly: true}, {HostPath: "~/denied", ContainerPath: "nope"}}},
				allowAll{real: shared}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer spec.Pinned.Close()
			spec.Entrypoint = []string{"/bin/sh", "-c", escapeScript}
			p, err := d.Start(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			// The extra mount is pinned, and the engine reports the process to verify it by.
			if spec.Pinned.Len() != 1 || p.PID <= 0 {
				t.Fatalf("pinned %d, pid %d", spec.Pinned.Len(), p.PID)
			}
			if err := VerifyMounts(p.PID, spec); err != nil {
				t.Fatal(err)
			}
			info, err := d.Inspect(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			assertSettings(t, info, spec, isMain, l, shared)
			if _, err := io.WriteString(p.Stdin, `{"prompt":"hi"}`+"\n"); err != nil {
				t.Fatal(err)
			}
			_ = p.Stdin.Close()
			var stdout, stderr bytes.Buffer
			done := make(chan struct{})
			go func() { _, _ = io.Copy(&stderr, p.Stderr); close(done) }()
			_, _ = io.Copy(&stdout, p.Stdout)
			<-done
			t.Logf("stdout:\n%s", stdout.String())
			code, err := p.Wait()
			if err != nil || code != 0 {
				t.Fatalf("exit %d, %v\nstdout: %s\nstderr: %s", code, err, stdout.String(), stderr.String())
			}
			o := l.Agent.Owner()
			want := []string{fmt.Sprintf("uid=%d gid=%d", o.UID, o.GID), "root: read-only", "caps: none", "nnp: on", "net: lo only", "connect: failed", "su: refused", "other group: unreachable",
				"group: writable", "tmp: writable", "extra: read-only", `stdin: {"prompt":"hi"}`}
			if isMain {
				want = append(want, "project: read-only", "env: hidden", "store: hidden")
			}
			for _, w := range want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("missing %q in:\n%s", w, stdout.String())
				}
			}
			if strings.Contains(stdout.String(), "to stderr") || !strings.Contains(stderr.String(), "to stderr") {
				t.Errorf("stdout and stderr not separated: %q / %q", stdout.String(), stderr.String())
			}
			if b, err := os.ReadFile(filepath.Join(l.ProjectRoot, "groups", name, "out.txt")); err != nil || string(b) != "hello\n" {
				t.Errorf("group file on the host: %q, %v", b, err)
			}
			// Auto-remove: wait for the engine to report the container gone.
			gone := d.Client().ContainerWait(ctx, p.ID, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
			select {
			case <-gone.Result:
			case err := <-gone.Error:
				if !strings.Contains(err.Error(), "No such container") {
					t.Fatalf("waiting for removal: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("container not removed")
			}
		})
	}
}

func assertSettings(t *testing.T, info container.InspectResponse, spec Spec, isMain bool, l Layout, shared string) {
	t.Helper()
	h := info.HostConfig
	checks := []struct {
		what string
		ok   bool
	}{
		{"read-only root", h.ReadonlyRootfs},
		{"auto-remove", h.AutoRemove},
		{"no network", string(h.NetworkMode) == "none"},
		{"all capabilities dropped", slices.Equal(h.CapDrop, []string{"ALL"}) && len(h.CapAdd) == 0},
		{"no-new-privileges", slices.Contains(h.SecurityOpt, "no-new-privileges:true")},
		{"not privileged", !h.Privileged},
		{"pids limit", h.PidsLimit != nil && *h.PidsLimit == spec.Limits.Pids},
		{"memory limit", h.Memory == spec.Limits.MemoryBytes},
		{"cpu limit", h.NanoCPUs == spec.Limits.NanoCPUs},
		{"user", info.Config.User == l.Agent.Owner().User() && (os.Getuid() != 0 || info.Config.User == "1000:1000")},
		{"labels", info.Config.Labels[LabelManaged] == "true" && info.Config.Labels[LabelGroup] == spec.Labels[LabelGroup] &&
			info.Config.Labels[LabelInstance] == Instance(l.ProjectRoot)},
		{"TZ and HOME only", slices.Contains(info.Config.Env, "TZ=Europe/London") && slices.Contains(info.Config.Env, "HOME=/home/node") &&
			!slices.ContainsFunc(info.Config.Env, func(e string) bool { return strings.HasPrefix(e, "ANTHROPIC") })},
		{"name", strings.TrimPrefix(info.Name, "/") == spec.Name},
		{"tmp is exec tmpfs", strings.Contains(h.Tmpfs["/tmp"], "exec")},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("container setting %q not as required: %+v", c.what, h)
		}
	}
	type m struct {
		src string
		rw  bool
	}
	got := map[string]m{}
	for _, mp := range info.Mounts {
		got[mp.Destination] = m{mp.Source, mp.RW}
	}
	folder := spec.Labels[LabelGroup]
	want := map[string]m{
		PathGroup:             {filepath.Join(l.ProjectRoot, "groups", folder), true},
		PathGlobal:            {filepath.Join(l.ProjectRoot, "groups", "global"), isMain},
		PathHome:              {filepath.Join(l.DataDir, "sessions", folder), true},
		PathSocket:            {filepath.Join(l.DataDir, "agents", folder), false},
		PathExtra + "/shared": {shared, false},
	}
	if isMain {
		want[PathProject] = m{l.ProjectRoot, false}
		want[PathProject+"/.env"] = m{"/dev/null", false}
	}
	for dst, w := range want {
		g, ok := got[dst]
		if !ok || g != w {
			t.Errorf("mount %s = %+v (present %v), want %+v", dst, g, ok, w)
		}
	}
	for dst := range got {
		if _, ok := want[dst]; !ok {
			t.Errorf("unexpected mount at %s: %+v", dst, got[dst])
		}
	}
	if isMain {
		for _, hidden := range []string{"/store", "/data"} {
			if _, ok := h.Tmpfs[PathProject+hidden]; !ok {
				t.Errorf("%s%s is not hidden", PathProject, hidden)
			}
		}
	}
	raw, _ := json.Marshal(info)
	if bytes.Contains(raw, []byte("sk-real-secret")) {
		t.Error("the real key appears in the container's configuration")
	}
}

func TestRemoveManaged(t *testing.T) {
	d := docker(t)
	ctx := context.Background()
	l := layout(t)
	spec, err := BuildSpec(ctx, l, RunSpec{Folder: "orphan", SocketDir: sockDir(t, l, "orphan"), Image: testImage, Now: time.Now()}, allowAll{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec.Entrypoint = []string{"/bin/sh", "-c", "read x"} // waits on stdin: an orphan
	p, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	n, err := d.RemoveManaged(ctx, Instance(l.ProjectRoot))
	if err != nil || n != 1 {
		t.Fatalf("RemoveManaged = %d, %v", n, err)
	}
	if _, err := p.Wait(); err != nil && !strings.Contains(err.Error(), "No such container") {
		t.Logf("wait after removal: %v", err)
	}
}

// TestCheckImage: a missing agent image is reported with how to build it.
func TestCheckImage(t *testing.T) {
	d := docker(t)
	ctx := context.Background()
	if err := d.CheckImage(ctx, testImage); err != nil {
		t.Fatalf("present image: %v", err)
	}
	err := d.CheckImage(ctx, "nanoclaw-no-such-image:nope")
	if !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), "make image") {
		t.Fatalf("missing image: %v", err)
	}
}
