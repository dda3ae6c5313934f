package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/pipeline"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// OnChatMetadata records every chat any channel sees, registered or not. Channels call it
// before every message; once a chat is stored with this name and kind, only its last
// activity changes, and that moves with the message itself (StoreMessage), so the store
// is written here only when something else is new.
func (d *Daemon) OnChatMetadata(ctx context.Context, m channel.ChatMeta) error {
	ts := ""
	if !m.Time.IsZero() {
		ts = store.Timestamp(m.Time)
	}
	key := chatKey{name: m.Name, channel: m.Channel, isGroup: m.IsGroup}
	d.chatsMu.Lock()
	known := d.chats[m.JID] == key
	d.chatsMu.Unlock()
	if known {
		return nil
	}
	if err := d.cfg.Store.StoreChatMetadata(ctx, store.Chat{JID: m.JID, Name: m.Name, LastMessageTime: ts, Channel: m.Channel, IsGroup: m.IsGroup}); err != nil {
		return err
	}
	d.chatsMu.Lock()
	d.chats[m.JID] = key
	d.chatsMu.Unlock()
	return nil
}

// chatKey is what OnChatMetadata last stored of a chat, apart from its activity.
type chatKey struct {
	name, channel string
	isGroup       bool
}

// OnMessage takes one inbound message: the route plugin decides whether it is dropped,
// kept as context, or delivered to a group's agent. A message is stored before anything
// else happens to it, so a crash from here on loses nothing.
func (d *Daemon) OnMessage(ctx context.Context, m store.Message) error {
	return d.onMessage(ctx, m, nil)
}

// OnMediaMessage is OnMessage for a message that came with files: once the route says
// which group's agent will see it, the files are fetched and kept in that group's folder
// (within the media caps), and the stored message names them. Nothing is fetched for a
// message that is dropped or whose chat has no group.
func (d *Daemon) OnMediaMessage(ctx context.Context, m store.Message, files []channel.Media) error {
	return d.onMessage(ctx, m, files)
}

var _ channel.MediaSink = (*Daemon)(nil)

func (d *Daemon) onMessage(ctx context.Context, m store.Message, files []channel.Media) error {
	g, registered := d.groups.ByJID(m.ChatJID)
	if registered {
		m = d.nameQuoted(ctx, m)
	}
	if registered && !m.IsBotMessage && isNewConversation(m.Content, d.cfg.Settings.AssistantName) {
		return d.newConversationCommand(ctx, m, g)
	}
	var dec routeDecision
	if m.IsBotMessage {
		// The assistant's own words (an echo of what it sent): kept as history, never
		// routed or answered.
		if !registered {
			return nil
		}
		dec.Action = protocol.ActionStore
	} else {
		dec = d.route(ctx, m, g, registered)
	}
	switch dec.Action {
	case protocol.ActionIgnore:
		d.log.Debug("message ignored", "chat", m.ChatJID, "reason", dec.Reason, "by", dec.DecidedBy)
		return nil
	case protocol.ActionStore, protocol.ActionDeliver:
	default: // no route plugin decided: never start an agent on that
		if !registered {
			return nil
		}
		d.log.Warn("no route plugin decided; message kept as context", "chat", m.ChatJID)
		dec.Action = protocol.ActionStore
	}
	target := g
	elsewhere := false
	if dec.Action == protocol.ActionDeliver && dec.Group != "" && dec.Group != g.Folder {
		t, ok := d.groups.ByFolder(dec.Group)
		if !ok {
			d.log.Warn("route plugin delivered to an unknown group; kept as context", "group", dec.Group, "by", dec.DecidedBy)
			dec.Action = protocol.ActionStore
		} else {
			// The message is consumed here: the other group's agent answers it, so it is
			// not pending for this chat's agent too.
			target, elsewhere = t, true
			m.HandledAs = "routed:" + t.Folder
		}
	}
	m.RouteAction = dec.Action // a backlog is later worked through by it
	if len(files) > 0 && target.Folder != "" {
		m.Attachments = d.media.Save(ctx, target.Folder, m.ID, files)
	}
	if elsewhere {
		// A routing plugin sent the message to another group: it joins that group's chat,
		// so that group's agent sees it and replies there. The copy is stored first: should
		// storing the original then fail, the message is still answered, never consumed
		// here and lost. The target's chat may never have had a message of its own yet.
		if err := d.cfg.Store.StoreChatMetadata(ctx, store.Chat{JID: target.JID, LastMessageTime: m.Timestamp}); err != nil {
			return fmt.Errorf("store routed message's chat: %w", err)
		}
		fwd := m
		fwd.ID, fwd.ChatJID, fwd.HandledAs = routedID(m.ChatJID, m.ID), target.JID, ""
		if err := d.cfg.Store.StoreMessage(ctx, fwd); err != nil {
			return fmt.Errorf("store routed message: %w", err)
		}
	}
	if err := d.cfg.Store.StoreMessage(ctx, m); err != nil {
		return fmt.Errorf("store message: %w", err)
	}
	if dec.Action != protocol.ActionDeliver {
		return nil
	}
	d.deliver(ctx, target)
	return nil
}

