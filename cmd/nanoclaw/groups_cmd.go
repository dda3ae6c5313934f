package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.mau.fi/whatsmeow/types"

	"github.com/nanoclaw/nanoclaw-go/host/channel/whatsapp"
	"github.com/nanoclaw/nanoclaw-go/host/control"
	"github.com/nanoclaw/nanoclaw-go/host/daemon"
	"github.com/nanoclaw/nanoclaw-go/host/groupreg"
	"github.com/nanoclaw/nanoclaw-go/host/logging"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// cmdGroups registers, lists and removes groups. Its subcommands write the store directly
// (SQLite in WAL mode takes a second writer) and then ask a running host to reload its
// group cache.
func cmdGroups(e env) *cobra.Command {
	return parent(&cobra.Command{
		Use:   "groups",
		Short: "Register, list, unregister or reset the chats the assistant answers",
		Example: `  nanoclaw groups list
  nanoclaw groups add --jid local:work --folder work
  nanoclaw groups add --jid 120363000000000000@g.us --folder family --trigger @Andy`,
	}, cmdGroupsAdd(e), cmdGroupsSet(e), cmdGroupsList(e), cmdGroupsRemove(e), cmdGroupsReset(e))
}

// openGroups loads the settings and opens the store the group commands write.
func openGroups(ctx context.Context, e env) (hostSettings, *store.Store, bool) {
	s, err := loadSettings(e)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return s, nil, false
	}
	st, err := store.Open(ctx, filepath.Join(s.paths.Root, "store", "nanoclaw.db"))
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return s, nil, false
	}
	return s, st, true
}

// reloadGroups asks a running host to reread the registered groups; no host is fine.
func reloadGroups(ctx context.Context, s hostSettings, e env) int {
	var ok map[string]bool
	if err := control.PostJSON(ctx, s.paths.ControlSocket, "/groups/reload", &ok); err != nil && !errors.Is(err, control.ErrNoHost) {
		fmt.Fprintln(e.stderr, "nanoclaw: the running host did not reload its groups:", err)
		return 1
	}
	return 0
}

func cmdGroupsList(e env) *cobra.Command {
	c := &cobra.Command{
		Use:     "list",
		Short:   "List the registered chats: folder, JID, name, trigger, main",
		Example: "  nanoclaw groups list\n  nanoclaw groups list --json",
		Args:    cobra.NoArgs,
	}
	asJSON := c.Flags().Bool("json", false, "print JSON")
	c.RunE = body(func(ctx context.Context, _ *cobra.Command, _ []string) int {
		_, st, ok := openGroups(ctx, e)
		if !ok {
			return 2
		}
		defer st.Close()
		groups, err := st.RegisteredGroups(ctx)
		if err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw:", err)
			return 2
		}
		sort.Slice(groups, func(i, j int) bool { return groups[i].Folder < groups[j].Folder })
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(groups)
			return 0
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FOLDER\tJID\tNAME\tTRIGGER\tREQUIRES TRIGGER\tMAIN\tQUOTES")
		for _, g := range groups {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%v\t%s\n", g.Folder, g.JID, g.Name, g.Trigger, g.RequiresTrigger, g.IsMain, quoteSetting(g.QuoteReplies))
		}
		_ = tw.Flush()
		return 0
	})
	return c
}

func cmdGroupsAdd(e env) *cobra.Command {
	c := &cobra.Command{
		Use:   "add --jid JID --folder FOLDER",
		Short: "Register a chat: the assistant answers it with its own folder and container",
		Long: `Register a chat. Creates groups/FOLDER/ with its CLAUDE.md from templates/main.md (--main)
or templates/group.md. The chat answers messages that start with its trigger unless
--no-trigger-required. Adding a registered chat again updates it; moving it to another folder
needs --move, and there is one main (admin) group unless --force.`,
		Example: `  nanoclaw groups add --jid local:work --folder work
  nanoclaw groups add --jid 120363000000000000@g.us --folder family --name Family --trigger @Andy
  nanoclaw groups add --jid 15551234567@s.whatsapp.net --folder me --no-trigger-required
  nanoclaw groups add --jid local:work --folder office --move`,
		Args: cobra.NoArgs,
	}
	fs := c.Flags()
	jid := fs.String("jid", "", "chat id: local:NAME, or a WhatsApp JID such as 1203...@g.us")
	name := fs.String("name", "", "display name (default: the folder)")
	folder := fs.String("folder", "", "folder under groups/: ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
	trigger := fs.String("trigger", "", "trigger word, starting with @ (default @<ASSISTANT_NAME>)")
	noTrigger := fs.Bool("no-trigger-required", false, "answer every message, not only triggered ones")
	isMain := fs.Bool("main", false, "make this the main (admin) group")
	config := fs.String("container-config", "", `containerConfig JSON, e.g. {"additionalMounts":[{"hostPath":"~/src","readonly":true}]}`)
	force := fs.Bool("force", false, "allow a second main group, or make the main group an ordinary one")
	move := fs.Bool("move", false, "move a registered chat to the new --folder (the old folder is kept)")
	quote := fs.Bool("quote-replies", false, quoteRepliesHelp)
	c.RunE = body(func(ctx context.Context, c *cobra.Command, _ []string) int {
		if *jid == "" {
			return usage(c, "--jid is required")
		}
		if *folder == "" {
			return usage(c, "--folder is required")
		}
		if err := groupreg.CheckJID(*jid); err != nil {
			return usage(c, "%v", err)
		}
		if *trigger != "" {
			if err := groupreg.CheckTrigger(*trigger); err != nil {
				return usage(c, "%v", err)
			}
		}
		if *config != "" && !json.Valid([]byte(*config)) {
			return usage(c, "--container-config is not valid JSON")
		}
		s, st, ok := openGroups(ctx, e)
		if !ok {
			return 2
		}
		defer st.Close()
		*jid = phoneForLID(ctx, filepath.Join(s.paths.Root, "store"), *jid, e)
		g := store.Group{JID: *jid, Name: *name, Folder: *folder, Trigger: *trigger, RequiresTrigger: !*noTrigger,
			IsMain: *isMain, AddedAt: store.Timestamp(timeNow())}
		if g.Name == "" {
			g.Name = g.Folder
		}
		if fs.Changed("quote-replies") {
			g.QuoteReplies = quote
		}
		if g.Trigger == "" {
			g.Trigger = "@" + s.AssistantName
		}
		if *config != "" {
			g.ContainerConfig = json.RawMessage(*config)
		}
		registered, err := st.RegisteredGroups(ctx)
		if err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw:", err)
			return 2
		}
		if err := groupreg.Check(g, registered, groupreg.Options{Force: *force, Move: *move}); err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw groups add:", err)
			return 1
		}
		// Warnings (a CLAUDE.md left alone because it is a link) go to the operator.
		log, err := logging.New(logging.Options{Level: "warn", Output: e.stderr})
		if err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw:", err)
			return 2
		}
		agents, err := agentFS(s.paths.Root, log)
		if err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw:", err)
			return 1
		}
		if err := daemon.PrepareGroupDirs(agents, g.Folder, g.IsMain, s.AssistantName); err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw:", err)
			return 1
		}
		if err := st.SetRegisteredGroup(ctx, g); err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw groups add:", err)
			return 1
		}
		fmt.Fprintf(e.stdout, "registered %s as %s\n", g.JID, g.Folder)
		return reloadGroups(ctx, s, e)
	})
	return c
}

