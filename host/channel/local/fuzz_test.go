package local

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
)

// FuzzClientLine feeds arbitrary bytes as one client line, before and after a hello. It
// must never panic, and the sink must see a message only for a valid message line.
func FuzzClientLine(f *testing.F) {
	for _, seed := range []string{
		`{"type":"message","text":"hi","id":"1"}`,
		`{"type":"hello","chat":"local:main","name":"alice"}`,
		`{"type":"message","text":""}`,
		`{"type":"message","text":5}`,
		`{"type":"message","text":"a","id":5}`,
		`{"TYPE":"message","Text":"case"}`,
		`{"type":"hello","chat":"local:../x"}`,
		`{"type":"message","text":"a"} {}`,
		`{"type":"message","text":"\u0000\ud800"}`,
		`null`, `[]`, `"x"`, ``, "\xff\xfe", `{"type":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		sink := newSinkCap(8)
		c := New(channel.Options{Sink: sink}, "unused")
		ctx := context.Background()

		// Before a hello nothing reaches the sink, whatever the line.
		fresh := &session{c: c, cl: newClient(nopConn{})}
		c.clients[fresh.cl] = struct{}{}
		fresh.handle(ctx, line)
		if len(sink.events) != 0 {
			t.Fatalf("line %q reached the sink before a hello", line)
		}

		s := helloSession(t, c)
		keep := s.handle(ctx, line)
		if !keep {
			t.Fatalf("line %q closed a session after its hello", line)
		}
		// The documented schema: every field a string.
		var want struct {
			Type string `json:"type"`
			Chat string `json:"chat"`
			Name string `json:"name"`
			Text string `json:"text"`
			ID   string `json:"id"`
		}
		valid := json.Unmarshal(line, &want) == nil && want.Type == typeMessage && strings.TrimSpace(want.Text) != ""
		switch n := len(sink.events); {
		case valid && n != 2:
			t.Fatalf("valid message %q made %d sink calls, want 2", line, n)
		case !valid && n != 0:
			t.Fatalf("invalid line %q made %d sink calls", line, n)
		}
		if valid {
			sink.next(t)
			if e := sink.next(t); e.msg == nil || e.msg.Content != want.Text || e.msg.ChatJID != "local:fuzz" {
				t.Fatalf("stored %+v for %q", e.msg, line)
			}
		}
	})
}

// FuzzSuggestFolder: the folder the refusal of an unregistered chat suggests is valid for
// every valid chat name, so the command it prints works as given.
func FuzzSuggestFolder(f *testing.F) {
	for _, s := range []string{"local:nope", "local:my.chat", "local:global", "local:GLOBAL", "local:a", "local:" + strings.Repeat("x", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, chat string) {
		if !ValidChat(chat) {
			return
		}
		if got := suggestFolder(chat); !ipcpolicy.ValidFolder(got) {
			t.Fatalf("suggestFolder(%q) = %q, not a valid folder", chat, got)
		}
	})
}
