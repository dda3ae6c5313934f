package main

import (
	"context"
	"flag"
	"fmt"
	"os/user"

	"github.com/nanoclaw/nanoclaw-go/host/channel/local"
	"github.com/nanoclaw/nanoclaw-go/host/config"
)

// cmdChat talks to the running host from a terminal, as a chat of the local channel.
func cmdChat(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	chat := fs.String("chat", "local:main", "the local chat to talk in (local:<name>, registered as a group)")
	name := fs.String("name", defaultChatName(), "your name, as the assistant sees it")
	replies := fs.Int("replies", 0, "after the input ends, exit once this many replies arrived (0: wait for Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	paths, err := config.PathsFromEnv(e.workdir, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	if err := local.Chat(ctx, local.SocketPath(paths.Data), local.ChatOptions{Chat: *chat, Name: *name, Replies: *replies, Info: e.stderr}, e.stdin, e.stdout); err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw chat:", err)
		return 1
	}
	return 0
}

func defaultChatName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "me"
}
