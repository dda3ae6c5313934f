package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runCLI runs the CLI with args in an empty project directory.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = dispatch(context.Background(), args, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		getenv: func(string) string { return "" }, workdir: t.TempDir()})
	return code, out.String(), errOut.String()
}

// commandPaths lists every command a user can reach, as argument lists.
func commandPaths(c *cobra.Command, prefix []string) [][]string {
	var out [][]string
	for _, s := range c.Commands() {
		if s.Hidden {
			continue
		}
		p := append(append([]string(nil), prefix...), s.Name())
		out = append(out, p)
		out = append(out, commandPaths(s, p)...)
	}
	return out
}

// TestHelpEveryCommand: -h and --help on every command and subcommand exit 0 and print a
// one-line description, the usage, the flags with their descriptions and an example.
func TestHelpEveryCommand(t *testing.T) {
	root := newRoot(env{})
	root.InitDefaultHelpCmd()
	paths := append([][]string{nil}, commandPaths(root, nil)...)
	if len(paths) < 15 {
		t.Fatalf("only %d commands found: %v", len(paths), paths)
	}
	for _, p := range paths {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string(nil), p...), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				code, out, errOut := runCLI(t, args...)
				if code != 0 {
					t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", code, out, errOut)
				}
				first, _, _ := strings.Cut(out, "\n")
				if len(first) < 10 || strings.HasPrefix(first, "Usage") {
					t.Errorf("first line is not a description: %q", first)
				}
				for _, want := range []string{"Usage:\n  nanoclaw", "Examples:\n  ", "Flags:\n", "-h, --help"} {
					if !strings.Contains(out, want) {
						t.Errorf("help lacks %q:\n%s", want, out)
					}
				}
				if errOut != "" {
					t.Errorf("help wrote to stderr: %s", errOut)
				}
			})
		}
	}
}

// TestUsageErrors: a mistake on the command line exits 2 with one line that names the
// command and points to its -h; want is how the line starts.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"fly"}, `nanoclaw: unknown command "fly" (see nanoclaw -h)`},
		{[]string{"gorups"}, `nanoclaw: unknown command "gorups" (did you mean groups?) (see nanoclaw -h)`},
		{[]string{"groups"}, "nanoclaw groups: which one? add, list, remove, reset"}, // and any added since
		{[]string{"groups", "frob"}, `nanoclaw groups: unknown command "frob" (see nanoclaw groups -h)`},
		{[]string{"groups", "add", "--jid", "local:x"}, "nanoclaw groups add: --folder is required (see nanoclaw groups add -h)"},
		{[]string{"groups", "add", "--folder", "x"}, "nanoclaw groups add: --jid is required (see nanoclaw groups add -h)"},
		{[]string{"groups", "add", "-folder", "x"}, "nanoclaw groups add: -folder: long flags take two dashes: --folder (see nanoclaw groups add -h)"},
		{[]string{"groups", "add", "--frob"}, "nanoclaw groups add: unknown flag: --frob (see nanoclaw groups add -h)"},
		{[]string{"groups", "remove"}, "nanoclaw groups remove: --jid is required (see nanoclaw groups remove -h)"},
		{[]string{"groups", "reset"}, "nanoclaw groups reset: --folder is required (see nanoclaw groups reset -h)"},
		{[]string{"groups", "list", "extra"}, `nanoclaw groups list: unknown command "extra" for "nanoclaw groups list" (see nanoclaw groups list -h)`},
		{[]string{"plugin"}, "nanoclaw plugin: which one? check, list (see nanoclaw plugin -h)"},
		{[]string{"plugin", "check"}, "nanoclaw plugin check: one module to check, FILE.wasm (its manifest FILE.json beside it); got 0 arguments (see nanoclaw plugin check -h)"},
		{[]string{"policy", "mount"}, "nanoclaw policy mount: --group and --host-path are required (see nanoclaw policy mount -h)"},
		{[]string{"policy", "ipc", "--group", "g"}, "nanoclaw policy ipc: --group and --request are required (see nanoclaw policy ipc -h)"},
		{[]string{"policy", "route"}, "nanoclaw policy route: --message is required (see nanoclaw policy route -h)"},
		{[]string{"policy", "ipc", "--allowlist", "x"}, "nanoclaw policy ipc: unknown flag: --allowlist (see nanoclaw policy ipc -h)"},
		{[]string{"service"}, "nanoclaw service: which one? install (see nanoclaw service -h)"},
		{[]string{"completion"}, "nanoclaw completion: which shell? bash, zsh, fish or powershell (see nanoclaw completion -h)"},
		{[]string{"completion", "tcsh"}, "nanoclaw completion: which shell? bash, zsh, fish or powershell (see nanoclaw completion -h)"},
		{[]string{"status", "--json=maybe"}, `nanoclaw status: invalid argument "maybe" for "--json" flag: strconv.ParseBool: parsing "maybe": invalid syntax (see nanoclaw status -h)`},
		{[]string{"auth", "--pairing-code"}, "nanoclaw auth: --pairing-code needs --phone +<country code><number>, digits only (see nanoclaw auth -h)"},
		{[]string{"chat", "--replies", "x"}, ""},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, c.args...)
			if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, " -h)\n") {
				t.Fatalf("exit %d, want 2 and one line ending with a pointer to -h\nstdout: %q\nstderr: %q", code, out, errOut)
			}
			if !strings.HasPrefix(errOut, c.want) {
				t.Fatalf("stderr %q\nwant   %q", errOut, c.want)
			}
		})
	}
	// Bare `nanoclaw` is a usage error that shows the whole help, on stderr.
	code, out, errOut := runCLI(t)
	if code != 2 || out != "" || !strings.Contains(errOut, "Commands:") {
		t.Fatalf("bare nanoclaw: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// TestVersion: `nanoclaw version` and `nanoclaw --version` print the version, the commit
// and the Go version.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d\nstderr: %s", code, errOut)
			}
			want := "nanoclaw " + version + " (commit "
			if !strings.HasPrefix(out, want) || !strings.Contains(out, runtime.Version()) || strings.Count(out, "\n") != 1 {
				t.Fatalf("got %q, want one line starting %q naming %s", out, want, runtime.Version())
			}
		})
	}
}

