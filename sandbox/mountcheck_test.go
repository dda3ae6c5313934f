package sandbox

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/plugins/mountguard/mountpolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

func idOf(t testing.TB, p string) FileID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return FileID{Dev: uint64(st.Dev), Ino: st.Ino}
}

// TestPinDir: a pin is the directory itself, never something reached through a symlink.
func TestPinDir(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{"real/sub", "other"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(base, "real"), filepath.Join(base, "leaf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(base, "mid")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		err  string // "" means pinned
	}{
		{filepath.Join(base, "real/sub"), ""},
		{filepath.Join(base, "leaf"), "too many levels of symbolic links"},
		{filepath.Join(base, "mid/sub"), "too many levels of symbolic links"},
		{filepath.Join(base, "file"), "not a directory"},
		{filepath.Join(base, "missing"), "no such file"},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			f, id, err := pinDir(c.path)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("pinDir(%s) = %v, want an error saying %q", c.path, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if want := idOf(t, c.path); id != want {
				t.Fatalf("pinned %v, the directory is %v", id, want)
			}
		})
	}
}

// TestVerifyMounts checks the verification against this test process standing in for a
// container: its /proc/<pid>/root is the real root, so a mount's target is a real path.
func TestVerifyMounts(t *testing.T) {
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(a, filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	idA, idB := idOf(t, a), idOf(t, b)
	self := os.Getpid()
	mount := func(target string, id *FileID) Mount { return Mount{Source: "/approved", Target: target, Verify: id} }
	cases := []struct {
		name     string
		pid      int
		mounts   []Mount
		err      string // "" means verified
		mismatch bool
	}{
		{"nothing to verify, no pid", 0, []Mount{{Source: a, Target: a}}, "", false},
		{"nothing to verify, any pid", self, []Mount{{Source: a, Target: "/nonexistent"}}, "", false},
		{"to verify, no pid: fail closed", 0, []Mount{mount(a, &idA)}, "did not report the container's process", false},
		{"the approved directory", self, []Mount{mount(a, &idA), mount(b, &idB)}, "", false},
		{"another directory bound", self, []Mount{mount(a, &idA), mount(b, &idA)}, "is not the directory approved", true},
		{"target through a symlink", self, []Mount{mount(filepath.Join(base, "link"), &idA)}, "symbolic links", false},
		{"target missing", self, []Mount{mount(filepath.Join(base, "missing"), &idA)}, "no such file", false},
		{"process gone", gone.Process.Pid, []Mount{mount(a, &idA)}, "open the container's root", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := VerifyMounts(c.pid, Spec{Mounts: c.mounts})
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrMountVerify) || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("VerifyMounts = %v, want ErrMountVerify saying %q", err, c.err)
			}
			var mm *MountMismatchError
			if errors.As(err, &mm) != c.mismatch || (c.mismatch && (mm.Got != idB || mm.Want != idA || mm.Target != b)) {
				t.Fatalf("mismatch report %+v (want one: %v)", mm, c.mismatch)
			}
		})
	}
}

// fakeRuntime starts a "container" that answers its request with one result, and records
// whether it received the request and whether it was killed.
type fakeRuntime struct {
	pid    int
	stdin  atomic.Pointer[[]byte]
	killed atomic.Bool
}

func (f *fakeRuntime) Ping(context.Context) error                         { return nil }
func (f *fakeRuntime) RemoveManaged(context.Context, string) (int, error) { return 0, nil }

func (f *fakeRuntime) Start(_ context.Context, spec Spec) (*Process, error) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		b, err := io.ReadAll(inR)
		f.stdin.Store(&b)
		if err == nil && len(b) > 0 {
			_, _ = io.WriteString(outW, OutputStart+`{"status":"success","result":"ran"}`+OutputEnd)
		}
		_ = outW.Close()
		_ = errW.Close()
	}()
	p := NewProcess(spec.Name, inW, outR, errR,
		func() (int64, error) {
			<-done
			if f.killed.Load() {
				return 137, nil
			}
			return 0, nil
		},
		func(context.Context) error {
			f.killed.Store(true)
			inR.CloseWithError(errors.New("killed"))
			return nil
		})
	p.PID = f.pid
	return p, nil
}

