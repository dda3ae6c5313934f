package whatsapp

import (
	"context"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// TestReplyNamesTheQuotedSender: a reply's quoted sender is shown by name: the push name
// they wrote under in the chat, else the name WhatsApp's contact store has for them (under
// either address), else their number; the account itself is the assistant. Events go
// through a real unpaired client's dispatch.
func TestReplyNamesTheQuotedSender(t *testing.T) {
	const (
		bobPN    = "15557654321@s.whatsapp.net"
		carolPN  = "15550000009@s.whatsapp.net"
		carolLID = "77777777777777@lid"
		davePN   = "15550000010@s.whatsapp.net"
	)
	ctx := context.Background()
	container, err := sqlstore.New(ctx, "sqlite", "file:wa_quote_name_test?mode=memory&cache=shared&_pragma=foreign_keys(1)", nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = container.Close() })
	dev, err := container.GetFirstDevice(ctx)
	if err != nil {
		t.Fatalf("device: %v", err)
	}
	cli := whatsmeow.NewClient(dev, nil)
	dir := &fakeDirectory{contacts: map[types.JID]types.ContactInfo{
		recvJID(t, carolPN): {Found: true, FullName: "Carol Jones"},
	}}
	ident := newRecvIdentity(t)
	ident.lids[recvJID(t, carolLID)] = recvJID(t, carolPN)
	sink := &recvSink{}
	New(Options{Sink: sink, AssistantName: recvAssistant, Directory: dir}, cli, ident)
	dispatch := func(e *events.Message) store.Message {
		t.Helper()
		if failed := cli.DangerousInternals().DispatchEvent(e); failed {
			t.Fatal("a handler panicked")
		}
		ms := sink.messages()
		return ms[len(ms)-1]
	}
	reply := func(id, participant string) *events.Message {
		e := recvEvent(t, recvGroup, recvAlicePN, recvExt("re", &waE2E.ContextInfo{
			StanzaID: recvStr("Q-" + id), Participant: recvStr(participant), QuotedMessage: recvText("earlier")}))
		e.Info.ID = types.MessageID(id)
		return e
	}

	// Bob wrote in the group as "Bobby".
	bob := recvEvent(t, recvGroup, bobPN, recvText("lunch?"))
	bob.Info.ID, bob.Info.PushName = "B1", "Bobby"
	dispatch(bob)

	for _, tc := range []struct {
		name, participant, want string
	}{
		{"seen writing in the chat", bobPN, "Bobby"},
		{"seen, quoted from another device", "15557654321:12@s.whatsapp.net", "Bobby"},
		{"known to the contact store", carolPN, "Carol Jones"},
		{"known to the contact store by phone, quoted by LID", carolLID, "Carol Jones"},
		{"unknown: the number", davePN, "15550000010"},
		{"the account: the assistant", recvOwnLID, recvAssistant},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := dispatch(reply("R-"+tc.name, tc.participant))
			if m.ReplyToSenderName != tc.want || m.ReplyToMessageContent != "earlier" {
				t.Fatalf("quoted sender %q (content %q), want %q", m.ReplyToSenderName, m.ReplyToMessageContent, tc.want)
			}
		})
	}
}
