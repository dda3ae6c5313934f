package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"go.mau.fi/whatsmeow/types"

	"github.com/nanoclaw/nanoclaw-go/host/channel/whatsapp"
	"github.com/nanoclaw/nanoclaw-go/host/control"
	"github.com/nanoclaw/nanoclaw-go/host/daemon"
	"github.com/nanoclaw/nanoclaw-go/host/logging"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// cmdGroups registers, lists and removes groups. It writes the store directly (SQLite in WAL
// mode takes a second writer) and then asks a running host to reload its group cache.
func cmdGroups(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "usage: nanoclaw groups add|list|remove|reset [flags]")
		return 2
	}
	s, err := loadSettings(e)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	st, err := store.Open(ctx, filepath.Join(s.paths.Root, "store", "nanoclaw.db"))
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	defer st.Close()
	fs := flag.NewFlagSet("groups "+args[0], flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	switch args[0] {
	case "list":
		asJSON := fs.Bool("json", false, "print JSON")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
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
		fmt.Fprintln(tw, "FOLDER\tJID\tNAME\tTRIGGER\tREQUIRES TRIGGER\tMAIN")
		for _, g := range groups {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%v\n", g.Folder, g.JID, g.Name, g.Trigger, g.RequiresTrigger, g.IsMain)
		}
		_ = tw.Flush()
		return 0
	case "add":
		jid := fs.String("jid", "", "chat id (WhatsApp JID such as 1203...@g.us, or local:<name>)")
		name := fs.String("name", "", "display name")
		folder := fs.String("folder", "", "folder under groups/: ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
		trigger := fs.String("trigger", "", "trigger word (default @<ASSISTANT_NAME>)")
		noTrigger := fs.Bool("no-trigger-required", false, "answer every message, not only triggered ones")
		isMain := fs.Bool("main", false, "make this the main (admin) group")
		config := fs.String("container-config", "", `containerConfig JSON, e.g. {"additionalMounts":[{"hostPath":"~/src","readonly":true}]}`)
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if *jid == "" || *folder == "" {
			fmt.Fprintln(e.stderr, "nanoclaw groups add: --jid and --folder are required")
			return 2
		}
		*jid = phoneForLID(ctx, filepath.Join(s.paths.Root, "store"), *jid, e)
		g := store.Group{JID: *jid, Name: *name, Folder: *folder, Trigger: *trigger, RequiresTrigger: !*noTrigger,
			IsMain: *isMain, AddedAt: store.Timestamp(timeNow())}
		if g.Name == "" {
			g.Name = g.Folder
		}
		if g.Trigger == "" {
			g.Trigger = "@" + s.AssistantName
		}
		if *config != "" {
			if !json.Valid([]byte(*config)) {
				fmt.Fprintln(e.stderr, "nanoclaw groups add: --container-config is not valid JSON")
				return 2
			}
			g.ContainerConfig = json.RawMessage(*config)
		}
		if other, ok, err := st.GroupByFolder(ctx, g.Folder); err == nil && ok && other.JID != g.JID {
			fmt.Fprintf(e.stderr, "nanoclaw groups add: folder %q already belongs to %s\n", g.Folder, other.JID)
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
	case "remove":
		jid := fs.String("jid", "", "chat id to unregister (its folder and history are kept)")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if *jid == "" {
			fmt.Fprintln(e.stderr, "nanoclaw groups remove: --jid is required")
			return 2
		}
		if _, ok, _ := st.RegisteredGroup(ctx, *jid); !ok {
			fmt.Fprintf(e.stderr, "nanoclaw groups remove: %s is not registered\n", *jid)
			return 1
		}
		if err := st.DeleteRegisteredGroup(ctx, *jid); err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw groups remove:", err)
			return 1
		}
		fmt.Fprintf(e.stdout, "unregistered %s (its folder and history are kept)\n", *jid)
	case "reset":
		folder := fs.String("folder", "", "the group whose conversation starts afresh")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if *folder == "" {
			fmt.Fprintln(e.stderr, "nanoclaw groups reset: --folder is required")
			return 2
		}
		if _, ok, _ := st.GroupByFolder(ctx, *folder); !ok {
			fmt.Fprintf(e.stderr, "nanoclaw groups reset: no registered group has the folder %q (see nanoclaw groups list)\n", *folder)
			return 1
		}
		// A running host must forget the session itself (and close the group's
		// container), or the container's next answer would store it again.
		var ok map[string]bool
		err := control.PostJSON(ctx, s.paths.ControlSocket, "/groups/"+*folder+"/reset", &ok)
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
	default:
		fmt.Fprintf(e.stderr, "nanoclaw groups: unknown subcommand %q\n", args[0])
		return 2
	}
	var ok map[string]bool
	if err := control.PostJSON(ctx, s.paths.ControlSocket, "/groups/reload", &ok); err != nil && !errors.Is(err, control.ErrNoHost) {
		fmt.Fprintln(e.stderr, "nanoclaw: the running host did not reload its groups:", err)
		return 1
	}
	return 0
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
