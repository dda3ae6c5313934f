// Command fuzzplugin fuzzes a plugin build nobody here wrote against its kind's invariants
// (package invariants) and, when it breaks one, says what went wrong, on which input, and
// how to reproduce it. It is what `make fuzz PLUGIN=any.wasm KIND=mount` runs.
//
//	go run ./host/plugin/invariants/fuzzplugin -plugin any.wasm -kind route [-fuzztime 60s] [-dir DIR]
//
// Why not `go test -fuzz` in the invariants package directly: Go writes a failing input to
// testdata/fuzz/ under the test's working directory, which is the package's source — a
// third-party plugin's crashers would land in this project's tree, and be replayed against
// the default plugins by every `go test` after. Its re-run hint also lacks the environment
// that selects the plugin. So the invariants test binary is built once into a work
// directory under the user's cache (os.UserCacheDir()/nanoclaw/fuzz/<kind>-<hash>, which
// honours $XDG_CACHE_HOME) and run there, with the package's seed corpus copied beside it;
// failing inputs stay there, and the printed command reproduces one exactly. A plugin's
// earlier crashers in that directory are replayed first on the next run.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// invariantsPkg is the package whose fuzz targets check plugins.
const invariantsPkg = "github.com/nanoclaw/nanoclaw-go/host/plugin/invariants"

// targetFor is the fuzz target checking plugins of kind.
func targetFor(kind string) (string, bool) {
	switch kind {
	case "mount":
		return "FuzzMount", true
	case "ipc":
		return "FuzzIPC", true
	case "route":
		return "FuzzRoute", true
	}
	return "", false
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command; it returns the exit status: 0 no invariant broken, 1 one broken
// (reported), 2 a usage or internal error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fuzzplugin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wasm := fs.String("plugin", "", "the plugin's .wasm (its manifest beside it, if any, is used)")
	kind := fs.String("kind", "", "mount, ipc or route")
	fuzztime := fs.String("fuzztime", "60s", "how long to fuzz (go test's -fuzztime)")
	dir := fs.String("dir", "", "work directory (default: the user's cache dir, nanoclaw/fuzz/<kind>-<hash>)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "fuzzplugin:", err)
		return 2
	}
	target, ok := targetFor(*kind)
	if !ok || *wasm == "" || fs.NArg() != 0 {
		return fail(errors.New("usage: fuzzplugin -plugin FILE.wasm -kind mount|ipc|route [-fuzztime 60s] [-dir DIR]"))
	}
	s, err := setup(ctx, *wasm, *kind, target, *dir, stderr)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "fuzzing %s (%s) for %s in %s\n", s.plugin, *kind, *fuzztime, s.dir)
	out, err := s.test(ctx, stdout, "-test.run", "^$", "-test.fuzz", "^"+target+"$", "-test.fuzztime", *fuzztime,
		"-test.fuzzcachedir", filepath.Join(s.dir, "cache"))
	if err == nil {
		fmt.Fprintf(stdout, "no invariant broken: %s\n", lastLine(out, "fuzz: elapsed"))
		return 0
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return fail(err)
	}
	f, ok := parseFailure(out, target)
	if !ok {
		return fail(fmt.Errorf("the fuzz run failed without naming an input: %w", err))
	}
	return s.report(ctx, stdout, f)
}

// session is one plugin's work directory with the test binary built into it.
type session struct {
	plugin, kind, target string
	dir, binary          string
	env                  []string
}

// setup makes the work directory, builds the invariants test binary into it and copies the
// package's seed corpus for target beside it.
func setup(ctx context.Context, wasm, kind, target, dir string, stderr io.Writer) (*session, error) {
	plugin, err := filepath.Abs(wasm)
	if err != nil {
		return nil, err
	}
	content, err := os.ReadFile(plugin)
	if err != nil {
		return nil, fmt.Errorf("plugin: %w", err)
	}
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("no cache directory for the work directory (give -dir): %w", err)
		}
		sum := sha256.Sum256(content)
		dir = filepath.Join(cache, "nanoclaw", "fuzz", kind+"-"+hex.EncodeToString(sum[:6]))
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	seeds := filepath.Join(dir, "testdata", "fuzz", target)
	if err := os.MkdirAll(seeds, 0o700); err != nil {
		return nil, err
	}
	s := &session{plugin: plugin, kind: kind, target: target, dir: dir, binary: filepath.Join(dir, "invariants.test"),
		env: []string{"NANOCLAW_FUZZ_PLUGIN=" + plugin, "NANOCLAW_FUZZ_KIND=" + kind}}
	// -fuzz builds the package with the coverage instrumentation that guides the fuzzer.
	build := exec.CommandContext(ctx, "go", "test", "-c", "-fuzz", "^"+target+"$", "-o", s.binary, invariantsPkg)
	build.Stdout, build.Stderr = stderr, stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build the invariants test binary: %w", err)
	}
	pkgDir, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.Dir}}", invariantsPkg).Output()
	if err != nil {
		return nil, fmt.Errorf("find the invariants package: %w", err)
	}
	return s, copySeeds(filepath.Join(strings.TrimSpace(string(pkgDir)), "testdata", "fuzz", target), seeds)
}

