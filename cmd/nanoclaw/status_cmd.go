package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/control"
	"github.com/nanoclaw/nanoclaw-go/host/status"
)

// timeNow is the clock the CLI stamps records with.
func timeNow() time.Time { return time.Now() }

// cmdStatus shows the running host (host/status): version and uptime, channels, groups with
// their containers and queue, scheduled tasks, model use today, plugins, recent refusals.
func cmdStatus(e env) *cobra.Command {
	c := &cobra.Command{
		Use:     "status",
		Short:   "Show the running host: channels, groups, containers, queue, tasks, plugins, model use, refusals",
		Example: "  nanoclaw status\n  nanoclaw status --json",
		Args:    cobra.NoArgs,
	}
	asJSON := c.Flags().Bool("json", false, "print the status document as JSON (camelCase keys, [] for empty lists; see README)")
	c.RunE = body(func(ctx context.Context, _ *cobra.Command, _ []string) int {
		return runStatus(ctx, e, *asJSON)
	})
	return c
}

// runStatus is the body of cmdStatus.
func runStatus(ctx context.Context, e env, asJSON bool) int {
	paths, err := config.PathsFromEnv(e.workdir, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	var raw json.RawMessage
	if err := control.GetJSON(ctx, paths.ControlSocket, "/status", &raw); err != nil {
		if errors.Is(err, control.ErrNoHost) {
			fmt.Fprintln(e.stderr, "nanoclaw: no running host (start it with `nanoclaw run` or `make run`)")
			return 1
		}
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	if asJSON {
		fmt.Fprintln(e.stdout, string(raw))
		return 0
	}
	var doc status.Doc
	if err := json.Unmarshal(raw, &doc); err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw: status:", err)
		return 2
	}
	if err := status.WriteText(e.stdout, doc, time.Local); err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw: status:", err)
		return 2
	}
	return 0
}
