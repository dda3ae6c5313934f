package main

import (
	"bytes"
	"context"
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
// command and points to its -h.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"fly"}, `nanoclaw: unknown command "fly" (see nanoclaw -h)`},
		{[]string{"gorups"}, `nanoclaw: unknown command "gorups" (did you mean groups?) (see nanoclaw -h)`},
		{[]string{"groups"}, "nanoclaw groups: which one? add, list, remove, reset, set (see nanoclaw groups -h)"},
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
			if c.want != "" && errOut != c.want+"\n" {
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
