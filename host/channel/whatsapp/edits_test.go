package whatsapp

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// recvEdit and recvRevoke are the EditSink calls recvSink records.
type recvEdit struct{ Chat, ID, Sender, Content string }
type recvRevoke struct{ Chat, ID, Sender string }

func (s *recvSink) OnMessageEdit(_ context.Context, chat, id, sender, content string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, recvEdit{chat, id, sender, content})
	return s.msgErr
}

func (s *recvSink) OnMessageRevoke(_ context.Context, chat, id, sender string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, recvRevoke{chat, id, sender})
	return s.msgErr
}

// plainSink is a Sink that takes no edits: only channel.Sink's methods are promoted.
type plainSink struct{ channel.Sink }

// TestEditsAndRevokesThroughDispatch: edits and revokes built as a WhatsApp client sends
// them (whatsmeow's BuildEdit/BuildRevoke, unwrapped as whatsmeow unwraps what it
// receives) go through a real, unpaired client's dispatch to the sink as changes of the
// original message, and never as a message of their own.
func TestEditsAndRevokesThroughDispatch(t *testing.T) {
	cli := newUnpairedClient(t, "wa_edits_test")
	group := recvJID(t, recvGroup)
	alice, aliceLID, bob := recvJID(t, recvAlicePN), recvJID(t, recvAliceLID), recvJID(t, "15557654321@s.whatsapp.net")
	// What a sender's client puts on the wire, as the receiver's whatsmeow hands it on.
	wire := func(chat, sender types.JID, id types.MessageID, edit types.EditAttribute, raw *waE2E.Message) *events.Message {
		e := &events.Message{Info: types.MessageInfo{
			MessageSource: types.MessageSource{Chat: chat, Sender: sender, IsGroup: chat.Server == types.GroupServer},
			ID:            id, PushName: "Alice", Timestamp: recvT0, Edit: edit}, RawMessage: raw}
		return e.UnwrapRaw()
	}
	editOf := func(chat types.JID, id, text string) *waE2E.Message {
		return cli.BuildEdit(chat, id, &waE2E.Message{Conversation: &text})
	}
	revokeOf := func(chat types.JID, id string, participant *string) *waE2E.Message {
		return &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum(),
			Key: &waCommon.MessageKey{ID: &id, RemoteJID: recvStr(chat.String()), Participant: participant}}}
	}
	tests := []struct {
		name string
		evt  *events.Message
		want []any
	}{
		{"edit in a group: the original's new text, mentions rewritten",
			wire(group, alice, "EDIT1", types.EditAttributeMessageEdit, editOf(group, "ORIG", "@15550001111 what time is it?")),
			[]any{recvEdit{recvGroup, "ORIG", recvAlicePN, "@Andy what time is it?"}}},
		{"edit by a LID sender is filed under the phone number",
			wire(group, aliceLID, "EDIT2", types.EditAttributeMessageEdit, editOf(group, "ORIG", "fixed")),
			[]any{recvEdit{recvGroup, "ORIG", recvAlicePN, "fixed"}}},
		{"edit in a DM",
			wire(alice, alice, "EDIT3", types.EditAttributeMessageEdit, editOf(alice, "ORIG", "fixed")),
			[]any{recvEdit{recvAlicePN, "ORIG", recvAlicePN, "fixed"}}},
		{"edit to nothing readable is dropped",
			wire(group, alice, "EDIT4", types.EditAttributeMessageEdit, cli.BuildEdit(group, "ORIG", &waE2E.Message{})),
			nil},
		{"sender's revoke",
			wire(group, alice, "REV1", types.EditAttributeSenderRevoke, revokeOf(group, "ORIG", nil)),
			[]any{recvRevoke{recvGroup, "ORIG", recvAlicePN}}},
		{"admin's revoke of Alice's message",
			wire(group, bob, "REV2", types.EditAttributeAdminRevoke, revokeOf(group, "ORIG", recvStr(recvAliceLID))),
			[]any{recvRevoke{recvGroup, "ORIG", recvAlicePN}}},
		{"revoke of someone else's message that is not an admin's is ignored",
			wire(group, bob, "REV3", types.EditAttributeSenderRevoke, revokeOf(group, "ORIG", recvStr(recvAlicePN))),
			nil},
		{"revoke without an ID is ignored",
			wire(group, alice, "REV4", types.EditAttributeSenderRevoke, revokeOf(group, "", nil)),
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recvSink{}
			New(Options{Sink: sink, AssistantName: recvAssistant}, &dispatchClient{real: cli}, newRecvIdentity(t))
			t.Cleanup(func() { cli.RemoveEventHandlers() })
			if failed := cli.DangerousInternals().DispatchEvent(tc.evt); failed {
				t.Fatal("a handler panicked")
			}
			if got := sink.got(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("sink calls:\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
	// A sink that takes no edits gets neither the edit nor a message in its place.
	rs := &recvSink{}
	New(Options{Sink: plainSink{rs}, AssistantName: recvAssistant}, &dispatchClient{real: cli}, newRecvIdentity(t))
	t.Cleanup(func() { cli.RemoveEventHandlers() })
	cli.DangerousInternals().DispatchEvent(wire(group, alice, "EDIT5", types.EditAttributeMessageEdit, editOf(group, "ORIG", "x")))
	if got := rs.got(); len(got) != 0 {
		t.Fatalf("a sink without edits got %#v", got)
	}
}

// dispatchClient is a real whatsmeow client's event dispatch with the send side faked:
// an unpaired client refuses to send.
type dispatchClient struct {
	*sendFakeClient
	real *whatsmeow.Client
}

func (d *dispatchClient) AddEventHandler(h whatsmeow.EventHandler) uint32 {
	if d.sendFakeClient == nil {
		d.sendFakeClient = newSendFakeClient()
	}
	return d.real.AddEventHandler(h)
}

// newUnpairedClient is a whatsmeow client over an in-memory store of its own.
func newUnpairedClient(t testing.TB, name string) *whatsmeow.Client {
	t.Helper()
	ctx := context.Background()
	container, err := sqlstore.New(ctx, "sqlite", "file:"+name+"?mode=memory&cache=shared&_pragma=foreign_keys(1)", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = container.Close() })
	dev, err := container.GetFirstDevice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return whatsmeow.NewClient(dev, nil)
}

var _ channel.EditSink = (*recvSink)(nil)

// FuzzEditsAndRevokes: any message a sender's client can put on the wire, unwrapped as
// whatsmeow unwraps it, never panics the receive side; an edit or revoke never arrives as a
// message of its own, and only names the message its key names.
func FuzzEditsAndRevokes(f *testing.F) {
	seed := func(m *waE2E.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	text := "fixed"
	f.Add(seed(&waE2E.Message{EditedMessage: &waE2E.FutureProofMessage{Message: &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
		Type: waE2E.ProtocolMessage_MESSAGE_EDIT.Enum(), Key: &waCommon.MessageKey{ID: recvStr("ORIG")}, EditedMessage: &waE2E.Message{Conversation: &text}}}}}), "1", true)
	f.Add(seed(&waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum(),
		Key: &waCommon.MessageKey{ID: recvStr("ORIG"), Participant: recvStr(recvAliceLID)}}}), "8", true)
	f.Add(seed(&waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{}}), "", false)
	f.Add(seed(recvText("hello")), "", true)
	f.Add([]byte{0xff, 0x01}, "7", false)
	f.Fuzz(func(t *testing.T, raw []byte, edit string, group bool) {
		var m waE2E.Message
		if proto.Unmarshal(raw, &m) != nil {
			return
		}
		chat := recvAlicePN
		if group {
			chat = recvGroup
		}
		c, sink, _ := newRecvChannel(t, false)
		e := recvEvent(t, chat, recvAlicePN, nil)
		e.RawMessage, e.Info.Edit = &m, types.EditAttribute(edit)
		e.UnwrapRaw()
		c.onMessage(e)
		pm := e.Message.GetProtocolMessage()
		change := pm != nil && pm.Type != nil &&
			(pm.GetType() == waE2E.ProtocolMessage_MESSAGE_EDIT || pm.GetType() == waE2E.ProtocolMessage_REVOKE)
		for _, call := range sink.got() {
			switch v := call.(type) {
			case store.Message:
				if change {
					t.Fatalf("an edit or revoke arrived as a message: %+v", v)
				}
			case recvEdit:
				if !change || v.ID != pm.GetKey().GetID() || v.ID == "" || strings.TrimSpace(v.Content) == "" {
					t.Fatalf("edit %+v from %v", v, pm)
				}
			case recvRevoke:
				if !change || v.ID != pm.GetKey().GetID() || v.ID == "" {
					t.Fatalf("revoke %+v from %v", v, pm)
				}
			}
		}
	})
}