// TestRunVerifiesBeforeRequest: Run checks the mounts between the start and the request; a
// container whose mount cannot be verified is killed and never receives its request.
func TestRunVerifiesBeforeRequest(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	id, otherID := idOf(t, dir), idOf(t, other)
	cases := []struct {
		name   string
		pid    int
		verify *FileID
		err    string // "" means the run gets its request
	}{
		{"no mount to verify, no pid", 0, nil, ""},
		{"verified", os.Getpid(), &id, ""},
		{"swapped", os.Getpid(), &otherID, "is not the directory approved"},
		{"no pid to verify with", 0, &id, "did not report the container's process"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt := &fakeRuntime{pid: c.pid}
			f, _, err := pinDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			pinned := &Pinned{}
			pinned.add(f)
			// The fake's "container" is this process, so the target is the host path itself.
			spec := Spec{Name: "nanoclaw-test-1", Mounts: []Mount{{Source: dir, Target: dir, ReadOnly: true, Verify: c.verify}}, Pinned: pinned}
			logDir := t.TempDir()
			res, err := Run(context.Background(), rt, spec, RunRequest{Prompt: "secret work"}, RunConfig{LogDir: logDir}, nil)
			if pinned.Len() != 0 {
				t.Errorf("%d pinned directories still open after the run", pinned.Len())
			}
			got := rt.stdin.Load()
			if c.err == "" {
				if err != nil || res.Status != "success" || got == nil || !strings.Contains(string(*got), "secret work") {
					t.Fatalf("run %+v, %v; request received: %v", res, err, got != nil)
				}
				return
			}
			if !errors.Is(err, ErrMountVerify) || res.Status != "error" || !strings.Contains(res.Error, c.err) || !strings.Contains(res.Error, dir) {
				t.Fatalf("run %+v, %v: want a failure naming %s and saying %q", res, err, dir, c.err)
			}
			if !rt.killed.Load() {
				t.Error("the container was not killed")
			}
			if got != nil && len(*got) > 0 {
				t.Errorf("the container received its request: %q", *got)
			}
			if log, _ := os.ReadFile(res.LogFile); !strings.Contains(string(log), c.err) {
				t.Errorf("run log lacks the reason:\n%s", log)
			}
		})
	}
}

// guardPolicy is the real mount policy behind sandbox.MountPolicy, resolving as the host's
// path capability does, for a home directory of the test's.
type guardPolicy struct {
	mu    sync.Mutex
	guard *mountpolicy.Guard
}

type osFacts struct {
	home, allowlist string
}

func (f osFacts) Resolve(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = f.home + p[1:]
	}
	return filepath.EvalSymlinks(p)
}

func (f osFacts) Config() (protocol.ConfigDoc, int64, bool) {
	return protocol.ConfigDoc{Name: "mount-allowlist", Exists: true, Content: []byte(f.allowlist)}, 1, true
}

func (f osFacts) Log(string) {}

func (g *guardPolicy) DecideMount(_ context.Context, req *protocol.MountRequest) plugin.MountDecision {
	g.mu.Lock()
	defer g.mu.Unlock()
	return plugin.MountDecision{MountVerdict: g.guard.Decide(req), DecidedBy: "mountguard"}
}

