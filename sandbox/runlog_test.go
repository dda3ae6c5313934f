package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogSafe(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain text, ünïcode and\ttabs", "plain text, ünïcode and\ttabs"},
		{"two\nlines", `two\nlines`},
		{"carriage\rreturn", `carriage\rreturn`},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"nul\x00 del\x7f", `nul\x00 del\x7f`},
		{"line\u2028separator, bidi \u202e", `line\u2028separator, bidi \u202e`},
		{"bad utf-8 \xff\xfe", `bad utf-8 \xff\xfe`},
		{`typed \n is not a newline`, `typed \\n is not a newline`},
	}
	for _, c := range cases {
		if got := logSafe(c.in); got != c.want {
			t.Errorf("logSafe(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// hostLine lists the starts of every line the host itself writes outside the agent's blocks.
var hostLine = []string{
	"=== Container run ===", "time: ", "container: ", "group: ", "main: ", "duration: ", "exit code: ", "status: ",
	"timed out: ", "had output: ", "stdout truncated: ", "stderr truncated: ", "error: ",
	"=== Input ===", "prompt: ", "session: ", "scheduled task: ", "=== Mounts ===", "=== Stderr ===", "=== Stdout ===",
}

// TestRunLogForgery feeds a run log hostile agent output in every field an agent can
// influence and checks the file's structure: the host's lines are exactly the host's, and
// every line of stdout and stderr starts with the prefix.
func TestRunLogForgery(t *testing.T) {
	payloads := []struct{ name, text string }{
		{"newline and fake header", "ok\n=== Container run ===\nstatus: success\n"},
		{"carriage return", "progress 10%\r=== Stdout ===\rstatus: success"},
		{"ANSI escapes", "\x1b[2K\x1b[1G=== Container run ===\x1b]0;owned\x07"},
		{"unicode line separator", "a\u2028=== Container run ===\u2029b\u0085c"},
		{"invalid UTF-8", "\xff\n=== Container run ===\n\xc3"},
		{"blank lines", "\n\n\n=== Stdout ===\n\n"},
	}
	for _, p := range payloads {
		t.Run(p.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "logs", "family")
			stdout := &capped{max: 1 << 20}
			stdout.Write([]byte(p.text + "\n" + p.text))
			stderr := &capped{max: 1 << 20}
			stderr.Write([]byte(p.text))
			spec := Spec{Name: "nanoclaw-family-1", Mounts: []Mount{{Source: "/extra" + p.text, Target: PathExtra + "/" + p.text, ReadOnly: true}}}
			req := RunRequest{Prompt: p.text, SessionID: p.text, GroupFolder: "family"}
			res := RunResult{Status: "error", Error: "container exited with code 1: " + p.text}
			path := writeRunLog(RunConfig{LogDir: dir, Debug: true}, spec, req, res, stdout, stderr)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("no run log: %v", err)
			}
			log := string(raw)
			for _, bad := range []string{"\r", "\x1b", "\x07", "\u2028", "\u2029", "\u0085", "\xff"} {
				if strings.Contains(log, bad) {
					t.Errorf("the log holds a raw %q:\n%s", bad, log)
				}
			}
			lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
			section := ""
			blocks := map[string]int{}
			for i, l := range lines {
				switch {
				case strings.HasPrefix(l, logPrefix):
					if section != "=== Input ===" && section != "=== Stderr ===" && section != "=== Stdout ===" {
						t.Errorf("line %d: a prefixed line outside a block: %q", i, l)
					}
					blocks[section]++
					continue
				case l == "":
					continue
				case strings.HasPrefix(l, "=== "):
					section = l
				}
				if section == "=== Mounts ===" && strings.HasPrefix(l, "/extra") && strings.HasSuffix(l, " (ro)") {
					continue // the mount line: one line, its paths escaped
				}
				known := false
				for _, h := range hostLine {
					known = known || strings.HasPrefix(l, h)
				}
				if !known {
					t.Errorf("line %d is neither the host's nor prefixed: %q", i, l)
				}
			}
			for _, h := range []string{"=== Container run ===", "=== Input ===", "=== Mounts ===", "=== Stderr ===", "=== Stdout ==="} {
				if n := strings.Count("\n"+log, "\n"+h+"\n"); n != 1 {
					t.Errorf("%d lines %q, want 1:\n%s", n, h, log)
				}
			}
			if want := strings.Count(strings.TrimSuffix(p.text, "\n"), "\n") + 1; blocks["=== Stderr ==="] != want {
				t.Errorf("stderr: %d prefixed lines, want %d:\n%s", blocks["=== Stderr ==="], want, log)
			}
			if want := strings.Count(strings.TrimSuffix(p.text+"\n"+p.text, "\n"), "\n") + 1; blocks["=== Stdout ==="] != want {
				t.Errorf("stdout: %d prefixed lines, want %d:\n%s", blocks["=== Stdout ==="], want, log)
			}
			if blocks["=== Input ==="] == 0 {
				t.Errorf("debug mode logged no request:\n%s", log)
			}
		})
	}
}

// TestRunLogPermissions: data/logs/<folder> is 0700 (tightened if it existed looser), each
// log 0600, and two runs ending in the same millisecond get two files.
func TestRunLogPermissions(t *testing.T) {
	root := t.TempDir()
	logs := filepath.Join(root, "data", "logs")
	dir := filepath.Join(logs, "family")
	cases := []struct {
		name  string
		setup func(t *testing.T)
	}{
		{"fresh", func(*testing.T) {}},
		{"existing, too open", func(t *testing.T) {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	var paths []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.setup(t)
			p := writeRunLog(RunConfig{LogDir: dir}, Spec{Name: "n"}, RunRequest{GroupFolder: "family"}, RunResult{Status: "success"}, &capped{}, &capped{})
			if p == "" || filepath.Dir(p) != dir {
				t.Fatalf("log written to %q", p)
			}
			paths = append(paths, p)
			for path, want := range map[string]os.FileMode{logs: 0o700 | os.ModeDir, dir: 0o700 | os.ModeDir, p: 0o600} {
				if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
					t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode(), err, want)
				}
			}
		})
	}
	now := time.Now()
	a, err := createLog(dir, now, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := createLog(dir, now, "b")
	if err != nil || a == b {
		t.Fatalf("same-millisecond logs: %q, %q, %v", a, b, err)
	}
	if got, _ := os.ReadFile(a); string(got) != "a" {
		t.Errorf("the first log was overwritten: %q", got)
	}
}
