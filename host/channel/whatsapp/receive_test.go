package whatsapp

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	_ "modernc.org/sqlite" // the "sqlite" driver for whatsmeow's store

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// TestReceiveRules drives onMessage with hand-built events and checks exactly what reaches
// the sink, in order.
func TestReceiveRules(t *testing.T) {
	with := func(m store.Message, f func(*store.Message)) store.Message { f(&m); return m }
	ev := func(chat, sender string, m *waE2E.Message, f ...func(*events.Message)) func(testing.TB) *events.Message {
		return func(t testing.TB) *events.Message {
			e := recvEvent(t, chat, sender, m)
			for _, fn := range f {
				fn(e)
			}
			return e
		}
	}
	fromMe := func(e *events.Message) { e.Info.IsFromMe = true }
	groupMeta := recvMeta(recvGroup)
	dmMeta := recvMeta(recvAlicePN)
	quoted := func(id, participant string, q *waE2E.Message) *waE2E.ContextInfo {
		ci := &waE2E.ContextInfo{StanzaID: recvStr(id), QuotedMessage: q}
		if participant != "" {
			ci.Participant = recvStr(participant)
		}
		return ci
	}

	tests := []struct {
		name      string
		ownNumber bool
		sentID    string
		event     func(testing.TB) *events.Message
		want      []any
	}{
		{name: "group conversation: metadata then message",
			event: ev(recvGroup, recvAlicePN, recvText("hello")),
			want:  []any{groupMeta, recvMsg(recvGroup, recvAlicePN, "hello")}},
		{name: "DM extended text is not a group",
			event: ev(recvAlicePN, recvAlicePN, recvExt("hi there", nil)),
			want:  []any{dmMeta, recvMsg(recvAlicePN, recvAlicePN, "hi there")}},
		{name: "image caption",
			event: ev(recvGroup, recvAlicePN, &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: recvStr("look")}}),
			want:  []any{groupMeta, recvMsg(recvGroup, recvAlicePN, "look")}},
		{name: "video caption",
			event: ev(recvGroup, recvAlicePN, &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Caption: recvStr("watch")}}),
			want:  []any{groupMeta, recvMsg(recvGroup, recvAlicePN, "watch")}},
		{name: "document caption",
			event: ev(recvGroup, recvAlicePN, &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{Caption: recvStr("read"), FileName: recvStr("a.pdf")}}),
			want:  []any{groupMeta, recvMsg(recvGroup, recvAlicePN, "read")}},
		{name: "image without caption is a placeholder",
			event: ev(recvGroup, recvAlicePN, &waE2E.Message{ImageMessage: &waE2E.ImageMessage{}}),
			want:  []any{groupMeta, recvMsg(recvGroup, recvAlicePN, "[image]")}},
		{name: "voice note placeholder",
			event: ev(recvGroup, recvAlicePN, &waE2E.Message{AudioMessage: &waE2E.AudioMessage{PTT: func() *bool { b := true; return &b }()}}),
			want:  []any{groupMeta, recvMsg(recvGroup, recvAlicePN, "[voice message]")}},
		{name: "reaction: chat recorded, no message",
			event: ev(recvGroup, recvAlicePN, &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{Text: recvStr("👍")}}),
			want:  []any{groupMeta}},
		{name: "whitespace-only text: chat recorded, no message",
			event: ev(recvGroup, recvAlicePN, recvText("   ")),
			want:  []any{groupMeta}},
		{name: "status broadcast ignored",
			event: ev("status@broadcast", recvAlicePN, recvText("my status")),
			want:  nil},
		{name: "empty event ignored",
			event: ev(recvGroup, recvAlicePN, nil),
			want:  nil},
		{name: "sender name falls back to the user part without a push name",
			event: ev(recvGroup, recvAlicePN, recvText("hi"), func(e *events.Message) { e.Info.PushName = "" }),
			want: []any{groupMeta, with(recvMsg(recvGroup, recvAlicePN, "hi"), func(m *store.Message) {
				m.SenderName = "15551234567"
			})}},
		{name: "device part dropped from sender and chat",
			event: ev("15551234567:7@s.whatsapp.net", "15551234567:7@s.whatsapp.net", recvText("hi")),
			want:  []any{dmMeta, recvMsg(recvAlicePN, recvAlicePN, "hi")}},
		{name: "known LID sender translated in a group",
			event: ev(recvGroup, recvAliceLID, recvText("hi")),
			want:  []any{groupMeta, recvMsg(recvGroup, recvAlicePN, "hi")}},
		{name: "LID DM chat and sender translated via the store",
			event: ev(recvAliceLID, "12345678901234:3@lid", recvText("hi")),
			want:  []any{dmMeta, recvMsg(recvAlicePN, recvAlicePN, "hi")}},
		{name: "unknown LID translated via SenderAlt",
			event: ev(recvUnknownLID, recvUnknownLID, recvText("hi"), func(e *events.Message) {
				e.Info.SenderAlt = types.NewJID("15559999999", types.DefaultUserServer)
			}),
			want: []any{recvMeta("15559999999@s.whatsapp.net"), recvMsg("15559999999@s.whatsapp.net", "15559999999@s.whatsapp.net", "hi")}},
		{name: "unknown LID kept",
			event: ev(recvGroup, recvUnknownLID, recvText("hi")),
			want:  []any{groupMeta, recvMsg(recvGroup, recvUnknownLID, "hi")}},
		{name: "own message to a LID DM uses RecipientAlt for the chat",
			event: ev(recvUnknownLID, recvOwnPN, recvText("hi"), fromMe, func(e *events.Message) {
				e.Info.RecipientAlt = types.NewJID("15559999999", types.DefaultUserServer)
			}),
			want: []any{recvMeta("15559999999@s.whatsapp.net"), with(recvMsg("15559999999@s.whatsapp.net", recvOwnPN, "hi"), func(m *store.Message) {
				m.IsFromMe = true
			})}},
		{name: "own LID maps to own phone number (self-chat)",
			event: ev(recvOwnLID, "99990001111:2@lid", recvText("note"), fromMe),
			want: []any{recvMeta(recvOwnPN), with(recvMsg(recvOwnPN, recvOwnPN, "note"), func(m *store.Message) {
				m.IsFromMe = true
			})}},
		{name: "mention of own number rewritten",
			event: ev(recvGroup, recvAlicePN, recvExt("@15550001111 what time is it?", &waE2E.ContextInfo{MentionedJID: []string{recvOwnPN}})),
			want:  []any{groupMeta, recvMsg(recvGroup, recvAlicePN, "@Andy what time is it?")}},
		{name: "mention of own LID rewritten",
			event: ev(recvGroup, recvAlicePN, recvExt("hey @99990001111", &waE2E.ContextInfo{MentionedJID: []string{recvOwnLID}})),
			want:  []any{groupMeta, recvMsg(recvGroup, recvAlicePN, "hey @Andy")}},
		{name: "mention of someone else kept",
			event: ev(recvGroup, recvAlicePN, recvExt("@15551234567 hi", &waE2E.ContextInfo{MentionedJID: []string{recvAlicePN}})),
			want:  []any{groupMeta, recvMsg(recvGroup, recvAlicePN, "@15551234567 hi")}},
		{name: "reply to someone",
			event: ev(recvGroup, recvAlicePN, recvExt("agreed", quoted("Q1", "15557654321@s.whatsapp.net", recvText("lunch?")))),
			want: []any{groupMeta, with(recvMsg(recvGroup, recvAlicePN, "agreed"), func(m *store.Message) {
				m.ReplyToMessageID, m.ReplyToMessageContent, m.ReplyToSenderName = "Q1", "lunch?", "15557654321"
			})}},
		{name: "reply to the assistant (by LID) names the assistant",
			event: ev(recvGroup, recvAlicePN, recvExt("thanks", quoted("Q2", recvOwnLID, recvExt("Andy: done", nil)))),
			want: []any{groupMeta, with(recvMsg(recvGroup, recvAlicePN, "thanks"), func(m *store.Message) {
				m.ReplyToMessageID, m.ReplyToMessageContent, m.ReplyToSenderName = "Q2", "Andy: done", recvAssistant
			})}},
		{name: "reply participant LID translated",
			event: ev(recvGroup, recvOwnPN, recvExt("ok", quoted("Q3", "12345678901234:4@lid", recvText("x"))), fromMe),
			want: []any{groupMeta, with(recvMsg(recvGroup, recvOwnPN, "ok"), func(m *store.Message) {
				m.IsFromMe = true
				m.ReplyToMessageID, m.ReplyToMessageContent, m.ReplyToSenderName = "Q3", "x", "15551234567"
			})}},
		{name: "reply on an image caption",
			event: ev(recvGroup, recvAlicePN, &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: recvStr("this one"),
				ContextInfo: quoted("Q4", recvAlicePN, &waE2E.Message{ImageMessage: &waE2E.ImageMessage{}})}}),
			want: []any{groupMeta, with(recvMsg(recvGroup, recvAlicePN, "this one"), func(m *store.Message) {
				m.ReplyToMessageID, m.ReplyToMessageContent, m.ReplyToSenderName = "Q4", "[image]", "15551234567"
			})}},
		{name: "own-number mode: own message is the bot's",
			ownNumber: true,
			event:     ev(recvGroup, recvOwnPN, recvText("answer"), fromMe),
			want: []any{groupMeta, with(recvMsg(recvGroup, recvOwnPN, "answer"), func(m *store.Message) {
				m.IsFromMe, m.IsBotMessage = true, true
			})}},
		{name: "own-number mode: a prefix from someone else is not the bot",
			ownNumber: true,
			event:     ev(recvGroup, recvAlicePN, recvText("Andy: fake")),
			want:      []any{groupMeta, recvMsg(recvGroup, recvAlicePN, "Andy: fake")}},
		{name: "shared-number mode: the prefix marks the bot",
			event: ev(recvGroup, recvOwnPN, recvText("Andy: hello"), fromMe),
			want: []any{groupMeta, with(recvMsg(recvGroup, recvOwnPN, "Andy: hello"), func(m *store.Message) {
				m.IsFromMe, m.IsBotMessage = true, true
			})}},
		{name: "shared-number mode: the user's own message is not the bot",
			event: ev(recvGroup, recvOwnPN, recvText("@Andy help"), fromMe),
			want: []any{groupMeta, with(recvMsg(recvGroup, recvOwnPN, "@Andy help"), func(m *store.Message) {
				m.IsFromMe = true
			})}},
		{name: "echo of a sent ID is the bot's in either mode",
			sentID: "M1",
			event:  ev(recvGroup, recvOwnPN, recvText("reply without prefix"), fromMe),
			want: []any{groupMeta, with(recvMsg(recvGroup, recvOwnPN, "reply without prefix"), func(m *store.Message) {
				m.IsFromMe, m.IsBotMessage = true, true
			})}},
		{name: "edit replaces the original's text, never a new message",
			event: ev(recvGroup, recvAlicePN, &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
				Type: waE2E.ProtocolMessage_MESSAGE_EDIT.Enum(), Key: &waCommon.MessageKey{ID: recvStr("ORIG")},
				EditedMessage: recvText("@15550001111 corrected")}}, func(e *events.Message) { e.IsEdit = true }),
			want: []any{recvEdit{Chat: recvGroup, ID: "ORIG", Sender: recvAlicePN, Content: "@Andy corrected"}}},
		{name: "revoke deletes the original",
			event: ev(recvGroup, recvAlicePN, &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
				Type: waE2E.ProtocolMessage_REVOKE.Enum(), Key: &waCommon.MessageKey{ID: recvStr("ORIG")}}}),
			want: []any{recvRevoke{Chat: recvGroup, ID: "ORIG", Sender: recvAlicePN}}},
		{name: "incoming broadcast list message lands in the sender's DM",
			event: ev("1700000000@broadcast", recvAlicePN, recvText("news")),
			want:  []any{dmMeta, recvMsg(recvAlicePN, recvAlicePN, "news")}},
		{name: "own broadcast list send ignored",
			event: ev("1700000000@broadcast", recvOwnPN, recvText("news"), fromMe),
			want:  nil},
		{name: "zero timestamp uses the clock",
			event: ev(recvGroup, recvAlicePN, recvText("hi"), func(e *events.Message) { e.Info.Timestamp = time.Time{} }),
			want:  []any{groupMeta, recvMsg(recvGroup, recvAlicePN, "hi")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, sink, _ := newRecvChannel(t, tt.ownNumber)
			if tt.sentID != "" {
				c.mu.Lock()
				c.sentIDs[types.MessageID(tt.sentID)] = true
				c.mu.Unlock()
			}
			c.onMessage(tt.event(t))
			if got := sink.got(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sink calls:\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// TestReceiveNilEvent: a nil event does nothing.
func TestReceiveNilEvent(t *testing.T) {
	c, sink, _ := newRecvChannel(t, false)
	c.onMessage(nil)
	c.handleEvent((*events.Message)(nil))
	if got := sink.got(); len(got) != 0 {
		t.Fatalf("sink calls for nil event: %#v", got)
	}
}

// TestReceiveMetadataForEveryChat: each chat seen is recorded before its message, whether
// or not the message carries content.
func TestReceiveMetadataForEveryChat(t *testing.T) {
	c, sink, _ := newRecvChannel(t, false)
	c.onMessage(recvEvent(t, recvGroup, recvAlicePN, recvText("one")))
	c.onMessage(recvEvent(t, recvAlicePN, recvAlicePN, recvText("two")))
	c.onMessage(recvEvent(t, "120363000000000002@g.us", recvAlicePN, &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{}}))
	var metas []string
	for _, call := range sink.got() {
		if m, ok := call.(channel.ChatMeta); ok {
			metas = append(metas, m.JID)
			if m.Channel != Name || m.Name != "" {
				t.Errorf("meta %+v: want channel %q and no name", m, Name)
			}
		}
	}
	want := []string{recvGroup, recvAlicePN, "120363000000000002@g.us"}
	if !reflect.DeepEqual(metas, want) {
		t.Fatalf("metadata for %v, want %v", metas, want)
	}
	if n := len(sink.messages()); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}

// TestReceiveSinkErrorsLogged: sink failures are logged; the message is still offered after
// a metadata failure, and nothing panics.
func TestReceiveSinkErrorsLogged(t *testing.T) {
	var logs bytes.Buffer
	sink := &recvSink{metaErr: errors.New("meta down"), msgErr: errors.New("msg down")}
	c := New(Options{Sink: sink, AssistantName: recvAssistant,
		Log: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})}, &recvFakeClient{}, newRecvIdentity(t))
	c.onMessage(recvEvent(t, recvGroup, recvAlicePN, recvText("hi")))
	if n := len(sink.messages()); n != 1 {
		t.Fatalf("%d messages offered, want 1", n)
	}
	for _, s := range []string{"meta down", "msg down"} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, logs.String())
		}
	}
}

