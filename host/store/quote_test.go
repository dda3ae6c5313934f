package store

import (
	"context"
	"testing"
)

func TestGroupQuoteRepliesSetting(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	on, off := true, false
	get := func() *bool {
		t.Helper()
		g, ok, err := s.RegisteredGroup(ctx, "g@g.us")
		if err != nil || !ok {
			t.Fatalf("RegisteredGroup: %v %v", ok, err)
		}
		return g.QuoteReplies
	}
	str := func(b *bool) string {
		if b == nil {
			return "default"
		}
		if *b {
			return "on"
		}
		return "off"
	}
	g := Group{JID: "g@g.us", Folder: "fam", Name: "Fam", Trigger: "@Andy", RequiresTrigger: true}
	for _, step := range []struct {
		name string
		set  *bool
		want string
	}{
		{"registered without a word: the default", nil, "default"},
		{"turned off", &off, "off"},
		{"updated without a word: still off", nil, "off"},
		{"turned on", &on, "on"},
	} {
		g.QuoteReplies = step.set
		if err := s.SetRegisteredGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		if got := str(get()); got != step.want {
			t.Fatalf("%s: quoting %s, want %s", step.name, got, step.want)
		}
	}
}

func TestOutgoingKeepsReplyTo(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if _, err := s.QueueOutgoing(ctx, []Outgoing{
		{ChatJID: "g@g.us", Text: "answer", Origin: "reply:fam", CreatedAt: "2024-01-01T00:00:00.000Z", ReplyTo: "M7"},
		{ChatJID: "g@g.us", Text: "notice", Origin: "notice:fam", CreatedAt: "2024-01-01T00:00:01.000Z"},
	}, nil); err != nil {
		t.Fatal(err)
	}
	out, err := s.UnsentOutgoing(ctx)
	if err != nil || len(out) != 2 {
		t.Fatalf("unsent %v %v", out, err)
	}
	if out[0].ReplyTo != "M7" || out[1].ReplyTo != "" {
		t.Fatalf("reply_to %q, %q; want M7, empty", out[0].ReplyTo, out[1].ReplyTo)
	}
}

func TestMessageByID(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	mustChat(t, s, "g@g.us", "2024-01-01T00:00:00.000Z")
	mustChat(t, s, "h@g.us", "2024-01-01T00:00:00.000Z")
	m := userMsg("M1", "g@g.us", "lunch?", "2024-01-01T00:00:01.000Z")
	mustMsg(t, s, m)
	got, ok, err := s.Message(ctx, "g@g.us", "M1")
	if err != nil || !ok || got.Content != "lunch?" || got.Sender != m.Sender {
		t.Fatalf("Message = %+v %v %v", got, ok, err)
	}
	if _, ok, err := s.Message(ctx, "h@g.us", "M1"); ok || err != nil {
		t.Fatalf("found M1 in another chat: %v %v", ok, err)
	}
	if _, ok, err := s.Message(ctx, "g@g.us", "nope"); ok || err != nil {
		t.Fatalf("found a message that is not there: %v %v", ok, err)
	}
}