// TestAdminRevokeCheckedAgainstMembers: an admin's revoke of someone else's message counts
// only when the group's member list says the revoker is an admin; with no list to ask it is
// taken on WhatsApp's word.
func TestAdminRevokeCheckedAgainstMembers(t *testing.T) {
	group := recvJID(t, recvGroup)
	bob := recvJID(t, "15557654321@s.whatsapp.net")
	bobLID := recvJID(t, "77777777777777@lid")
	member := func(admin bool) []types.GroupParticipant {
		return []types.GroupParticipant{
			{JID: recvJID(t, recvAliceLID), PhoneNumber: recvJID(t, recvAlicePN)},
			{JID: bobLID, PhoneNumber: bob, IsAdmin: admin},
		}
	}
	tests := []struct {
		name    string
		dir     Directory
		revoker types.JID
		want    bool
	}{
		{"admin by phone number", &fakeDirectory{members: map[types.JID][]types.GroupParticipant{group: member(true)}}, bob, true},
		{"admin by LID", &fakeDirectory{members: map[types.JID][]types.GroupParticipant{group: member(true)}}, bobLID, true},
		{"not an admin", &fakeDirectory{members: map[types.JID][]types.GroupParticipant{group: member(false)}}, bob, false},
		{"not a member", &fakeDirectory{members: map[types.JID][]types.GroupParticipant{group: member(true)[:1]}}, bob, false},
		{"no list to ask", nil, bob, true},
		{"WhatsApp did not answer", &fakeDirectory{err: errors.New("timeout")}, bob, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recvSink{}
			c := New(Options{Sink: sink, AssistantName: recvAssistant, Directory: tc.dir}, &recvFakeClient{}, newRecvIdentity(t))
			id := "ORIG"
			e := recvEvent(t, recvGroup, tc.revoker.String(), &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
				Type: waE2E.ProtocolMessage_REVOKE.Enum(), Key: &waCommon.MessageKey{ID: &id, Participant: recvStr(recvAlicePN)}}})
			e.Info.Edit = types.EditAttributeAdminRevoke
			c.onMessage(e)
			var want []any
			if tc.want {
				want = []any{recvRevoke{recvGroup, "ORIG", recvAlicePN}}
			}
			if got := sink.got(); !reflect.DeepEqual(got, want) {
				t.Fatalf("sink calls %#v, want %#v", got, want)
			}
		})
	}
}