// TestReceiveUnwrappedEphemeralAndViewOnce: whatsmeow's UnwrapRaw leaves the content in
// e.Message, which is what the channel reads.
func TestReceiveUnwrappedEphemeralAndViewOnce(t *testing.T) {
	raws := map[string]*waE2E.Message{
		"ephemeral": {EphemeralMessage: &waE2E.FutureProofMessage{Message: recvText("secret")}},
		"view once": {ViewOnceMessageV2: &waE2E.FutureProofMessage{Message: &waE2E.Message{
			ImageMessage: &waE2E.ImageMessage{Caption: recvStr("secret")}}}},
		"edited wrapper": {EditedMessage: &waE2E.FutureProofMessage{Message: &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
			Type: waE2E.ProtocolMessage_MESSAGE_EDIT.Enum(), Key: &waCommon.MessageKey{ID: recvStr("ORIG")}, EditedMessage: recvText("secret")}}}},
	}
	for name, raw := range raws {
		t.Run(name, func(t *testing.T) {
			c, sink, _ := newRecvChannel(t, false)
			e := recvEvent(t, recvGroup, recvAlicePN, nil)
			e.RawMessage = raw
			c.onMessage(e.UnwrapRaw())
			ms := sink.messages()
			if name == "edited wrapper" {
				ms = nil
				for _, call := range sink.got() {
					if ed, ok := call.(recvEdit); ok {
						ms = append(ms, store.Message{Content: ed.Content})
					}
				}
			}
			if len(ms) != 1 || ms[0].Content != "secret" {
				t.Fatalf("messages %+v, want one with content %q", ms, "secret")
			}
		})
	}
}

