package main

import (
	"context"
	"fmt"
	"os/user"

	"github.com/spf13/cobra"

	"github.com/nanoclaw/nanoclaw-go/host/channel/local"
	"github.com/nanoclaw/nanoclaw-go/host/config"
)

// cmdChat talks to the running host from a terminal, as a chat of the local channel.
func cmdChat(e env) *cobra.Command {
	c := &cobra.Command{
		Use:   "chat",
		Short: "Talk to the running host from this terminal (the local chat)",
		Long: `Talk to the running host from this terminal, as a chat of the local channel. Each line
you type is a message; the assistant's replies are printed. Pipe lines in for scripts.
A line "/file PATH [caption]" sends that file instead (quote a PATH with spaces): a photo
reaches the model as an image, a PDF as a document, any other file as a path the agent
can open.`,
		Example: `  nanoclaw chat
  nanoclaw chat --chat local:work
  echo "what is on my calendar?" | nanoclaw chat --replies 1
  echo '/file ~/receipt.jpg what did I spend?' | nanoclaw chat --replies 1`,
		Args: cobra.NoArgs,
	}
	fs := c.Flags()
	chat := fs.String("chat", "local:main", "the local chat to talk in (local:<name>, registered as a group)")
	name := fs.String("name", defaultChatName(), "your name, as the assistant sees it")
	replies := fs.Int("replies", 0, "after the input ends, exit once this many replies arrived (0: wait for Ctrl-C)")
	c.RunE = body(func(ctx context.Context, _ *cobra.Command, _ []string) int {
		return runChat(ctx, e, *chat, *name, *replies)
	})
	return c
}

// runChat is the body of cmdChat.
func runChat(ctx context.Context, e env, chat, name string, replies int) int {
	paths, err := config.PathsFromEnv(e.workdir, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	if err := local.Chat(ctx, local.SocketPath(paths.Data), local.ChatOptions{Chat: chat, Name: name, Replies: replies, Info: e.stderr}, e.stdin, e.stdout); err != nil {
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