// isNewConversation reports whether a message is the chat command that starts a fresh
// conversation: /new (or NanoClaw users' /reset), alone, optionally after the trigger.
func isNewConversation(content, assistant string) bool {
	c := strings.TrimSpace(content)
	if rest, ok := cutPrefixFold(c, "@"+assistant); ok {
		c = strings.TrimSpace(rest)
	}
	return strings.EqualFold(c, "/new") || strings.EqualFold(c, "/reset")
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// newConversationCommand handles /new in a group's chat: the message is kept (not pending),
// the group's conversation starts afresh, and the chat is told.
func (d *Daemon) newConversationCommand(ctx context.Context, m store.Message, g store.Group) error {
	m.HandledAs = "command:new"
	if err := d.cfg.Store.StoreMessage(ctx, m); err != nil {
		return fmt.Errorf("store message: %w", err)
	}
	if err := d.ResetConversation(ctx, g.Folder, "chat"); err != nil {
		return err
	}
	const done = "Starting a new conversation: I won't see our earlier messages any more. What the group's memory file (CLAUDE.md) holds is kept."
	if err := d.queueSend(ctx, g.JID, done, "command:new"); err != nil {
		d.log.Error("confirming /new", "chat", g.JID, "error", err)
	}
	return nil
}

// ResetConversation starts a fresh conversation for the group in folder: its session is
// forgotten (the transcript stays in its session store), and a running container is asked
// to close, so the next message starts with no history. by says who asked, for the log.
func (d *Daemon) ResetConversation(ctx context.Context, folder, by string) error {
	g, ok := d.groups.ByFolder(folder)
	if !ok {
		return fmt.Errorf("no registered group has the folder %q", folder)
	}
	d.mu.Lock()
	d.resets[folder]++
	d.mu.Unlock()
	if err := d.cfg.Store.DeleteSession(ctx, folder); err != nil {
		return fmt.Errorf("reset conversation of %s: %w", folder, err)
	}
	d.queue.CloseRun(g.JID)
	d.log.Info("conversation reset", "group", folder, "by", by)
	return nil
}

// route asks the route plugin chain about a message.
func (d *Daemon) route(ctx context.Context, m store.Message, g store.Group, registered bool) (dec routeDecision) {
	req := protocol.RouteRequest{AssistantName: d.cfg.Settings.AssistantName, Message: protocol.Message{
		ID: m.ID, ChatJID: m.ChatJID, Sender: m.Sender, SenderName: m.SenderName, Content: m.Content,
		Timestamp: m.Timestamp, IsFromMe: m.IsFromMe, IsBotMessage: m.IsBotMessage}}
	if registered {
		pg := toProtocol(g)
		req.Group = &pg
	}
	r := d.cfg.Policy.DecideRoute(ctx, &req)
	return routeDecision{Action: r.Action, Group: r.Group, Reason: r.Reason, DecidedBy: r.DecidedBy}
}

type routeDecision struct{ Action, Group, Reason, DecidedBy string }

// deliver hands a group's pending messages to its running container when there is one
// (a follow-up: no new container), else asks the queue for a run. While the host stops it
// does neither: the message is stored, and answered after the restart.
func (d *Daemon) deliver(ctx context.Context, g store.Group) {
	if d.stopping.Load() {
		return
	}
	if d.pipe(ctx, g) {
		return
	}
	d.queue.EnqueueMessageCheck(g.JID, g.Folder)
}

// pipe hands the group's pending messages to its running container as a follow-up and
// advances the cursor; false when no message container is running for the group. It holds
// pipeMu throughout, so the end of a run (settle) sees every piped follow-up.
func (d *Daemon) pipe(ctx context.Context, g store.Group) bool {
	d.pipeMu.Lock()
	defer d.pipeMu.Unlock()
	cursor, err := d.cursor(ctx, g.JID)
	if err != nil {
		d.log.Error("read cursor", "chat", g.JID, "error", err)
		return false
	}
	pending, err := d.nextBatch(ctx, g, cursor)
	if err != nil || len(pending) == 0 {
		return false
	}
	text := pipeline.FormatMessages(pending, d.cfg.Settings.Location)
	last := pending[len(pending)-1].Timestamp
	ok, err := d.answers.giveVia(ctx, g.JID, cursor, last, triggerID(pending), func() (int64, bool) { return d.queue.SendMessage(g.JID, text) })
	if !ok {
		return false
	}
	if err != nil {
		// The follow-up is with the container, but neither marker nor cursor moved: it is
		// pending again after a crash, and taken back if the container never answers it.
		d.log.Error("mark follow-up in flight", "chat", g.JID, "error", err)
	}
	d.markRead(ctx, g.JID, pending)
	d.typing(ctx, g.JID, true)
	return true
}

// settle runs when a message container has exited: the inputs it never answered (a
// follow-up it never read, a turn it did not finish) are taken back — the cursor returns to
// before the oldest of them and the marker is cleared — and their number is returned.
func (d *Daemon) settle(ctx context.Context, g store.Group) int {
	d.pipeMu.Lock()
	defer d.pipeMu.Unlock()
	d.queue.Stopped(g.JID)
	before, n := d.answers.takeBack(g.JID)
	if n == 0 {
		return 0
	}
	if err := d.cfg.Store.SetAgentCursor(ctx, g.JID, before); err != nil {
		d.log.Error("take back unanswered messages", "chat", g.JID, "error", err)
		return n // the marker stays: the next host puts the cursor back
	}
	if err := d.cfg.Store.SetState(ctx, inflightKey(g.JID), ""); err != nil {
		d.log.Error("clear in-flight marker", "chat", g.JID, "error", err)
	}
	return n
}

func (d *Daemon) botPrefix() string { return d.cfg.Settings.AssistantName + ":" }

// backlogLimit bounds how far past its cursor a chat's backlog is read for one batch.
const backlogLimit = 1000

// nextBatch is what the chat's agent should be given next, oldest first: the first message
// that asked for the agent (its route verdict was deliver) after the cursor, with the
// context before it (MAX_MESSAGES_PER_PROMPT in all, as NanoClaw: older context is left
// out), and as many later messages as still fit, up to the last that asked for the agent.
// A backlog (a host that was down, a crash) is so worked through a batch at a time, and no
// message that asked for the agent is ever skipped; context alone starts nothing. With no
// cursor at all (a chat whose history predates its agent) only the newest batch counts, as
// NanoClaw: an old history is not replayed. Nil means nothing to do.
func (d *Daemon) nextBatch(ctx context.Context, g store.Group, cursor string) ([]store.Message, error) {
	n := d.cfg.Settings.MaxMessagesPerPrompt
	var pending []store.Message
	var err error
	if cursor == "" {
		pending, err = d.cfg.Store.MessagesSince(ctx, g.JID, cursor, d.botPrefix(), n)
	} else {
		pending, err = d.cfg.Store.MessagesAfter(ctx, g.JID, cursor, d.botPrefix(), backlogLimit)
	}
	if err != nil || len(pending) == 0 {
		return nil, err
	}
	asks := func(m store.Message) bool {
		if m.RouteAction != "" {
			return m.RouteAction == protocol.ActionDeliver
		}
		// Stored before verdicts were kept: ask the route plugin now.
		return d.route(ctx, m, g, true).Action == protocol.ActionDeliver
	}
	first := slices.IndexFunc(pending, asks)
	if first < 0 {
		return nil, nil
	}
	start := max(0, first-n+1)
	end := first
	for i := first + 1; i < len(pending) && i < start+n; i++ {
		if asks(pending[i]) {
			end = i
		}
	}
	return pending[start : end+1], nil
}

// cursor is the chat's agent cursor; with none yet, NanoClaw's recovery: the time of the
// assistant's last message there, so a fresh host does not replay the whole history.
func (d *Daemon) cursor(ctx context.Context, jid string) (string, error) {
	c, err := d.cfg.Store.AgentCursor(ctx, jid)
	if err != nil || c != "" {
		return c, err
	}
	c, err = d.cfg.Store.LastBotMessageTime(ctx, jid, d.botPrefix())
	if err != nil || c == "" {
		return c, err
	}
	return c, d.cfg.Store.SetAgentCursor(ctx, jid, c)
}

// restoreInflight rolls back the cursors of runs a dead host left unanswered.
func (d *Daemon) restoreInflight(ctx context.Context) error {
	for _, g := range d.groups.All() {
		v, _, err := d.cfg.Store.State(ctx, inflightKey(g.JID))
		if err != nil {
			return fmt.Errorf("restore interrupted runs: %w", err)
		}
		prev, ok := strings.CutPrefix(v, inflightPrefix)
		if !ok {
			continue
		}
		if err := d.cfg.Store.SetAgentCursor(ctx, g.JID, prev); err != nil {
			return fmt.Errorf("restore interrupted runs: %w", err)
		}
		if err := d.cfg.Store.SetState(ctx, inflightKey(g.JID), ""); err != nil {
			return fmt.Errorf("restore interrupted runs: %w", err)
		}
		d.log.Info("a run was interrupted before it answered; its messages are pending again", "chat", g.JID)
	}
	return nil
}

// recoverPending starts a run for every group with messages that asked for its agent and
// no agent has answered: sent while the host was down, or left by a failed run.
func (d *Daemon) recoverPending(ctx context.Context) {
	for _, g := range d.groups.All() {
		if more, err := d.hasBatch(ctx, g); err != nil {
			d.log.Error("recovery: pending messages", "chat", g.JID, "error", err)
		} else if more {
			d.log.Info("recovery: pending messages", "chat", g.JID)
			d.queue.EnqueueMessageCheck(g.JID, g.Folder)
		}
	}
}

// hasBatch reports whether the chat has messages its agent should be given.
func (d *Daemon) hasBatch(ctx context.Context, g store.Group) (bool, error) {
	cursor, err := d.cursor(ctx, g.JID)
	if err != nil {
		return false, err
	}
	batch, err := d.nextBatch(ctx, g, cursor)
	return len(batch) > 0, err
}

// typing shows or hides the typing indicator, best effort.
func (d *Daemon) typing(ctx context.Context, jid string, on bool) {
	if ch, ok := d.chans.Owner(jid); ok {
		if err := ch.SetTyping(ctx, jid, on); err != nil {
			d.log.Debug("typing indicator", "chat", jid, "error", err)
		}
	}
}

// send delivers text to a chat through its channel, split under the channel's limit. The
// first part quotes the message replyTo when the chat quotes replies (quote.go).
func (d *Daemon) send(ctx context.Context, jid, text, replyTo string) error {
	ch, ok := d.chans.Owner(jid)
	if !ok {
		return fmt.Errorf("no connected channel owns chat %s", jid)
	}
	q, quoting := d.quoteFor(ctx, ch, jid, replyTo)
	for i, part := range pipeline.SplitMessage(text, ch.MaxMessageLen()) {
		if i == 0 && quoting {
			if err := ch.(channel.Quoter).SendQuoting(ctx, jid, part, q); err != nil {
				return fmt.Errorf("send to %s: %w", jid, err)
			}
			continue
		}
		if err := ch.Send(ctx, jid, part); err != nil {
			return fmt.Errorf("send to %s: %w", jid, err)
		}
	}
	return nil
}
