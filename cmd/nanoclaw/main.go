// Command nanoclaw is the personal assistant host and its tools: `nanoclaw run` starts the
// host; the other subcommands inspect and manage it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
)

// env is what a command may read from the process, so tests can supply their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	workdir        string
	// pluginEvents, when set, hears every plugin reload of a running host (tests wait on it).
	pluginEvents func(plugin.Event)
	// ready, when set, is closed once the host serves its control socket.
	ready chan<- struct{}
	// onAck, when set, hears each follow-up a running agent acknowledges (benchmarks).
	onAck func(group, run string, ids []int64)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nanoclaw:", err)
		os.Exit(2)
	}
	os.Exit(dispatch(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, workdir: wd}))
}

// exitCode is how a command's body reports its exit status through cobra: the message,
// if any, was already printed.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// usageError is a mistake on the command line: reported in one line with a pointer to -h,
// exit status 2.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (u usageError) Error() string { return u.err.Error() }

// body adapts a command body that returns its exit status (0 success, 1 a negative answer,
// 2 usage or internal error) to cobra's RunE.
func body(f func(ctx context.Context, c *cobra.Command, args []string) int) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		if code := f(c.Context(), c, args); code != 0 {
			return exitCode(code)
		}
		return nil
	}
}

// usage prints a usage error in one line with a pointer to the command's help and returns 2:
// `nanoclaw groups add: --folder is required (see nanoclaw groups add -h)`.
func usage(c *cobra.Command, format string, a ...any) int {
	fmt.Fprintf(c.ErrOrStderr(), "%s: %s (see %s -h)\n", c.CommandPath(), fmt.Sprintf(format, a...), c.CommandPath())
	return 2
}

// dispatch runs one command and returns its exit status: 0 success (and -h), 1 a negative
// answer (invalid plugin, denied), 2 usage or internal error.
func dispatch(ctx context.Context, args []string, e env) int {
	root := newRoot(e)
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	var code exitCode
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &ue):
		cmd = ue.cmd
		err = ue.err
	}
	// Anything else cobra returns (a flag it cannot parse, a wrong number of arguments) is a
	// usage error too.
	if cmd == nil {
		cmd = root
	}
	return usage(cmd, "%s", oneLine(err.Error()))
}

// newRoot builds the command tree; e is the process (or a test's stand-in).
func newRoot(e env) *cobra.Command {
	root := &cobra.Command{
		Use:   "nanoclaw",
		Short: "A personal assistant on WhatsApp: each group's agent runs in its own container",
		Long: `nanoclaw runs a personal assistant for your WhatsApp chats (and a local chat in the
terminal): each registered group's agent runs in its own container with only that group's
folder mounted.`,
		Example: `  nanoclaw run                      # start the host
  nanoclaw chat                     # talk to it from another terminal
  nanoclaw groups add --jid local:work --folder work`,
		Version:            versionLine(),
		Args:               cobra.ArbitraryArgs,
		SilenceErrors:      true,
		SilenceUsage:       true,
		DisableSuggestions: true,
		CompletionOptions:  cobra.CompletionOptions{DisableDefaultCmd: true},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				c.SetOut(c.ErrOrStderr())
				_ = c.Help()
				return exitCode(2)
			}
			return unknownCommand(c, args[0])
		},
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetHelpTemplate(helpTemplate)
	root.SetUsageTemplate(usageTemplate)
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(
		cmdRun(e), cmdChat(e), cmdAuth(e), cmdStatus(e), cmdGroups(e), cmdService(e),
		cmdPlugin(e), cmdPolicy(e), cmdVersion(), cmdCompletion(),
	)
	addCompletions(root, e)
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() == "help" {
			c.Example = "  nanoclaw help groups add"
		}
	}
	return root
}

// helpTemplate puts the one-line description first, then the longer one, then usage,
// examples and flags.
const helpTemplate = `{{.Short | trimTrailingWhitespaces}}
{{with .Long}}
{{. | trimTrailingWhitespaces}}
{{end}}
{{.UsageString}}`

// usageTemplate is cobra's, less aliases and command groups (unused here), and a command
// that only groups subcommands shows no usage line of its own.
const usageTemplate = `Usage:{{if and .Runnable (not .HasAvailableSubCommands)}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} <command>{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Run "{{.CommandPath}} <command> -h" for a command's flags.{{end}}
`

// parent makes c a command that only groups subcommands: without one it is a usage error
// (exit 2, naming the choices), not cobra's help with exit 0.
func parent(c *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	c.AddCommand(subs...)
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownCommand(c, args[0])
		}
		var names []string
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() {
				names = append(names, s.Name())
			}
		}
		return usageError{c, fmt.Errorf("which one? %s", strings.Join(names, ", "))}
	}
	return c
}

func unknownCommand(c *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q", name)
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, which it sets only on its own path
	}
	if s := c.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
	}
	return usageError{c, errors.New(msg)}
}

var singleDash = regexp.MustCompile(`unknown shorthand flag: '.' in -([a-z][a-z-]+)`)

// flagError turns pflag's errors into usage errors; a long flag written with one dash, as
// Go's flag package allowed, is named with the spelling that works.
func flagError(c *cobra.Command, err error) error {
	if m := singleDash.FindStringSubmatch(err.Error()); m != nil && c.Flags().Lookup(m[1]) != nil {
		err = fmt.Errorf("-%s: long flags take two dashes: --%s", m[1], m[1])
	}
	return usageError{c, err}
}

// oneLine keeps a message to its first line.
func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
