// Package groupreg holds the rules a chat's registration must meet, shared by `nanoclaw
// groups add` and the main agent's register_group request, so that each refusal reads the
// same and tells the user what to do instead.
package groupreg

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/nanoclaw/nanoclaw-go/host/channel/local"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// ErrOtherChannel marks a chat id that is neither a local nor a WhatsApp one: the host
// accepts it only when a running channel owns it; the CLI, which runs no channel, refuses it.
var ErrOtherChannel = errors.New("not a local or WhatsApp chat id")

// ErrInvalid marks every other refusal, so callers can tell a bad request from a failure.
var ErrInvalid = errors.New("invalid registration")

var (
	waUser  = regexp.MustCompile(`^[0-9]{1,20}@s\.whatsapp\.net$`)
	waGroup = regexp.MustCompile(`^[0-9]{1,20}(-[0-9]{1,20})?@g\.us$`)
	waLID   = regexp.MustCompile(`^[0-9]{1,20}@lid$`)
)

const jidForms = "local:NAME for a local chat, or a WhatsApp id: <digits>@s.whatsapp.net (a person), " +
	"<digits>@g.us or <digits>-<digits>@g.us (a group), <digits>@lid"

// refusal is a message for the user that is still recognisable as ErrInvalid or
// ErrOtherChannel, without their text in front of it.
type refusal struct {
	msg  string
	kind error
}

func (r *refusal) Error() string        { return r.msg }
func (r *refusal) Is(target error) bool { return target == r.kind }

func refuse(kind error, format string, a ...any) error {
	return &refusal{msg: fmt.Sprintf(format, a...), kind: kind}
}

// CheckJID checks a chat id by its channel's form: local:NAME (local.ValidChat), or
// WhatsApp's person, group and LID forms. Any other id is ErrOtherChannel.
func CheckJID(jid string) error {
	switch {
	case strings.HasPrefix(jid, "local:"):
		if !local.ValidChat(jid) {
			return refuse(ErrInvalid, "%q is not a local chat id: want local:NAME, NAME of letters, digits, '.', '_' or '-' (at most 64)", jid)
		}
	case strings.HasSuffix(jid, "@s.whatsapp.net"):
		if !waUser.MatchString(jid) {
			hint := ""
			if strings.HasPrefix(jid, "+") {
				hint = fmt.Sprintf(" (without the +: %s)", strings.TrimPrefix(jid, "+"))
			}
			return refuse(ErrInvalid, "%q is not a WhatsApp person's id: want the phone number with country code, digits only, then @s.whatsapp.net%s", jid, hint)
		}
	case strings.HasSuffix(jid, "@g.us"):
		if !waGroup.MatchString(jid) {
			return refuse(ErrInvalid, "%q is not a WhatsApp group id: want <digits>@g.us or <digits>-<digits>@g.us (the main group's agent lists them with available_groups)", jid)
		}
	case strings.HasSuffix(jid, "@lid"):
		if !waLID.MatchString(jid) {
			return refuse(ErrInvalid, "%q is not a WhatsApp LID: want <digits>@lid", jid)
		}
	case strings.Contains(jid, "@"):
		return refuse(ErrInvalid, "%q is not a chat id this host registers: use %s", jid, jidForms)
	default:
		return refuse(ErrOtherChannel, "%q is not a chat id: use %s", jid, jidForms)
	}
	return nil
}

// CheckTrigger checks a trigger word: "@" and at least one more character, on one line, as
// in "@Andy". Without the "@" ordinary words would wake the assistant.
func CheckTrigger(trigger string) error {
	word, ok := strings.CutPrefix(trigger, "@")
	switch {
	case !ok && strings.TrimSpace(trigger) != "":
		return refuse(ErrInvalid, "trigger %q must start with @, as in @%s", trigger, strings.TrimSpace(trigger))
	case !ok:
		return refuse(ErrInvalid, "trigger %q must be @ and a word, as in @Andy", trigger)
	case strings.TrimSpace(word) == "" || word != strings.TrimSpace(word):
		return refuse(ErrInvalid, "trigger %q must be @ and a word, as in @Andy", trigger)
	case strings.ContainsAny(word, "\r\n"):
		return refuse(ErrInvalid, "trigger %q must be on one line", trigger)
	}
	return nil
}

// Options are the user's explicit consents to what Check otherwise refuses.
type Options struct {
	// Force allows a second main group, and taking main away from the main group.
	Force bool
	// Move allows a registered chat to change its folder.
	Move bool
}

// Check refuses a registration g, given what is registered, that would: give a folder of
// another chat to g; move a registered chat to another folder (unless Move); make a second
// main group, or make the main group an ordinary one (unless Force). It does not check the
// JID or trigger (CheckJID, CheckTrigger) nor the folder's form (the daemon does).
func Check(g store.Group, registered []store.Group, o Options) error {
	for _, r := range registered {
		if r.JID != g.JID && r.Folder == g.Folder {
			return refuse(ErrInvalid, "folder %q already belongs to %s: choose another --folder, or unregister that chat first (nanoclaw groups remove --jid %s)", g.Folder, r.JID, r.JID)
		}
	}
	for _, r := range registered {
		switch {
		case r.JID == g.JID && r.Folder != g.Folder && !o.Move:
			return refuse(ErrInvalid, "%s is registered with the folder %q: pass --move to move it to %q (groups/%s and its history stay where they are), or --folder %s to change its other settings", g.JID, r.Folder, g.Folder, r.Folder, r.Folder)
		case r.JID == g.JID && r.IsMain && !g.IsMain && !o.Force:
			return refuse(ErrInvalid, "%s is the main group: add --main to keep it main, or --force to make it an ordinary group", g.JID)
		case r.JID != g.JID && r.IsMain && g.IsMain && !o.Force:
			return refuse(ErrInvalid, "%s (folder %s) is already the main group, and one main group administers all the others: add this chat without --main, or pass --force for a second main group", r.JID, r.Folder)
		}
	}
	return nil
}