// TestCompletion: each shell gets a non-empty script that names the command.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		t.Run(shell, func(t *testing.T) {
			code, out, errOut := runCLI(t, "completion", shell)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d\nstderr: %s", code, errOut)
			}
			if len(out) < 500 || !strings.Contains(out, "nanoclaw") {
				t.Fatalf("script too short or not for nanoclaw (%d bytes):\n%.300s", len(out), out)
			}
		})
	}
	// The scripts ask the binary for candidates: subcommands and flags come from the tree.
	code, out, _ := runCLI(t, "__complete", "groups", "a")
	if code != 0 || !strings.Contains(out, "add") {
		t.Fatalf("completing `groups a`: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "__complete", "groups", "add", "--fo")
	if code != 0 || !strings.Contains(out, "--folder") {
		t.Fatalf("completing `groups add --fo`: exit %d\n%s", code, out)
	}
}

// TestPluginCheckSpeaksPlainly: `plugin check` names the file at fault and what a plugin
// needs (exit 1), rather than the loader's inner step.
func TestPluginCheckSpeaksPlainly(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"junk.wasm": "not wasm", "junk.json": `{"name":"junk","kind":"route","abi":1}`,
		"lone.wasm": "\x00asm\x01\x00\x00\x00", "orphan.json": `{"name":"orphan","kind":"route","abi":1}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct{ file, says string }{
		{"junk.wasm", "junk.wasm is not a WebAssembly module"},
		{"lone.wasm", "lone.wasm has no manifest: " + filepath.Join(dir, "lone.json") + " is missing; a plugin is NAME.wasm"},
		{"orphan.wasm", "orphan.wasm does not exist: a plugin is NAME.wasm"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			code, out, errOut := runCLI(t, "plugin", "check", filepath.Join(dir, c.file))
			if code != 1 || !strings.Contains(out, c.says) || strings.Contains(out, "instrumentation") {
				t.Fatalf("exit %d, want 1 saying %q\nstdout: %s\nstderr: %s", code, c.says, out, errOut)
			}
		})
	}
}

// TestCompletionValues: flag values complete from what the project has (group folders from
// groups/, without opening the store), and files by kind.
func TestCompletionValues(t *testing.T) {
	work := t.TempDir()
	for _, d := range []string{"groups/family", "groups/main", "groups/global", "groups/.hidden"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	complete := func(args ...string) string {
		var out, errOut bytes.Buffer
		code := dispatch(context.Background(), append([]string{"__complete"}, args...), env{stdout: &out, stderr: &errOut,
			getenv: func(k string) string {
				return map[string]string{"NANOCLAW_CONFIG_DIR": filepath.Join(work, "config")}[k]
			}, workdir: work})
		if code != 0 {
			t.Fatalf("__complete %v: exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	cases := []struct {
		args        []string
		want, never []string
	}{
		{[]string{"groups", "reset", "--folder", ""}, []string{"family\n", "main\n", ":4\n"}, []string{"global", ".hidden"}},
		{[]string{"policy", "ipc", "--group", ""}, []string{"family\n"}, []string{"global"}},
		{[]string{"policy", "ipc", "--dir", ""}, []string{"messages\n", "tasks\n"}, nil},
		{[]string{"plugin", "check", ""}, []string{"wasm\n", ":8\n"}, nil},
		{[]string{"policy", "route", "--message", ""}, []string{"json\n", ":8\n"}, nil},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish", "powershell"}, nil},
		{[]string{""}, []string{"groups", "chat", "run", "version"}, []string{"__complete"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			got := complete(c.args...)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("lacks %q:\n%s", w, got)
				}
			}
			for _, n := range c.never {
				if strings.Contains(got, n) {
					t.Errorf("offers %q:\n%s", n, got)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(work, "store")); err == nil {
		t.Error("completion created the store")
	}
}
