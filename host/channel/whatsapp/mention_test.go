package whatsapp

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// fakeDirectory is a fixed set of group members and contacts.
type fakeDirectory struct {
	mu       sync.Mutex
	members  map[types.JID][]types.GroupParticipant
	contacts map[types.JID]types.ContactInfo
	err      error
	calls    int
}

func (d *fakeDirectory) Participants(_ context.Context, group types.JID) ([]types.GroupParticipant, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.err != nil {
		return nil, d.err
	}
	return d.members[group], nil
}

func (d *fakeDirectory) Contact(_ context.Context, jid types.JID) (types.ContactInfo, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ci, ok := d.contacts[jid]
	return ci, ok
}

func mustJID(t testing.TB, s string) types.JID {
	t.Helper()
	j, err := types.ParseJID(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestResolveMentions(t *testing.T) {
	alice := candidate{jid: types.NewJID("15551234567", types.DefaultUserServer), names: []string{"Alice"}}
	aliceS := candidate{jid: types.NewJID("15550000002", types.DefaultUserServer), names: []string{"Alice Smith"}}
	bob := candidate{jid: types.NewJID("20000000000001", types.HiddenUserServer), other: types.NewJID("15550000003", types.DefaultUserServer),
		names: []string{"Bob Jones", "Bobby"}}
	bob2 := candidate{jid: types.NewJID("15550000004", types.DefaultUserServer), names: []string{"Bob Marley"}}
	zoe := candidate{jid: types.NewJID("15550000005", types.DefaultUserServer), names: []string{"Zoë"}}
	twin := candidate{jid: types.NewJID("15550000006", types.DefaultUserServer), names: []string{"Sam"}}
	twin2 := candidate{jid: types.NewJID("15550000007", types.DefaultUserServer), names: []string{"Sam"}}
	all := []candidate{alice, aliceS, bob, bob2, zoe, twin, twin2}
	for _, tc := range []struct {
		name, in, want string
		mentioned      []string
	}{
		{"name", "@Alice hi", "@15551234567 hi", []string{"15551234567@s.whatsapp.net"}},
		{"case-insensitive", "thanks @alice!", "thanks @15551234567!", []string{"15551234567@s.whatsapp.net"}},
		{"longest name wins", "@Alice Smith, and @Alice", "@15550000002, and @15551234567",
			[]string{"15550000002@s.whatsapp.net", "15551234567@s.whatsapp.net"}},
		{"LID member mentioned by its LID", "@Bob Jones look", "@20000000000001 look", []string{"20000000000001@lid"}},
		{"another name of the same person", "@bobby", "@20000000000001", []string{"20000000000001@lid"}},
		{"first name shared by two is nobody", "@Bob look", "@Bob look", nil},
		{"unique first name", "hey @Zoë", "hey @15550000005", []string{"15550000005@s.whatsapp.net"}},
		{"name shared by two is nobody", "@Sam hi", "@Sam hi", nil},
		{"number of a member", "@15551234567 hi", "@15551234567 hi", []string{"15551234567@s.whatsapp.net"}},
		{"phone number of a LID member", "@15550000003 hi", "@20000000000001 hi", []string{"20000000000001@lid"}},
		{"unknown number", "@19999999999 hi", "@19999999999 hi", nil},
		{"not at a word boundary", "@Alicexyz", "@Alicexyz", nil},
		{"possessive", "@Alice's idea", "@15551234567's idea", []string{"15551234567@s.whatsapp.net"}},
		{"email is not a mention", "mail alice@Alice.com", "mail alice@Alice.com", nil},
		{"unknown name", "@Carol hi", "@Carol hi", nil},
		{"twice, listed once", "@Alice and @ALICE", "@15551234567 and @15551234567", []string{"15551234567@s.whatsapp.net"}},
		{"not in a code span", "run `@Alice` now", "run `@Alice` now", nil},
		{"not in a code block", "```\n@Alice\n```\n@Alice", "```\n@Alice\n```\n@15551234567", []string{"15551234567@s.whatsapp.net"}},
		{"lone at", "@ alone @", "@ alone @", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, m := resolveMentions(tc.in, all)
			if got != tc.want || !slices.Equal(m, tc.mentioned) {
				t.Fatalf("resolveMentions(%q) = %q %v, want %q %v", tc.in, got, m, tc.want, tc.mentioned)
			}
		})
	}
	if got, m := resolveMentions("@Alice", nil); got != "@Alice" || m != nil {
		t.Fatalf("no candidates: %q %v", got, m)
	}
}

// groupMessage is an inbound text in sendGroup from sender (alt: its other address).
func groupMessage(t testing.TB, id, sender, alt, push, text string) *events.Message {
	e := recvEvent(t, sendGroup, sender, recvText(text))
	e.Info.ID = types.MessageID(id)
	e.Info.PushName = push
	if alt != "" {
		e.Info.SenderAlt = mustJID(t, alt)
	}
	return e
}

// mentionsOf returns a sent message's text and mentioned JIDs.
func mentionsOf(a sendAttempt) []string {
	return a.msg.GetExtendedTextMessage().GetContextInfo().GetMentionedJID()
}

func TestSendMentionsSomeoneSeenInTheChat(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{HasOwnNumber: true})
	online(c)
	c.handleEvent(groupMessage(t, "M1", "12345678901234@lid", "15551234567@s.whatsapp.net", "Alice", "hi"))
	mustSend(t, c, sendGroup, "Sure, @Alice: done.")
	a := f.next(t)
	if a.text != "Sure, @12345678901234: done." || !slices.Equal(mentionsOf(a), []string{"12345678901234@lid"}) {
		t.Fatalf("sent %q mentioning %v", a.text, mentionsOf(a))
	}
	// Nobody called Bob wrote: the text goes as it is, as plain text.
	mustSend(t, c, sendGroup, "@Bob?")
	if a := f.next(t); a.text != "@Bob?" || a.msg.GetConversation() != "@Bob?" {
		t.Fatalf("sent %+v", a.msg)
	}
}

