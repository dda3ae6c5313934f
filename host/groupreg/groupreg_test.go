package groupreg

import (
	"errors"
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

func TestCheckJID(t *testing.T) {
	cases := []struct {
		jid  string
		want error // nil: accepted
		says string
	}{
		{"local:main", nil, ""},
		{"local:work.2_x-y", nil, ""},
		{"15551234567@s.whatsapp.net", nil, ""},
		{"120363025246125888@g.us", nil, ""},
		{"15551234567-1600000000@g.us", nil, ""},
		{"123456789012345@lid", nil, ""},
		{"local:", ErrInvalid, "local:NAME"},
		{"local:a b", ErrInvalid, "local:NAME"},
		{"local:../x", ErrInvalid, "local:NAME"},
		{"local:" + strings.Repeat("a", 65), ErrInvalid, "at most 64"},
		{"+15551234567@s.whatsapp.net", ErrInvalid, "without the +: 15551234567@s.whatsapp.net"},
		{"alice@s.whatsapp.net", ErrInvalid, "digits only"},
		{"15551234567:3@s.whatsapp.net", ErrInvalid, "digits only"},
		{"family@g.us", ErrInvalid, "<digits>@g.us or <digits>-<digits>@g.us"},
		{"1-2-3@g.us", ErrInvalid, "WhatsApp group id"},
		{"@g.us", ErrInvalid, "WhatsApp group id"},
		{"abc@lid", ErrInvalid, "<digits>@lid"},
		{"123@broadcast", ErrInvalid, "not a chat id this host registers"},
		{"nonsense", ErrOtherChannel, "local:NAME for a local chat, or a WhatsApp id"},
		{"", ErrOtherChannel, "is not a chat id"},
		{"tg:123", ErrOtherChannel, "is not a chat id"},
	}
	for _, c := range cases {
		t.Run(c.jid, func(t *testing.T) {
			err := CheckJID(c.jid)
			if c.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("got %v, want %v saying %q", err, c.want, c.says)
			}
			if strings.HasPrefix(err.Error(), c.want.Error()) {
				t.Errorf("the message starts with the sentinel's text: %v", err)
			}
		})
	}
}

func TestCheckTrigger(t *testing.T) {
	cases := []struct{ trigger, says string }{
		{"@Andy", ""},
		{"@Andy Bot", ""},
		{"@Кот", ""},
		{"Andy", `must start with @, as in @Andy`},
		{" Andy ", `must start with @, as in @Andy`},
		{"", "must be @ and a word"},
		{"@", "must be @ and a word"},
		{"@ Andy", "must be @ and a word"},
		{"@Andy\n", "must be @ and a word"},
		{"@An\ndy", "one line"},
	}
	for _, c := range cases {
		t.Run(c.trigger, func(t *testing.T) {
			err := CheckTrigger(c.trigger)
			if c.says == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("got %v, want a refusal saying %q", err, c.says)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	registered := []store.Group{
		{JID: "local:main", Folder: "main", IsMain: true},
		{JID: "120363@g.us", Folder: "family"},
	}
	cases := []struct {
		name string
		g    store.Group
		o    Options
		says string // "" accepted
	}{
		{"a new chat", store.Group{JID: "local:work", Folder: "work"}, Options{}, ""},
		{"updating a chat in place", store.Group{JID: "120363@g.us", Folder: "family", Trigger: "@Bob"}, Options{}, ""},
		{"updating main in place", store.Group{JID: "local:main", Folder: "main", IsMain: true}, Options{}, ""},
		{"second main", store.Group{JID: "local:boss", Folder: "boss", IsMain: true}, Options{},
			"local:main (folder main) is already the main group, and one main group administers all the others: add this chat without --main, or pass --force for a second main group"},
		{"second main forced", store.Group{JID: "local:boss", Folder: "boss", IsMain: true}, Options{Force: true}, ""},
		{"main made ordinary", store.Group{JID: "local:main", Folder: "main"}, Options{},
			"local:main is the main group: add --main to keep it main, or --force to make it an ordinary group"},
		{"main made ordinary forced", store.Group{JID: "local:main", Folder: "main"}, Options{Force: true}, ""},
		{"moved", store.Group{JID: "120363@g.us", Folder: "kids"}, Options{},
			`120363@g.us is registered with the folder "family": pass --move to move it to "kids" (groups/family and its history stay where they are), or --folder family to change its other settings`},
		{"moved with --move", store.Group{JID: "120363@g.us", Folder: "kids"}, Options{Move: true}, ""},
		{"folder taken", store.Group{JID: "local:thief", Folder: "family"}, Options{Force: true, Move: true},
			`folder "family" already belongs to 120363@g.us: choose another --folder, or unregister that chat first (nanoclaw groups remove --jid 120363@g.us)`},
		{"nothing registered yet", store.Group{JID: "local:main", Folder: "main", IsMain: true}, Options{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := registered
			if c.name == "nothing registered yet" {
				reg = nil
			}
			err := Check(c.g, reg, c.o)
			if c.says == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || err.Error() != c.says {
				t.Fatalf("got  %v\nwant %s", err, c.says)
			}
		})
	}
}

// FuzzCheckJID: whatever an agent or a user sends, CheckJID answers without panicking, and
// what it accepts is one of the forms it names (no spaces, no path separators, one channel).
func FuzzCheckJID(f *testing.F) {
	for _, s := range []string{"local:main", "1@g.us", "1-2@g.us", "1@s.whatsapp.net", "1@lid", "x", "local:a/b", "1@g.us\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, jid string) {
		err := CheckJID(jid)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrOtherChannel) {
				t.Fatalf("unclassified refusal: %v", err)
			}
			return
		}
		if strings.ContainsAny(jid, " /\\\n\r\t\x00") || len(jid) > 100 {
			t.Fatalf("accepted %q", jid)
		}
		if strings.HasPrefix(jid, "local:") == strings.Contains(jid, "@") {
			t.Fatalf("accepted %q as neither or both channels", jid)
		}
	})
}

// FuzzCheckTrigger: an accepted trigger starts with @, has a word after it and is one line.
func FuzzCheckTrigger(f *testing.F) {
	for _, s := range []string{"@Andy", "Andy", "@", "@ a", "@a\nb", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, trigger string) {
		err := CheckTrigger(trigger)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unclassified refusal: %v", err)
			}
			return
		}
		word := strings.TrimPrefix(trigger, "@")
		if !strings.HasPrefix(trigger, "@") || strings.TrimSpace(word) == "" || strings.ContainsAny(trigger, "\r\n") {
			t.Fatalf("accepted %q", trigger)
		}
	})
}
