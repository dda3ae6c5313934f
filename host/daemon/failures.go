package daemon

import (
	"context"
	"strings"

	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// failureImage is a run that could not start because the agent image is missing.
const failureImage = "image"

// runFailed decides what follows a failed message run that left inputs unanswered (they
// were taken back: the messages are pending again) and reports whether the queue is done
// with it (true) or should retry on its schedule (false). Transient failures are retried,
// and the chat is told only when the queue gives up; a failure retrying cannot mend is not
// retried on a timer, and the chat is told once what happened and what happens next.
func (d *Daemon) runFailed(ctx context.Context, g store.Group, kind, detail string, hadSession bool, left int) bool {
	switch kind {
	case runproto.ErrorContext:
		if hadSession {
			// The conversation outgrew the model: start a fresh one (the old transcript
			// stays in the session store) and answer again at once.
			d.log.Warn("the conversation is too long for the model; starting a new one", "group", g.Folder, "error", detail)
			if err := d.ResetConversation(ctx, g.Folder, "context overflow"); err != nil {
				d.log.Error("reset an overlong conversation", "group", g.Folder, "error", err)
			}
			d.notify(ctx, g, "context-reset", "Our conversation got too long for the model, so I started a new one: I won't see our earlier messages any more (the group's memory in CLAUDE.md is kept). Answering your message now.")
			d.queue.EnqueueMessageCheck(g.JID, g.Folder)
			return true
		}
		d.notify(ctx, g, kind, "I can't answer: your message is too long for the model even in a new conversation. Try a shorter one.")
	case runproto.ErrorAuth:
		d.notify(ctx, g, kind, "I can't answer: the model API refused the host's credentials. The host's owner needs to fix the key or token in .env; I'll answer when the next message arrives after that.")
	case runproto.ErrorBudget:
		d.notify(ctx, g, kind, "I can't answer now: this group has used its daily token budget. I'll answer when a message arrives after midnight.")
	case runproto.ErrorConfig:
		d.notify(ctx, g, kind, "I can't answer: the model API rejected the request ("+short(detail)+"). The host's owner needs to check its settings; I'll answer when the next message arrives after that.")
	case failureImage:
		d.notify(ctx, g, kind, "I can't start: the agent image is missing on the host. The host's owner can build it with `make image`; I'll answer when the next message arrives after that.")
	default:
		d.log.Warn("agent failed; its unanswered messages will be retried", "chat", g.JID, "inputs", left, "error", detail)
		d.mu.Lock()
		d.lastFailure[g.JID] = detail
		d.mu.Unlock()
		return false
	}
	d.log.Warn("agent failed in a way retrying cannot mend; the messages wait for the next one", "chat", g.JID, "kind", kind, "error", detail)
	return true
}

// gaveUp is the queue's word that a chat's retries are spent: the chat is told once.
func (d *Daemon) gaveUp(jid string) {
	g, ok := d.groups.ByJID(jid)
	if !ok {
		return
	}
	d.mu.Lock()
	detail := d.lastFailure[jid]
	d.mu.Unlock()
	d.notify(context.Background(), g, "gave-up", "I couldn't reach the model after several tries ("+short(detail)+"). I'll try again when the next message arrives.")
}

// notify tells a chat, once per kind of trouble until it is answered again, what went
// wrong: the same failure repeating does not repeat the message.
func (d *Daemon) notify(ctx context.Context, g store.Group, kind, text string) {
	d.mu.Lock()
	if d.notified[g.JID] == kind {
		d.mu.Unlock()
		return
	}
	d.notified[g.JID] = kind
	d.mu.Unlock()
	if err := d.queueSend(ctx, g.JID, text, "notice:"+kind); err != nil {
		d.log.Error("telling the chat about a failure", "chat", g.JID, "error", err)
	}
}

// recovered records that a chat was answered: its next failure is told again.
func (d *Daemon) recovered(jid string) {
	d.mu.Lock()
	delete(d.notified, jid)
	delete(d.lastFailure, jid)
	d.mu.Unlock()
}

// short is the first line of an error, at most 160 characters, for a chat message.
func short(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > 160 {
		s = string(r[:160]) + "…"
	}
	if s == "" {
		return "no details"
	}
	return s
}
