package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/spf13/cobra"
)

// version is the release this binary was built as: the Makefile sets it with
// -ldflags "-X main.version=..." (git describe); a plain `go build` says "dev".
var version = "dev"

// commit is the source revision, set by the Makefile with -ldflags "-X main.commit=..." for
// builds where Go's own VCS stamp is off (-buildvcs=false, or no .git); otherwise that stamp
// is used.
var commit = ""

// buildInfo is what `nanoclaw version` reports.
type buildInfo struct {
	Version, Commit, GoVersion string
	Modified                   bool
}

// readBuildInfo reads the commit Go stamps into the binary (vcs.revision, vcs.modified): no
// build step has to remember to pass it.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: cmp.Or(commit, "unknown"), GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version // go install module@version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if commit == "" {
				b.Commit = s.Value
			}
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// versionLine is the one line `nanoclaw --version` and `nanoclaw version` print.
func versionLine() string {
	b := readBuildInfo()
	commit := b.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if b.Modified {
		commit += "-modified"
	}
	return fmt.Sprintf("nanoclaw %s (commit %s, %s %s/%s)", b.Version, commit, b.GoVersion, runtime.GOOS, runtime.GOARCH)
}

func cmdVersion() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit and Go version this binary was built with",
		Example: "  nanoclaw version\n  nanoclaw --version",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := io.WriteString(c.OutOrStdout(), versionLine()+"\n")
			return err
		},
	}
}

// cmdCompletion prints a shell completion script. It replaces cobra's default completion
// command so that its help has an example like every other command's.
func cmdCompletion() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script for bash, zsh, fish or powershell",
		Long: `Print the shell completion script. Load it in the current shell, or install it where
your shell reads completions.`,
		Example: `  source <(nanoclaw completion bash)
  nanoclaw completion zsh > "${fpath[1]}/_nanoclaw"
  nanoclaw completion fish > ~/.config/fish/completions/nanoclaw.fish`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 || !slices.Contains(c.ValidArgs, args[0]) {
				return usageError{c, errors.New("which shell? bash, zsh, fish or powershell")}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			root, out := c.Root(), c.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			default:
				return root.GenPowerShellCompletionWithDesc(out)
			}
		},
	}
}
