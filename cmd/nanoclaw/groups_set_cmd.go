package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// quoteRepliesHelp describes --quote-replies on groups add and groups set.
const quoteRepliesHelp = "replies quote the message they answer (WhatsApp); unset: on in group chats, off in direct chats"

// cmdGroupsSet changes a registered chat's settings that are not part of its identity
// (folder, main): for now, whether replies quote the message they answer.
func cmdGroupsSet(e env) *cobra.Command {
	c := &cobra.Command{
		Use:   "set --jid JID [--quote-replies=true|false]",
		Short: "Change a registered chat's settings, such as whether replies quote what they answer",
		Example: `  nanoclaw groups set --jid 120363000000000000@g.us --quote-replies=false
  nanoclaw groups set --jid 15551234567@s.whatsapp.net --quote-replies`,
		Args: cobra.NoArgs,
	}
	fs := c.Flags()
	jid := fs.String("jid", "", "the registered chat to change")
	quote := fs.Bool("quote-replies", false, quoteRepliesHelp)
	c.RunE = body(func(ctx context.Context, c *cobra.Command, _ []string) int {
		if *jid == "" {
			return usage(c, "--jid is required")
		}
		if !fs.Changed("quote-replies") {
			return usage(c, "nothing to change: pass --quote-replies=true or --quote-replies=false")
		}
		s, st, ok := openGroups(ctx, e)
		if !ok {
			return 2
		}
		defer st.Close()
		g, ok, err := st.RegisteredGroup(ctx, *jid)
		if err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw groups set:", err)
			return 1
		}
		if !ok {
			fmt.Fprintf(e.stderr, "nanoclaw groups set: %s is not registered (see nanoclaw groups list)\n", *jid)
			return 1
		}
		g.QuoteReplies = quote
		if err := st.SetRegisteredGroup(ctx, g); err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw groups set:", err)
			return 1
		}
		state := "off"
		if *quote {
			state = "on"
		}
		fmt.Fprintf(e.stdout, "%s: quoting replies %s\n", g.JID, state)
		return reloadGroups(ctx, s, e)
	})
	return c
}

// quoteSetting shows a group's quoting: on, off, or default (unset).
func quoteSetting(b *bool) string {
	switch {
	case b == nil:
		return "default"
	case *b:
		return "on"
	}
	return "off"
}