// TestReceiveThroughWhatsmeowDispatch: a real, unpaired whatsmeow client over an in-memory
// store delivers an event through its own dispatch to the channel's handler.
func TestReceiveThroughWhatsmeowDispatch(t *testing.T) {
	ctx := context.Background()
	container, err := sqlstore.New(ctx, "sqlite", "file:wa_recv_test?mode=memory&cache=shared&_pragma=foreign_keys(1)", nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = container.Close() })
	dev, err := container.GetFirstDevice(ctx)
	if err != nil {
		t.Fatalf("device: %v", err)
	}
	cli := whatsmeow.NewClient(dev, nil)
	sink := &recvSink{}
	New(Options{Sink: sink, AssistantName: recvAssistant}, cli, newRecvIdentity(t))
	evt := recvEvent(t, recvGroup, "15551234567:9@s.whatsapp.net", recvExt("@15550001111 ping", nil))
	if failed := cli.DangerousInternals().DispatchEvent(evt); failed {
		t.Fatal("a handler panicked")
	}
	want := []any{recvMeta(recvGroup), recvMsg(recvGroup, recvAlicePN, "@Andy ping")}
	if got := sink.got(); !reflect.DeepEqual(got, want) {
		t.Fatalf("sink calls:\n got %#v\nwant %#v", got, want)
	}
}

