// Command nanoclaw is the personal assistant host and its tools: `nanoclaw run` starts the
// host; the other subcommands inspect and manage it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
)

const usage = `usage: nanoclaw <command> [arguments]

commands:
  run                   start the host: channels, agents, IPC, scheduler, plugins
  chat                  talk to the running host from this terminal (the local chat)
  auth                  pair with WhatsApp (QR code, or --pairing-code --phone +NUMBER)
  status                the running host: groups, containers, queue, plugins, errors
  groups add|list|remove
                        register, list or unregister chats
  service install       install the host as a systemd service
  plugin list           loaded plugins: kind, hash, capabilities, calls, faults
  plugin check FILE     validate a plugin module and its manifest without a host
  policy mount|ipc|route
                        explain a policy decision (JSON; exit 0 allow, 1 deny)

Run "nanoclaw <command> -h" for a command's flags.
`

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

// dispatch runs one command and returns its exit status: 0 success, 1 a negative answer
// (invalid plugin, denied), 2 usage or internal error.
func dispatch(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], e)
	case "chat":
		return cmdChat(ctx, args[1:], e)
	case "auth":
		return cmdAuth(ctx, args[1:], e)
	case "status":
		return cmdStatus(ctx, args[1:], e)
	case "groups":
		return cmdGroups(ctx, args[1:], e)
	case "service":
		return cmdService(ctx, args[1:], e)
	case "plugin":
		return cmdPlugin(ctx, args[1:], e)
	case "policy":
		return cmdPolicy(ctx, args[1:], e)
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
		return 0
	}
	fmt.Fprintf(e.stderr, "nanoclaw: unknown command %q\n\n%s", args[0], usage)
	return 2
}