// copySeeds copies the package's seed corpus files into dst, keeping what dst already has
// (this plugin's earlier failing inputs).
func copySeeds(src, dst string) error {
	entries, err := os.ReadDir(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// test runs the test binary in the work directory with the plugin's environment, echoing
// its output to w, and returns the output.
func (s *session) test(ctx context.Context, w io.Writer, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.binary, args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), s.env...)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(w, &out)
	cmd.Stderr = cmd.Stdout
	err := cmd.Run()
	return out.String(), err
}

// failure is what a failed fuzz run found.
type failure struct {
	name    string // the corpus entry: a file name under testdata/fuzz/<target>, or seed#N
	file    string // its path, when it is a file
	message string // what the test said: the broken invariant or the fault, and the request
}

var (
	writtenRe = regexp.MustCompile(`Failing input written to (\S+)`)
	seedRe    = regexp.MustCompile(`failure while testing seed corpus entry: (Fuzz\w+)/(\S+)`)
)

// parseFailure finds the failing input and the test's own message in go test's output.
func parseFailure(out, target string) (failure, bool) {
	var f failure
	if m := writtenRe.FindStringSubmatch(out); m != nil {
		f.name = filepath.Base(m[1])
	} else if m := seedRe.FindStringSubmatch(out); m != nil && m[1] == target {
		f.name = m[2]
	} else {
		return f, false
	}
	f.message = failureMessage(out)
	return f, true
}

// failureMessage is the text under the innermost "--- FAIL" line, up to go test's own
// footer: what the fuzz target reported.
func failureMessage(out string) string {
	lines := strings.Split(out, "\n")
	start := -1
	for i, l := range lines {
		if strings.Contains(l, "--- FAIL:") {
			start = i + 1
		}
	}
	if start < 0 {
		return ""
	}
	var msg []string
	for _, l := range lines[start:] {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "Failing input written to") || t == "FAIL" || strings.HasPrefix(t, "To re-run:") {
			break
		}
		msg = append(msg, t)
	}
	return strings.Join(msg, "\n")
}

// reproduction is the shell command that runs the failing input again.
func (s *session) reproduction(f failure) string {
	return fmt.Sprintf("cd %s && %s %s ./invariants.test -test.run '^%s/%s$' -test.v",
		shellQuote(s.dir), shellQuote(s.env[0]), shellQuote(s.env[1]), s.target, regexp.QuoteMeta(f.name))
}

// report prints what broke, on which input and how to reproduce it, after checking that the
// reproduction does fail the same way.
func (s *session) report(ctx context.Context, w io.Writer, f failure) int {
	if f.file == "" {
		if p := filepath.Join(s.dir, "testdata", "fuzz", s.target, f.name); fileExists(p) {
			f.file = p
		}
	}
	fmt.Fprintf(w, "\nFAIL: %s (%s) broke an invariant of its kind:\n%s\n", s.plugin, s.kind, indent(f.message))
	if f.file != "" {
		content, _ := os.ReadFile(f.file)
		fmt.Fprintf(w, "failing input: %s\n%s", f.file, indent(string(content)))
	} else {
		fmt.Fprintf(w, "failing input: %s/%s (a seed of the fuzz target)\n", s.target, f.name)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := s.test(rctx, io.Discard, "-test.run", "^"+s.target+"/"+regexp.QuoteMeta(f.name)+"$")
	again := failureMessage(out)
	switch {
	case err == nil:
		fmt.Fprintf(w, "the input passes when run again on its own (a flaky plugin, or one whose state carried over)\n")
	case firstLine(again) == firstLine(f.message):
		fmt.Fprintf(w, "reproduced: the input fails the same way when run on its own\n")
	default:
		fmt.Fprintf(w, "run on its own, the input fails differently:\n%s\n", indent(again))
	}
	fmt.Fprintf(w, "reproduce with:\n  %s\n", s.reproduction(f))
	return 1
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// lastLine returns the last line of out that starts with prefix.
func lastLine(out, prefix string) string {
	last := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			last = strings.TrimSpace(l)
		}
	}
	return last
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
