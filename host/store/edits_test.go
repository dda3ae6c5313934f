package store

import (
	"context"
	"reflect"
	"testing"
)

// TestEditsAndDeletes: an edit by the message's sender replaces its text and keeps it where
// it was (same ID, same time, same pending state); an edit by anyone else, or of an unknown
// or deleted message, changes nothing. A delete empties the message, drops it from what
// MessagesSince/MessagesAfter/NewMessages return, and takes its text out of replies that
// quoted it.
func TestEditsAndDeletes(t *testing.T) {
	ctx := context.Background()
	const (
		t0    = "2024-01-01T00:00:00.000Z"
		alice = "alice@s.whatsapp.net"
		bob   = "bob@s.whatsapp.net"
	)
	seed := func(t *testing.T) *Store {
		s := openTest(t)
		mustChat(t, s, g, t0)
		mustMsg(t, s, Message{ID: "a1", ChatJID: g, Sender: alice, SenderName: "Alice", Content: "helo", Timestamp: "2024-01-01T00:00:01.000Z"})
		mustMsg(t, s, Message{ID: "b1", ChatJID: g, Sender: bob, SenderName: "Bob", Content: "hi Alice", Timestamp: "2024-01-01T00:00:02.000Z",
			ReplyToMessageID: "a1", ReplyToMessageContent: "helo", ReplyToSenderName: "Alice"})
		return s
	}
	type op struct {
		edit          bool
		id, sender, c string
		found         bool
	}
	tests := []struct {
		name      string
		ops       []op
		want      []string // contents pending after t0, in order
		wantQuote string   // b1's quoted text afterwards
	}{
		{name: "sender's edit replaces the text in place",
			ops:  []op{{edit: true, id: "a1", sender: alice, c: "hello", found: true}},
			want: []string{"hello", "hi Alice"}, wantQuote: "helo"},
		{name: "someone else's edit changes nothing",
			ops:  []op{{edit: true, id: "a1", sender: bob, c: "pwned", found: false}},
			want: []string{"helo", "hi Alice"}, wantQuote: "helo"},
		{name: "edit of an unknown message changes nothing",
			ops:  []op{{edit: true, id: "zz", sender: alice, c: "x", found: false}},
			want: []string{"helo", "hi Alice"}, wantQuote: "helo"},
		{name: "sender's delete removes it and its quote",
			ops:  []op{{id: "a1", sender: alice, found: true}},
			want: []string{"hi Alice"}, wantQuote: ""},
		{name: "delete without a sender (checked by the channel) removes it",
			ops:  []op{{id: "a1", found: true}},
			want: []string{"hi Alice"}, wantQuote: ""},
		{name: "someone else's delete changes nothing",
			ops:  []op{{id: "a1", sender: bob, found: false}},
			want: []string{"helo", "hi Alice"}, wantQuote: "helo"},
		{name: "a deleted message cannot be edited back",
			ops:  []op{{id: "a1", sender: alice, found: true}, {edit: true, id: "a1", sender: alice, c: "back", found: false}},
			want: []string{"hi Alice"}, wantQuote: ""},
		{name: "deleting twice finds it once",
			ops:  []op{{id: "b1", sender: bob, found: true}, {id: "b1", sender: bob, found: false}},
			want: []string{"helo"}, wantQuote: "helo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := seed(t)
			for i, o := range tc.ops {
				var found bool
				var err error
				if o.edit {
					found, err = s.EditMessage(ctx, g, o.id, o.sender, o.c, "2024-01-01T00:01:00.000Z")
				} else {
					_, found, err = s.DeleteMessage(ctx, g, o.id, o.sender, "2024-01-01T00:01:00.000Z")
				}
				if err != nil || found != o.found {
					t.Fatalf("op %d %+v: found %v, err %v", i, o, found, err)
				}
			}
			since, err := s.MessagesSince(ctx, g, t0, "Andy:", 0)
			if err != nil {
				t.Fatal(err)
			}
			after, err := s.MessagesAfter(ctx, g, t0, "Andy:", 0)
			if err != nil {
				t.Fatal(err)
			}
			fresh, _, err := s.NewMessages(ctx, []string{g}, t0, "Andy:", 0)
			if err != nil {
				t.Fatal(err)
			}
			for name, got := range map[string][]Message{"since": since, "after": after, "new": fresh} {
				if !sameStrings(contents(got), tc.want) {
					t.Errorf("%s: %q, want %q", name, contents(got), tc.want)
				}
			}
			for _, m := range since {
				if m.ID == "a1" && m.Timestamp != "2024-01-01T00:00:01.000Z" {
					t.Errorf("edit moved the message to %s", m.Timestamp)
				}
			}
			var quote *string
			if err := s.r.QueryRowContext(ctx, `SELECT reply_to_message_content FROM messages WHERE id = 'b1'`).Scan(&quote); err != nil {
				t.Fatal(err)
			}
			if got := ""; quote != nil {
				got = *quote
				if got != tc.wantQuote {
					t.Errorf("quoted text %q, want %q", got, tc.wantQuote)
				}
			} else if tc.wantQuote != "" {
				t.Errorf("quoted text gone, want %q", tc.wantQuote)
			}
		})
	}
}

// TestDeleteMessageReturnsItsFiles: a deleted message's attachments (the files to remove)
// and routing come back from DeleteMessage, and the row keeps neither text nor attachments.
func TestDeleteMessageReturnsItsFiles(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	mustChat(t, s, g, "2024-01-01T00:00:00.000Z")
	photo := []Attachment{{Kind: "image", Path: "media/20240101-p1.jpg", MIME: "image/jpeg"}}
	mustMsg(t, s, Message{ID: "p1", ChatJID: g, Sender: "alice", Content: "[image]", Timestamp: "2024-01-01T00:00:01.000Z",
		Attachments: photo, HandledAs: "routed:family"})
	old, found, err := s.DeleteMessage(ctx, "", "p1", "alice", "2024-01-01T00:01:00.000Z")
	if err != nil || !found {
		t.Fatalf("delete: %v %v", found, err)
	}
	if old.ChatJID != g || old.HandledAs != "routed:family" || !reflect.DeepEqual(old.Attachments, photo) {
		t.Fatalf("deleted message %+v", old)
	}
	var content string
	var attachments *string
	if err := s.r.QueryRowContext(ctx, `SELECT content, attachments FROM messages WHERE id = 'p1'`).Scan(&content, &attachments); err != nil {
		t.Fatal(err)
	}
	if content != "" || attachments != nil {
		t.Fatalf("row keeps %q, %v", content, attachments)
	}
}