func TestSendMentionsGroupMembersByContactName(t *testing.T) {
	group := mustJID(t, sendGroup)
	dir := &fakeDirectory{
		members: map[types.JID][]types.GroupParticipant{group: {
			{JID: mustJID(t, "20000000000001@lid"), PhoneNumber: mustJID(t, "15550000003@s.whatsapp.net"), LID: mustJID(t, "20000000000001@lid")},
			{JID: mustJID(t, "15550000004@s.whatsapp.net")},
		}},
		contacts: map[types.JID]types.ContactInfo{
			mustJID(t, "15550000003@s.whatsapp.net"): {Found: true, FullName: "Bob Jones", PushName: "Bobby"},
			mustJID(t, "15550000004@s.whatsapp.net"): {Found: true, PushName: "Carol"},
		},
	}
	c, f, _ := newSendChannel(t, Options{Directory: dir})
	online(c)
	mustSend(t, c, sendGroup, "@Bob Jones and @carol, see above")
	a := f.next(t)
	want := []string{"20000000000001@lid", "15550000004@s.whatsapp.net"}
	if a.text != "Andy: @20000000000001 and @15550000004, see above" || !slices.Equal(mentionsOf(a), want) {
		t.Fatalf("sent %q mentioning %v", a.text, mentionsOf(a))
	}
	mustSend(t, c, sendGroup, "@Bobby again")
	if a := f.next(t); a.text != "Andy: @20000000000001 again" {
		t.Fatalf("sent %q", a.text)
	}
	dir.mu.Lock()
	calls := dir.calls
	dir.mu.Unlock()
	if calls != 1 {
		t.Fatalf("member list asked %d times, want 1 (cached)", calls)
	}
}

func TestSendMentionNeverNamesTheAccount(t *testing.T) {
	group := mustJID(t, sendGroup)
	own := mustJID(t, "15550001111@s.whatsapp.net")
	dir := &fakeDirectory{members: map[types.JID][]types.GroupParticipant{group: {{JID: own}}},
		contacts: map[types.JID]types.ContactInfo{own: {Found: true, PushName: "Owner"}}}
	f := newSendFakeClient()
	c := New(Options{Sink: newSendSink(), AssistantName: "Andy", HasOwnNumber: true, Directory: dir}, f,
		recvIdentity{pn: own})
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	online(c)
	mustSend(t, c, sendGroup, "@Owner hi")
	if a := f.next(t); a.text != "@Owner hi" || mentionsOf(a) != nil {
		t.Fatalf("sent %q mentioning %v", a.text, mentionsOf(a))
	}
}

func TestSendMentionsWithoutAMemberList(t *testing.T) {
	// The member list cannot be had: names seen on messages still work.
	dir := &fakeDirectory{err: errors.New("not connected")}
	c, f, _ := newSendChannel(t, Options{Directory: dir, HasOwnNumber: true})
	online(c)
	c.handleEvent(groupMessage(t, "M1", "15551234567@s.whatsapp.net", "", "Alice", "hi"))
	mustSend(t, c, sendGroup, "@Alice ok")
	if a := f.next(t); a.text != "@15551234567 ok" || !slices.Equal(mentionsOf(a), []string{"15551234567@s.whatsapp.net"}) {
		t.Fatalf("sent %q mentioning %v", a.text, mentionsOf(a))
	}
}

// FuzzResolveMentions: never panics; text with no mention comes back unchanged; every
// mention made is in the text as "@<user>" and names one of the candidates; valid UTF-8
// stays valid.
func FuzzResolveMentions(f *testing.F) {
	for _, s := range []string{"@Alice hi", "@alice smith!", "a@Alice", "`@Alice`", "```\n@Bob\n```", "@15551234567", "@", "@@Alice", "@Zoë's", "@Bob Jones, @Bobby"} {
		f.Add(s)
	}
	cands := []candidate{
		{jid: types.NewJID("15551234567", types.DefaultUserServer), names: []string{"Alice", "Alice Smith"}},
		{jid: types.NewJID("20000000000001", types.HiddenUserServer), other: types.NewJID("15550000003", types.DefaultUserServer), names: []string{"Bob Jones", "Bobby"}},
		{jid: types.NewJID("15550000005", types.DefaultUserServer), names: []string{"Zoë", ""}},
	}
	f.Fuzz(func(t *testing.T, text string) {
		out, mentioned := resolveMentions(text, cands)
		if mentioned == nil && out != text {
			t.Fatalf("resolveMentions(%q) = %q with no mention", text, out)
		}
		if utf8.ValidString(text) && !utf8.ValidString(out) {
			t.Fatalf("resolveMentions(%q) = %q: invalid UTF-8", text, out)
		}
		for _, m := range mentioned {
			j, err := types.ParseJID(m)
			if err != nil || !strings.Contains(out, "@"+j.User) {
				t.Fatalf("mentioned %s but %q does not say @%s", m, out, j.User)
			}
			if !slices.ContainsFunc(cands, func(c candidate) bool { return c.jid == j }) {
				t.Fatalf("mentioned %s, not a candidate", m)
			}
		}
	})
}