// TestMountSwapRace attacks the gap between the mount decision and the bind on the real
// engine: a goroutine keeps exchanging an allowed directory with a symlink to a fake ~/.ssh
// (renameat2 RENAME_EXCHANGE, atomic) while containers are started with the allowed
// directory mounted. Each container reports the marker file it sees. The fake ~/.ssh must
// never be visible inside a container that received its request; starts where the engine
// bound it must be caught by the verification. The race must be exercised: some starts
// must have been aborted with the fake ~/.ssh found bound.
func TestMountSwapRace(t *testing.T) {
	d := docker(t)
	const wantStarts, workers = 200, 3
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(base, "home")
	allowed, blocked := filepath.Join(home, "projects", "x"), filepath.Join(home, ".ssh")
	swap := filepath.Join(home, "projects", "swap")
	for dir, marker := range map[string]string{allowed: "allowed-marker", blocked: "BLOCKED-SSH-KEY"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "marker"), []byte(marker), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(blocked, swap); err != nil {
		t.Fatal(err)
	}
	blockedID := idOf(t, blocked)
	facts := osFacts{home: home, allowlist: `{"allowedRoots":[{"path":"~/projects","allowReadWrite":false}],"blockedPatterns":[],"nonMainReadOnly":true}`}

	stop := make(chan struct{})
	var swaps atomic.Int64
	swapped := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				swapped <- nil
				return
			default:
			}
			if err := unix.Renameat2(unix.AT_FDCWD, allowed, unix.AT_FDCWD, swap, unix.RENAME_EXCHANGE); err != nil {
				swapped <- err
				return
			}
			swaps.Add(1)
		}
	}()

	var starts, aborted, caught, succeeded, refused atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	script := "read req; m=$(cat /workspace/extra/x/marker 2>&1); echo '" + OutputStart + "'; " +
		`echo "{\"status\":\"success\",\"result\":\"$m\"}"; echo '` + OutputEnd + "'"
	began := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		l := layout(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			policy := &guardPolicy{guard: mountpolicy.New(facts)}
			folder := "swap" + string(rune('a'+w))
			for starts.Load() < wantStarts && ctx.Err() == nil {
				spec, err := BuildSpec(ctx, l, RunSpec{Folder: folder, SocketDir: sockDir(t, l, folder), Image: testImage, Now: time.Now(),
					Extra: []ExtraMount{{HostPath: allowed, ContainerPath: "x", ReadOnly: true}}}, policy, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if spec.Pinned.Len() == 0 { // refused at decision time: the policy or the pin saw the symlink
					refused.Add(1)
					continue
				}
				spec.Entrypoint = []string{"/bin/sh", "-c", script}
				starts.Add(1)
				var seen []string
				res, err := Run(ctx, d, spec, RunRequest{Prompt: "x"}, RunConfig{Timeout: time.Minute}, func(o RunOutput) {
					if o.Result != nil {
						seen = append(seen, *o.Result)
					}
				})
				var mm *MountMismatchError
				switch {
				case errors.As(err, &mm):
					aborted.Add(1)
					if mm.Got == blockedID {
						caught.Add(1)
					}
				case err != nil:
					t.Errorf("run failed otherwise: %v", err)
					return
				case res.Status != "success" || len(seen) != 1 || seen[0] != "allowed-marker":
					if strings.Contains(strings.Join(seen, ""), "BLOCKED") {
						t.Errorf("the blocked directory was mounted into a running container: %q", seen)
					} else {
						t.Errorf("unexpected run: %+v, results %q", res, seen)
					}
					return
				default:
					succeeded.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-swapped; err != nil {
		t.Fatalf("swap loop: %v", err)
	}
	t.Logf("%d container starts in %v with %d swaps: %d succeeded with the allowed directory, %d aborted by verification "+
		"(%d with the fake ~/.ssh bound); %d refused at decision time", starts.Load(), time.Since(began).Round(time.Millisecond),
		swaps.Load(), succeeded.Load(), aborted.Load(), caught.Load(), refused.Load())
	if starts.Load() < wantStarts {
		t.Fatalf("only %d starts before the deadline", starts.Load())
	}
	if caught.Load() == 0 || succeeded.Load() == 0 {
		t.Errorf("the race was not exercised both ways: %d aborted with the blocked directory bound, %d succeeded", caught.Load(), succeeded.Load())
	}
}
