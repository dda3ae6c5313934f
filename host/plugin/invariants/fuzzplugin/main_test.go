package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
)

// TestFuzzReportPanickingPlugin is the attack on the report: `make fuzz PLUGIN=` on a
// plugin that panics blamed "circuit breaker open" on an input other than the one that
// panicked, printed a re-run hint without the environment that selects the plugin, and
// wrote the input into this project's source tree. Now the report names the panic and the
// input, the input lives under the user's cache directory, and the printed command run in
// a shell fails with the same panic.
func TestFuzzReportPanickingPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the invariants test binary and fuzzes")
	}
	wasm := plugintest.BuildGo(t, "./testdata/panicky", "")
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(gocache))) // it follows XDG_CACHE_HOME otherwise
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	pkgDir, err := exec.Command("go", "list", "-f", "{{.Dir}}", invariantsPkg).Output()
	if err != nil {
		t.Fatal(err)
	}
	srcCorpus := filepath.Join(strings.TrimSpace(string(pkgDir)), "testdata", "fuzz", "FuzzRoute")
	before := listDir(t, srcCorpus)

	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-plugin", wasm, "-kind", "route", "-fuzztime", "60s"}, &out, &errOut)
	report := out.String()
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, report, errOut.String())
	}
	_, tail, _ := strings.Cut(report, "\nFAIL: ")
	for _, want := range []string{"plugin panic: panicky: a '!' in a long message", `"content":"`, "failing input: " + filepath.Join(cache, "nanoclaw", "fuzz", "route-"),
		"reproduced: the input fails the same way", "NANOCLAW_FUZZ_PLUGIN=" + wasm, "NANOCLAW_FUZZ_KIND=route"} {
		if !strings.Contains(tail, want) {
			t.Errorf("the report lacks %q:\n%s", want, tail)
		}
	}
	if strings.Contains(report, "circuit breaker") {
		t.Errorf("the report blames the breaker:\n%s", report)
	}
	// The input reported is one that panics: its message has a '!'.
	if _, input, ok := strings.Cut(tail, "failing input: "); !ok || !strings.Contains(strings.SplitN(input, "\n", 4)[2], "!") {
		t.Errorf("the failing input is not one that panics:\n%s", input)
	}
	_, hint, ok := strings.Cut(tail, "reproduce with:\n")
	if !ok {
		t.Fatalf("no reproduction in:\n%s", tail)
	}
	rerun, err := exec.Command("sh", "-c", strings.TrimSpace(hint)).CombinedOutput()
	if err == nil || !strings.Contains(string(rerun), "plugin panic: panicky: a '!' in a long message") {
		t.Fatalf("the hint %q did not reproduce the panic (%v):\n%s", hint, err, rerun)
	}
	if after := listDir(t, srcCorpus); !slices.Equal(before, after) {
		t.Fatalf("the source tree's corpus changed: %v → %v", before, after)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestParseFailure reads go test's output for the three ways a fuzz run ends.
func TestParseFailure(t *testing.T) {
	found := `fuzz: elapsed: 1s, minimizing
--- FAIL: FuzzRoute (1.41s)
    --- FAIL: FuzzRoute (0.00s)
        fuzz_test.go:157: fault on a valid request: plugin panic: x
            request: {"a":1}
    
    Failing input written to testdata/fuzz/FuzzRoute/6d74adc7122037d4
    To re-run:
    go test -run=FuzzRoute/6d74adc7122037d4
FAIL
`
	seed := `failure while testing seed corpus entry: FuzzRoute/seed#3
fuzz: elapsed: 0s, gathering baseline coverage: 8/40 completed
--- FAIL: FuzzRoute (0.32s)
    --- FAIL: FuzzRoute (0.00s)
        fuzz_test.go:160: invariant broken: delivered to "x"
    
FAIL
`
	cases := []struct {
		name, out, target string
		ok                bool
		entry, message    string
	}{
		{"found by fuzzing", found, "FuzzRoute", true, "6d74adc7122037d4", "fuzz_test.go:157: fault on a valid request: plugin panic: x\nrequest: {\"a\":1}"},
		{"a seed fails", seed, "FuzzRoute", true, "seed#3", `fuzz_test.go:160: invariant broken: delivered to "x"`},
		{"another target's seed", seed, "FuzzMount", false, "", ""},
		{"no failure named", "FAIL\nbuild failed\n", "FuzzRoute", false, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, ok := parseFailure(c.out, c.target)
			if ok != c.ok || f.name != c.entry || f.message != c.message {
				t.Fatalf("parseFailure = %+v, %v; want entry %q, message %q, ok %v", f, ok, c.entry, c.message, c.ok)
			}
		})
	}
}

// TestUsage: a missing or unknown kind, or no plugin, is a usage error.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"-plugin", "x.wasm"}, {"-plugin", "x.wasm", "-kind", "web"}, {"-kind", "route"}, {"-plugin", "x.wasm", "-kind", "route", "extra"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "usage") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut.String())
		}
	}
}
