// Command agent-runner is the entrypoint of NanoClaw's agent container.
//
// It reads one run request (JSON) on stdin, runs the agent with anthropic-sdk-go's Beta tool
// runner (bash/read/write/edit/glob/grep from tools/agenttoolset plus NanoClaw's IPC tools),
// and writes every result between NanoClaw's output markers on stdout. Follow-up messages
// arrive as files in <ipc>/input; an "_close" file there ends the run after the current turn.
// Logs go to stderr. The model API is reached only through the credential proxy's Unix socket.
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
