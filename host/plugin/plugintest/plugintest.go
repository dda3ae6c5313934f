// Package plugintest builds real plugin modules for tests and benchmarks: Go guests with the
// standard toolchain (GOOS=wasip1, reactor build) and hand-written WebAssembly text, whose
// assembled modules are committed beside it. Outputs go to a per-process directory; Go's
// build cache keeps rebuilds cheap.
package plugintest

//go:generate go run ./watgen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// TB is the part of testing.TB the helpers need, so benchmarks and fuzz targets can use them.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	TempDir() string
}

var (
	mu    sync.Mutex
	built = map[string]string{} // key → output path, per process
	dir   string
)

func outDir() (string, error) {
	if dir != "" {
		return dir, nil
	}
	d, err := os.MkdirTemp("", "nanoclaw-plugintest-")
	if err != nil {
		return "", err
	}
	dir = d
	return d, nil
}

// ModuleRoot finds the repository root (the directory holding go.mod) from the working
// directory of a test.
func ModuleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		d = parent
	}
}

// BuildGo builds the Go package pkg (an import path or a directory relative to the test's
// working directory) as a wasip1 reactor and returns the .wasm path. ldflags may set
// variables (-X) to produce distinguishable builds of one source.
func BuildGo(t TB, pkg string, ldflags string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	key := "go\x00" + pkg + "\x00" + ldflags
	if p, ok := built[key]; ok {
		return p
	}
	d, err := outDir()
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	sum := sha256.Sum256([]byte(key))
	out := filepath.Join(d, filepath.Base(pkg)+"-"+hex.EncodeToString(sum[:4])+".wasm")
	args := []string{"build", "-buildmode=c-shared", "-trimpath", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	args = append(args, pkg)
	cmd := exec.Command(goTool(), args...)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("plugintest: go build %s: %v\n%s", pkg, err, stderr.String())
	}
	built[key] = out
	return out
}

// goTool is the go command that runs the tests: the one on PATH.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// BuildWAT returns the committed .wasm beside a .wat fixture (NAME.wat → NAME.wasm), so tests
// need no wat2wasm; TestWATFixtures checks the two match where wat2wasm is installed, and
// `go generate ./host/plugin/plugintest` reassembles them after a .wat changes.
func BuildWAT(t TB, watPath string) string {
	t.Helper()
	out := WASMFor(watPath)
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("plugintest: %s has no committed %s: run `go generate ./host/plugin/plugintest` (needs Debian's wabt): %v", watPath, filepath.Base(out), err)
	}
	return out
}

// WASMFor is the committed module assembled from the fixture watPath.
func WASMFor(watPath string) string {
	return strings.TrimSuffix(watPath, ".wat") + ".wasm"
}

// WATFixtures lists every .wat file under root (the module root), skipping bin/ and hidden
// directories, in a stable order.
func WATFixtures(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || p == filepath.Join(root, "bin")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".wat") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plugintest: list .wat fixtures: %w", err)
	}
	sort.Strings(out)
	return out, nil
}

// AssembleWAT runs wat2wasm (tool, from Debian's wabt) on watPath and returns the module.
// Every feature is enabled: some fixtures use bulk memory.
func AssembleWAT(ctx context.Context, tool, watPath string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "nanoclaw-wat-")
	if err != nil {
		return nil, fmt.Errorf("plugintest: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "m.wasm")
	if b, err := exec.CommandContext(ctx, tool, "--enable-all", watPath, "-o", out).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("plugintest: wat2wasm %s: %w\n%s", watPath, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("plugintest: read assembled %s: %w", watPath, err)
	}
	return b, nil
}

// Install copies a built module into dir as name.wasm with a manifest name.json built from
// manifest (a JSON-encodable value), the way an operator drops a plugin in. The module is
// written to a temporary name and renamed, so a watcher never sees half a file.
func Install(t TB, dir, name, wasmPath string, manifest any) string {
	t.Helper()
	m, err := json.Marshal(manifest)
	if err != nil {
		t.Fatalf("plugintest: manifest: %v", err)
	}
	if err := WriteAtomic(filepath.Join(dir, name+".json"), m); err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	dst := filepath.Join(dir, name+".wasm")
	if err := WriteAtomic(dst, wasm); err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	return dst
}

// WriteAtomic writes data to path through a temporary file and a rename.
func WriteAtomic(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// CacheDir is a compilation cache directory shared by test runs on this machine, so a
// module is compiled to native code once rather than once per test process (compiling a Go
// guest takes seconds, more under -race). wazero keys entries by module hash and version.
func CacheDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("nanoclaw-wazero-cache-%d", os.Getuid()))
}
