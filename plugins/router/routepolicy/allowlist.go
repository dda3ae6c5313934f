package routepolicy

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/nanoclaw/nanoclaw-go/plugins/wire"
)

// Mode says what happens to a message from a sender an allowlist entry does not allow.
type Mode uint8

// The allowlist modes, as NanoClaw names them in the file.
const (
	// ModeTrigger stores the message as context but does not let it start the agent.
	ModeTrigger Mode = iota
	// ModeDrop does not even store the message.
	ModeDrop
)

// String is the mode's name in the file, for logs.
func (m Mode) String() string {
	if m == ModeDrop {
		return "drop"
	}
	return "trigger"
}

// Entry is one allowlist rule: who is allowed, and what happens to everyone else.
type Entry struct {
	AllowAll bool                // "allow": "*"
	Allow    map[string]struct{} // "allow": [ids...] when !AllowAll; empty denies everyone
	Mode     Mode
}

// Allows reports whether sender passes the entry. Senders are compared exactly, as NanoClaw
// does: a sender id is a JID, not a display name.
func (e Entry) Allows(sender string) bool {
	if e.AllowAll {
		return true
	}
	_, ok := e.Allow[sender]
	return ok
}

// Allowlist is NanoClaw's sender allowlist (~/.config/nanoclaw/sender-allowlist.json), read
// with the same schema so an existing file works unchanged:
//
//	{"default": {"allow": "*", "mode": "trigger"},
//	 "chats": {"120363@g.us": {"allow": ["4470@s.whatsapp.net"], "mode": "drop"}},
//	 "logDenied": true}
type Allowlist struct {
	Default   Entry
	Chats     map[string]Entry // per-chat overrides, by chat JID
	LogDenied bool             // log denied triggers and dropped messages
	// Skipped names the chats whose entries were invalid: they allow no sender (trigger
	// mode) until fixed, and the router says so once.
	Skipped []string
}

// Entry returns the rule for a chat: its own entry if it has one, else the default.
func (a *Allowlist) Entry(chatJID string) Entry {
	if e, ok := a.Chats[chatJID]; ok {
		return e
	}
	return a.Default
}

// AllowAll is the allowlist used when there is no file: everyone may trigger, as in
// NanoClaw, where the allowlist is an optional noise filter.
func AllowAll() *Allowlist {
	return &Allowlist{Default: Entry{AllowAll: true, Mode: ModeTrigger}, LogDenied: true}
}

// DenyAll is the allowlist used when the file exists but cannot be used (unreadable or
// invalid): no sender passes, in trigger mode, so messages are still stored as context and
// groups that need no trigger still get them, but no sender can trigger the agent (the
// account's own messages still do) until the file is fixed. NanoClaw allowed everyone here,
// so a truncated file — an agent's doing or a crash's — opened every chat. Denied triggers
// are not logged one by one: the broken file is, once, and `nanoclaw status` shows it.
func DenyAll() *Allowlist {
	return &Allowlist{Default: closedEntry()}
}

// closedEntry is the rule of a chat whose entry is invalid: nobody passes, trigger mode.
func closedEntry() Entry { return Entry{Allow: map[string]struct{}{}, Mode: ModeTrigger} }

// ErrInvalidAllowlist marks a sender allowlist the router cannot use; it then allows no
// sender (DenyAll).
var ErrInvalidAllowlist = errors.New("invalid sender allowlist")

var errEntry = errors.New("invalid entry")

// ParseAllowlist reads the file's content with NanoClaw v1's schema: a valid "default" entry
// is required (else the error, and the caller should use DenyAll); an invalid per-chat entry
// closes that chat (no sender passes, trigger mode; NanoClaw ignored it, so the chat fell
// back to a possibly wider default) and is named in Skipped; logDenied is true unless it is
// literally false. A valid entry has "allow" either "*" or an array of strings only, and
// "mode" "trigger" or "drop". As with JSON.parse, a repeated key means its last value.
func ParseAllowlist(content []byte) (*Allowlist, error) {
	v, err := wire.Parse(content)
	if err != nil {
		return nil, fmt.Errorf("%w: not JSON: %w", ErrInvalidAllowlist, err)
	}
	if v.Kind != wire.Object {
		return nil, fmt.Errorf("%w: want a JSON object, got %s", ErrInvalidAllowlist, v.Kind)
	}
	var def, chats wire.Value
	logDenied := true
	v.EachField(func(k []byte, val wire.Value) bool {
		switch key(k) {
		case "default":
			def = val
		case "chats":
			chats = val
		case "logDenied":
			b, ok := val.Bool()
			logDenied = !ok || b
		}
		return true
	})
	a := &Allowlist{LogDenied: logDenied}
	if a.Default, err = parseEntry(def); err != nil {
		return nil, fmt.Errorf("%w: \"default\": %w", ErrInvalidAllowlist, err)
	}
	chats.EachField(func(k []byte, val wire.Value) bool {
		jid := key(k)
		e, err := parseEntry(val)
		if err != nil {
			e = closedEntry() // a later invalid duplicate replaces an earlier valid one
			if !slices.Contains(a.Skipped, jid) {
				a.Skipped = append(a.Skipped, jid)
			}
		}
		if a.Chats == nil {
			a.Chats = map[string]Entry{}
		}
		a.Chats[jid] = e
		return true
	})
	return a, nil
}

func parseEntry(v wire.Value) (Entry, error) {
	if v.Kind != wire.Object {
		return Entry{}, fmt.Errorf("%w: want an object, got %s", errEntry, v.Kind)
	}
	var allow, mode wire.Value
	v.EachField(func(k []byte, val wire.Value) bool {
		switch key(k) {
		case "allow":
			allow = val
		case "mode":
			mode = val
		}
		return true
	})
	var e Entry
	switch m, _ := mode.StringBytes(nil); string(m) {
	case "trigger":
		e.Mode = ModeTrigger
	case "drop":
		e.Mode = ModeDrop
	default:
		return Entry{}, fmt.Errorf("%w: \"mode\" must be \"trigger\" or \"drop\"", errEntry)
	}
	switch allow.Kind {
	case wire.String:
		if s, _ := allow.StringBytes(nil); string(s) != "*" {
			return Entry{}, fmt.Errorf("%w: \"allow\" must be \"*\" or an array of sender ids", errEntry)
		}
		e.AllowAll = true
	case wire.Array:
		e.Allow = map[string]struct{}{}
		var bad bool
		allow.EachElem(func(id wire.Value) bool {
			s, ok := id.Str()
			if !ok {
				bad = true
				return false
			}
			e.Allow[s] = struct{}{}
			return true
		})
		if bad {
			return Entry{}, fmt.Errorf("%w: \"allow\" may hold only strings", errEntry)
		}
	default:
		return Entry{}, fmt.Errorf("%w: \"allow\" must be \"*\" or an array of sender ids", errEntry)
	}
	return e, nil
}

// key decodes an object key as EachField hands it over (raw, without its quotes).
func key(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	s, _ := wire.Value{Kind: wire.String, Raw: q}.Str()
	return s
}
