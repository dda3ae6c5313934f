// Command agent-runner is the entrypoint of NanoClaw's agent container.
//
// It reads one run request (JSON) on stdin, runs the agent with anthropic-sdk-go's Beta tool
// runner (bash/read/write/edit/glob/grep from tools/agenttoolset plus NanoClaw's IPC tools),
// and writes every result between NanoClaw's output markers on stdout, naming the inputs it
// answers. Everything else goes over the group's agent socket (/run/nanoclaw/agent.sock),
// the only way to the host: the model API, IPC requests, and the run's input stream of
// follow-up messages (acknowledged as they are taken into a turn) and the close request.
// Logs go to stderr.
//
// Everything lives in run(), which tests drive in-process; main is a thin wrapper.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