// TestMessageText covers text sources, captions and every placeholder.
func TestMessageText(t *testing.T) {
	yes := func() *bool { b := true; return &b }()
	tests := []struct {
		name string
		m    *waE2E.Message
		want string
		ok   bool
	}{
		{"nil", nil, "", false},
		{"empty", &waE2E.Message{}, "", false},
		{"conversation", recvText("hi"), "hi", true},
		{"extended", recvExt("hey", nil), "hey", true},
		{"conversation wins", &waE2E.Message{Conversation: recvStr("a"), ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: recvStr("b")}}, "a", true},
		{"image caption", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: recvStr("c")}}, "c", true},
		{"video caption", &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Caption: recvStr("v")}}, "v", true},
		{"document caption", &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{Caption: recvStr("d")}}, "d", true},
		{"image", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{}}, "[image]", true},
		{"video", &waE2E.Message{VideoMessage: &waE2E.VideoMessage{}}, "[video]", true},
		{"video note", &waE2E.Message{PtvMessage: &waE2E.VideoMessage{}}, "[video]", true},
		{"voice", &waE2E.Message{AudioMessage: &waE2E.AudioMessage{PTT: yes}}, "[voice message]", true},
		{"audio", &waE2E.Message{AudioMessage: &waE2E.AudioMessage{}}, "[audio]", true},
		{"document", &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{FileName: recvStr("report.pdf")}}, "[document: report.pdf]", true},
		{"document without name", &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{}}, "[document]", true},
		{"sticker", &waE2E.Message{StickerMessage: &waE2E.StickerMessage{}}, "[sticker]", true},
		{"location", &waE2E.Message{LocationMessage: &waE2E.LocationMessage{}}, "[location]", true},
		{"live location", &waE2E.Message{LiveLocationMessage: &waE2E.LiveLocationMessage{}}, "[location]", true},
		{"contact", &waE2E.Message{ContactMessage: &waE2E.ContactMessage{}}, "[contact]", true},
		{"contacts", &waE2E.Message{ContactsArrayMessage: &waE2E.ContactsArrayMessage{}}, "[contact]", true},
		{"reaction", &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{Text: recvStr("x")}}, "", false},
		{"poll", &waE2E.Message{PollCreationMessage: &waE2E.PollCreationMessage{Name: recvStr("q")}}, "", false},
		{"blank caption", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: recvStr(" ")}}, "[image]", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := messageText(tt.m)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("messageText = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestRewriteMentions: own mentions become "@<assistant>", others and longer numbers stay.
func TestRewriteMentions(t *testing.T) {
	own := []string{"15550001111", "99990001111"}
	tests := []struct{ in, want string }{
		{"@15550001111 hi", "@Andy hi"},
		{"hi @99990001111", "hi @Andy"},
		{"@15550001111 and @99990001111!", "@Andy and @Andy!"},
		{"@155500011112 hi", "@155500011112 hi"},
		{"@1555000111 hi", "@1555000111 hi"},
		{"15550001111 hi", "15550001111 hi"},
		{"@15551234567 hi", "@15551234567 hi"},
		{"@15550001111@15550001111", "@Andy@Andy"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := rewriteMentions(tt.in, own, recvAssistant); got != tt.want {
			t.Errorf("rewriteMentions(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := rewriteMentions("@15550001111", nil, recvAssistant); got != "@15550001111" {
		t.Errorf("no own ids: %q", got)
	}
	if got := rewriteMentions("@15550001111", own, ""); got != "@15550001111" {
		t.Errorf("no assistant name: %q", got)
	}
}

// TestReplyContext reads the quoted id, text and participant.
func TestReplyContext(t *testing.T) {
	if _, ok := replyContext(nil); ok {
		t.Error("nil context info is a reply")
	}
	if _, ok := replyContext(&waE2E.ContextInfo{MentionedJID: []string{recvOwnPN}}); ok {
		t.Error("mentions alone are a reply")
	}
	r, ok := replyContext(&waE2E.ContextInfo{StanzaID: recvStr("Q"), Participant: recvStr("15551234567:2@s.whatsapp.net"),
		QuotedMessage: recvExt("quoted", nil)})
	if !ok || r.id != "Q" || r.content != "quoted" || r.participant.String() != recvAlicePN {
		t.Errorf("reply = %+v, %v", r, ok)
	}
	r, ok = replyContext(&waE2E.ContextInfo{StanzaID: recvStr("Q"), Participant: recvStr("not a jid@@")})
	if !ok || !r.participant.IsEmpty() || r.content != "" {
		t.Errorf("bad participant: %+v, %v", r, ok)
	}
}

// FuzzMessageText: arbitrary text and captions never panic, and the mention rewrite only
// changes text that mentions an own id.
func FuzzMessageText(f *testing.F) {
	for _, s := range []string{"", "hi", "@15550001111 hi", "@99990001111", "@155500011112", "Andy: x", "\x00@", "@@15550001111"} {
		f.Add(s, s)
	}
	own := []string{"15550001111", "99990001111"}
	f.Fuzz(func(t *testing.T, text, caption string) {
		msgs := []*waE2E.Message{
			recvText(text),
			recvExt(text, &waE2E.ContextInfo{StanzaID: &caption, Participant: &caption, QuotedMessage: recvText(caption)}),
			{ImageMessage: &waE2E.ImageMessage{Caption: &caption}},
			{VideoMessage: &waE2E.VideoMessage{Caption: &caption}},
			{DocumentMessage: &waE2E.DocumentMessage{Caption: &caption, FileName: &text}},
		}
		for _, m := range msgs {
			got, ok := messageText(m)
			if ok && got == "" {
				t.Fatalf("ok with empty text for %v", m)
			}
			replyContext(contextInfo(m))
			out := rewriteMentions(got, own, recvAssistant)
			if !strings.Contains(got, "@"+own[0]) && !strings.Contains(got, "@"+own[1]) && out != got {
				t.Fatalf("rewrite changed %q to %q without an own mention", got, out)
			}
		}
		c, sink, _ := newRecvChannel(t, false)
		c.onMessage(recvEvent(t, recvGroup, recvAlicePN, recvExt(text, nil)))
		for _, m := range sink.messages() {
			if strings.TrimSpace(m.Content) == "" {
				t.Fatalf("empty content handed on: %+v", m)
			}
		}
	})
}

func TestCanonicalJID(t *testing.T) {
	lid := types.NewJID("987654321", types.HiddenUserServer)
	pn := types.NewJID("15559876543", types.DefaultUserServer)
	c := New(Options{AssistantName: "Andy"}, &recvFakeClient{}, canonIdentity{lid: lid, pn: pn})
	tests := []struct{ in, want string }{
		{"987654321@lid", "15559876543@s.whatsapp.net"},
		{"111@lid", "111@lid"},
		{"15559876543:7@s.whatsapp.net", "15559876543@s.whatsapp.net"},
		{"120363@g.us", "120363@g.us"},
	}
	for _, tc := range tests {
		if got := c.CanonicalJID(context.Background(), tc.in); got != tc.want {
			t.Errorf("CanonicalJID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// canonIdentity knows one LID mapping.
type canonIdentity struct{ lid, pn types.JID }

func (i canonIdentity) Own() (types.JID, types.JID) { return types.EmptyJID, types.EmptyJID }
func (i canonIdentity) PNForLID(_ context.Context, lid types.JID) (types.JID, bool) {
	if lid == i.lid {
		return i.pn, true
	}
	return types.EmptyJID, false
}