func cmdGroupsRemove(e env) *cobra.Command {
	c := &cobra.Command{
		Use:     "remove --jid JID",
		Short:   "Unregister a chat; its folder and message history are kept",
		Example: "  nanoclaw groups remove --jid local:work",
		Args:    cobra.NoArgs,
	}
	jid := c.Flags().String("jid", "", "chat id to unregister (its folder and history are kept)")
	c.RunE = body(func(ctx context.Context, c *cobra.Command, _ []string) int {
		if *jid == "" {
			return usage(c, "--jid is required")
		}
		s, st, ok := openGroups(ctx, e)
		if !ok {
			return 2
		}
		defer st.Close()
		if _, ok, _ := st.RegisteredGroup(ctx, *jid); !ok {
			fmt.Fprintf(e.stderr, "nanoclaw groups remove: %s is not registered (see nanoclaw groups list)\n", *jid)
			return 1
		}
		if err := st.DeleteRegisteredGroup(ctx, *jid); err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw groups remove:", err)
			return 1
		}
		fmt.Fprintf(e.stdout, "unregistered %s (its folder and history are kept)\n", *jid)
		return reloadGroups(ctx, s, e)
	})
	return c
}

func cmdGroupsReset(e env) *cobra.Command {
	c := &cobra.Command{
		Use:     "reset --folder FOLDER",
		Short:   "Start a fresh conversation for a group, as /new in its chat does (CLAUDE.md is kept)",
		Example: "  nanoclaw groups reset --folder family",
		Args:    cobra.NoArgs,
	}
	folder := c.Flags().String("folder", "", "the group whose conversation starts afresh")
	c.RunE = body(func(ctx context.Context, c *cobra.Command, _ []string) int {
		if *folder == "" {
			return usage(c, "--folder is required")
		}
		s, st, ok := openGroups(ctx, e)
		if !ok {
			return 2
		}
		defer st.Close()
		if _, ok, _ := st.GroupByFolder(ctx, *folder); !ok {
			fmt.Fprintf(e.stderr, "nanoclaw groups reset: no registered group has the folder %q (see nanoclaw groups list)\n", *folder)
			return 1
		}
		// A running host must forget the session itself (and close the group's
		// container), or the container's next answer would store it again.
		var ok2 map[string]bool
		err := control.PostJSON(ctx, s.paths.ControlSocket, "/groups/"+*folder+"/reset", &ok2)
		switch {
		case errors.Is(err, control.ErrNoHost):
			if err := st.DeleteSession(ctx, *folder); err != nil {
				fmt.Fprintln(e.stderr, "nanoclaw groups reset:", err)
				return 1
			}
		case err != nil:
			fmt.Fprintln(e.stderr, "nanoclaw groups reset: the running host refused:", err)
			return 1
		}
		fmt.Fprintf(e.stdout, "%s starts a new conversation with its next message (its CLAUDE.md memory is kept)\n", *folder)
		return 0
	})
	return c
}

// phoneForLID registers a WhatsApp LID chat under its phone-number JID when the WhatsApp
// store knows the mapping, since that is how inbound messages are filed; either form may be
// given.
func phoneForLID(ctx context.Context, storeDir, jid string, e env) string {
	if !strings.HasSuffix(jid, "@lid") {
		return jid
	}
	if _, err := os.Stat(filepath.Join(storeDir, whatsapp.StoreFile)); err != nil {
		return jid
	}
	c, err := whatsapp.OpenStore(ctx, storeDir, nil)
	if err != nil {
		return jid
	}
	defer c.Close()
	dev, err := c.GetFirstDevice(ctx)
	if err != nil || dev.ID == nil {
		return jid
	}
	lid, err := types.ParseJID(jid)
	if err != nil {
		return jid
	}
	if pn, ok := (whatsapp.DeviceIdentity{Device: dev}).PNForLID(ctx, lid); ok {
		fmt.Fprintf(e.stdout, "%s is %s: registering the phone-number form\n", jid, pn)
		return pn.String()
	}
	return jid
}
