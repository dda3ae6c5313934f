package store

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const g = "group@g.us"

// db.test.ts storeMessage and reply context.
func TestStoreMessage(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		store []Message
		want  []Message // what MessagesSince(g, 00:00:00, "Andy:") returns
	}{
		{
			name:  "stores and retrieves",
			store: []Message{{ID: "msg-1", ChatJID: g, Sender: "123@s.whatsapp.net", SenderName: "Alice", Content: "hello world", Timestamp: "2024-01-01T00:00:01.000Z"}},
			want:  []Message{{ID: "msg-1", ChatJID: g, Sender: "123@s.whatsapp.net", SenderName: "Alice", Content: "hello world", Timestamp: "2024-01-01T00:00:01.000Z"}},
		},
		{
			name:  "filters empty content",
			store: []Message{{ID: "msg-2", ChatJID: g, Sender: "111", SenderName: "Dave", Content: "", Timestamp: "2024-01-01T00:00:04.000Z"}},
		},
		{
			name:  "stores is_from_me",
			store: []Message{{ID: "msg-3", ChatJID: g, Sender: "me", SenderName: "Me", Content: "my message", Timestamp: "2024-01-01T00:00:05.000Z", IsFromMe: true}},
			want:  []Message{{ID: "msg-3", ChatJID: g, Sender: "me", SenderName: "Me", Content: "my message", Timestamp: "2024-01-01T00:00:05.000Z", IsFromMe: true}},
		},
		{
			name: "upserts on duplicate id+chat_jid",
			store: []Message{
				{ID: "msg-dup", ChatJID: g, Sender: "123", SenderName: "Alice", Content: "original", Timestamp: "2024-01-01T00:00:01.000Z"},
				{ID: "msg-dup", ChatJID: g, Sender: "123", SenderName: "Alice", Content: "updated", Timestamp: "2024-01-01T00:00:01.000Z"},
			},
			want: []Message{{ID: "msg-dup", ChatJID: g, Sender: "123", SenderName: "Alice", Content: "updated", Timestamp: "2024-01-01T00:00:01.000Z"}},
		},
		{
			name: "reply fields round-trip",
			store: []Message{{ID: "reply-1", ChatJID: g, Sender: "123", SenderName: "Alice", Content: "Yes, on my way!", Timestamp: "2024-01-01T00:00:01.000Z",
				ReplyToMessageID: "42", ReplyToMessageContent: "Are you coming tonight?", ReplyToSenderName: "Bob"}},
			want: []Message{{ID: "reply-1", ChatJID: g, Sender: "123", SenderName: "Alice", Content: "Yes, on my way!", Timestamp: "2024-01-01T00:00:01.000Z",
				ReplyToMessageID: "42", ReplyToMessageContent: "Are you coming tonight?", ReplyToSenderName: "Bob"}},
		},
		{
			name: "attachments round-trip",
			store: []Message{{ID: "att-1", ChatJID: g, Sender: "123", SenderName: "Alice", Content: "[image]", Timestamp: "2024-01-01T00:00:01.000Z",
				Attachments: []Attachment{{Kind: "image", Path: "media/a.jpg", MIME: "image/jpeg", Size: 10, Width: 4, Height: 3},
					{Kind: "video", Size: 1 << 30, Seconds: 12, Skipped: "too large"}}}},
			want: []Message{{ID: "att-1", ChatJID: g, Sender: "123", SenderName: "Alice", Content: "[image]", Timestamp: "2024-01-01T00:00:01.000Z",
				Attachments: []Attachment{{Kind: "image", Path: "media/a.jpg", MIME: "image/jpeg", Size: 10, Width: 4, Height: 3},
					{Kind: "video", Size: 1 << 30, Seconds: 12, Skipped: "too large"}}}},
		},
		{
			name:  "apostrophes and SQL round-trip",
			store: []Message{{ID: "x'; DROP TABLE messages; --", ChatJID: g, Sender: "o'brien", SenderName: "O'Brien", Content: `it's "quoted" '); DELETE FROM chats; --`, Timestamp: "2024-01-01T00:00:01.000Z"}},
			want:  []Message{{ID: "x'; DROP TABLE messages; --", ChatJID: g, Sender: "o'brien", SenderName: "O'Brien", Content: `it's "quoted" '); DELETE FROM chats; --`, Timestamp: "2024-01-01T00:00:01.000Z"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			mustChat(t, s, g, "2024-01-01T00:00:00.000Z")
			for _, m := range c.store {
				mustMsg(t, s, m)
			}
			got, err := s.MessagesSince(ctx, g, "2024-01-01T00:00:00.000Z", "Andy:", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 && len(c.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestStoreMessageRequiresChat(t *testing.T) {
	s := openTest(t)
	// The messages→chats foreign key is enforced: metadata comes first.
	if err := s.StoreMessage(context.Background(), userMsg("m", "nochat@g.us", "hi", "2024")); err == nil {
		t.Error("stored a message for an unknown chat")
	}
	if err := s.StoreMessage(context.Background(), Message{ChatJID: g}); err == nil {
		t.Error("stored a message without id")
	}
}

func TestReplyContextViaNewMessages(t *testing.T) {
	s := openTest(t)
	mustChat(t, s, g, "2024-01-01T00:00:00.000Z")
	mustMsg(t, s, Message{ID: "reply-2", ChatJID: g, Sender: "456", SenderName: "Carol", Content: "Agreed",
		Timestamp: "2024-01-01T00:00:01.000Z", ReplyToMessageID: "99", ReplyToMessageContent: "We should meet", ReplyToSenderName: "Dave"})
	msgs, _, err := s.NewMessages(context.Background(), []string{g}, "2024-01-01T00:00:00.000Z", "Andy:", 200)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%v %v", msgs, err)
	}
	if msgs[0].ReplyToMessageID != "99" || msgs[0].ReplyToSenderName != "Dave" || msgs[0].ReplyToMessageContent != "We should meet" {
		t.Errorf("got %+v", msgs[0])
	}
}

// seedSince is db.test.ts's getMessagesSince fixture: two users, a flagged bot reply, a user.
func seedSince(t *testing.T, s *Store) {
	t.Helper()
	mustChat(t, s, g, "2024-01-01T00:00:00.000Z")
	mustMsg(t, s, userMsg("m1", g, "first", "2024-01-01T00:00:01.000Z"))
	mustMsg(t, s, userMsg("m2", g, "second", "2024-01-01T00:00:02.000Z"))
	mustMsg(t, s, Message{ID: "m3", ChatJID: g, Sender: "bot", SenderName: "Bot", Content: "bot reply", Timestamp: "2024-01-01T00:00:03.000Z", IsBotMessage: true})
	mustMsg(t, s, userMsg("m4", g, "third", "2024-01-01T00:00:04.000Z"))
}

func TestMessagesSince(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		extra  []Message
		since  string
		prefix string
		limit  int
		want   []string
	}{
		{name: "after the timestamp, excluding the bot", since: "2024-01-01T00:00:02.000Z", want: []string{"third"}},
		{name: "bot excluded by flag", since: "2024-01-01T00:00:00.000Z", want: []string{"first", "second", "third"}},
		{name: "empty cursor returns everything", since: "", want: []string{"first", "second", "third"}},
		{name: "limit keeps the newest, ascending", since: "", limit: 2, want: []string{"second", "third"}},
		{
			name:  "pre-migration bot reply filtered by prefix",
			extra: []Message{userMsg("m5", g, "Andy: old bot reply", "2024-01-01T00:00:05.000Z")},
			since: "2024-01-01T00:00:04.000Z",
		},
		{
			name:   "empty prefix disables the prefix filter",
			extra:  []Message{userMsg("m5", g, "Andy: hi", "2024-01-01T00:00:05.000Z")},
			since:  "2024-01-01T00:00:04.000Z",
			prefix: "-",
			want:   []string{"Andy: hi"},
		},
		{
			name:  "prefix only at the start",
			extra: []Message{userMsg("m5", g, "hey Andy: hi", "2024-01-01T00:00:05.000Z")},
			since: "2024-01-01T00:00:04.000Z",
			want:  []string{"hey Andy: hi"},
		},
		{name: "other chats not included", extra: []Message{userMsg("o1", "other@g.us", "elsewhere", "2024-01-01T00:00:09.000Z")}, since: "", want: []string{"first", "second", "third"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			seedSince(t, s)
			mustChat(t, s, "other@g.us", "2024-01-01T00:00:00.000Z")
			for _, m := range c.extra {
				mustMsg(t, s, m)
			}
			prefix := c.prefix
			switch prefix {
			case "":
				prefix = "Andy:"
			case "-":
				prefix = ""
			}
			got, err := s.MessagesSince(ctx, g, c.since, prefix, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !sameStrings(contents(got), c.want) {
				t.Errorf("got %q, want %q", contents(got), c.want)
			}
		})
	}
}

func TestCursorRecoveryFromLastBotReply(t *testing.T) {
	ctx := context.Background()
	t.Run("recovers from the last bot reply", func(t *testing.T) {
		s := openTest(t)
		seedSince(t, s)
		for i := 1; i <= 50; i++ {
			mustMsg(t, s, userMsg(fmt.Sprintf("history-%d", i), g, fmt.Sprintf("old message %d", i), fmt.Sprintf("2023-06-%02dT12:00:00.000Z", i%28+1)))
		}
		mustMsg(t, s, userMsg("new-1", g, "new message after bot reply", "2024-01-02T00:00:00.000Z"))
		rec, err := s.LastBotMessageTime(ctx, g, "Andy:")
		if err != nil || rec != "2024-01-01T00:00:03.000Z" {
			t.Fatalf("recovered %q %v", rec, err)
		}
		msgs, err := s.MessagesSince(ctx, g, rec, "Andy:", 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"third", "new message after bot reply"}; !reflect.DeepEqual(contents(msgs), want) {
			t.Errorf("got %q, want %q", contents(msgs), want)
		}
	})
	t.Run("caps to the limit even with a recovered cursor", func(t *testing.T) {
		s := openTest(t)
		seedSince(t, s)
		for i := 1; i <= 30; i++ {
			mustMsg(t, s, userMsg(fmt.Sprintf("pending-%d", i), g, fmt.Sprintf("pending message %d", i), fmt.Sprintf("2024-02-%02dT12:00:00.000Z", i)))
		}
		rec, _ := s.LastBotMessageTime(ctx, g, "Andy:")
		msgs, err := s.MessagesSince(ctx, g, rec, "Andy:", 10)
		if err != nil || len(msgs) != 10 {
			t.Fatalf("%d msgs, %v", len(msgs), err)
		}
		if msgs[0].Content != "pending message 21" || msgs[9].Content != "pending message 30" {
			t.Errorf("got %q", contents(msgs))
		}
	})
	t.Run("no bot reply and no cursor gives the last N", func(t *testing.T) {
		s := openTest(t)
		mustChat(t, s, "fresh@g.us", "2024-01-01T00:00:00.000Z")
		for i := 1; i <= 20; i++ {
			mustMsg(t, s, userMsg(fmt.Sprintf("fresh-%d", i), "fresh@g.us", fmt.Sprintf("message %d", i), fmt.Sprintf("2024-02-%02dT12:00:00.000Z", i)))
		}
		rec, err := s.LastBotMessageTime(ctx, "fresh@g.us", "Andy:")
		if err != nil || rec != "" {
			t.Fatalf("recovered %q %v, want none", rec, err)
		}
		msgs, _ := s.MessagesSince(ctx, "fresh@g.us", "", "Andy:", 10)
		if len(msgs) != 10 || msgs[0].Content != "message 11" {
			t.Errorf("got %q", contents(msgs))
		}
	})
	t.Run("prefix match counts as a bot reply", func(t *testing.T) {
		s := openTest(t)
		mustChat(t, s, g, "2024-01-01T00:00:00.000Z")
		mustMsg(t, s, userMsg("a", g, "Andy: unflagged reply", "2024-01-01T00:00:07.000Z"))
		mustMsg(t, s, userMsg("b", g, "later", "2024-01-01T00:00:08.000Z"))
		if rec, err := s.LastBotMessageTime(ctx, g, "Andy:"); err != nil || rec != "2024-01-01T00:00:07.000Z" {
			t.Errorf("recovered %q %v", rec, err)
		}
	})
}

func TestNewMessages(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	mustChat(t, s, "group1@g.us", "2024-01-01T00:00:00.000Z")
	mustChat(t, s, "group2@g.us", "2024-01-01T00:00:00.000Z")
	mustChat(t, s, "group3@g.us", "2024-01-01T00:00:00.000Z")
	mustMsg(t, s, userMsg("a1", "group1@g.us", "g1 msg1", "2024-01-01T00:00:01.000Z"))
	mustMsg(t, s, userMsg("a2", "group2@g.us", "g2 msg1", "2024-01-01T00:00:02.000Z"))
	mustMsg(t, s, Message{ID: "a3", ChatJID: "group1@g.us", Content: "bot reply", Timestamp: "2024-01-01T00:00:03.000Z", IsBotMessage: true})
	mustMsg(t, s, userMsg("a4", "group1@g.us", "g1 msg2", "2024-01-01T00:00:04.000Z"))
	mustMsg(t, s, userMsg("a5", "group3@g.us", "unregistered", "2024-01-01T00:00:05.000Z"))
	both := []string{"group1@g.us", "group2@g.us"}
	cases := []struct {
		name       string
		jids       []string
		since      string
		limit      int
		want       []string
		wantCursor string
	}{
		{name: "across groups", jids: both, since: "2024-01-01T00:00:00.000Z", limit: 200, want: []string{"g1 msg1", "g2 msg1", "g1 msg2"}, wantCursor: "2024-01-01T00:00:04.000Z"},
		{name: "filters by timestamp", jids: both, since: "2024-01-01T00:00:02.000Z", limit: 200, want: []string{"g1 msg2"}, wantCursor: "2024-01-01T00:00:04.000Z"},
		{name: "no jids", jids: nil, since: "", want: nil, wantCursor: ""},
		{name: "nothing new keeps the cursor", jids: both, since: "2024-01-01T00:00:09.000Z", want: nil, wantCursor: "2024-01-01T00:00:09.000Z"},
		{name: "limit keeps newest", jids: both, since: "", limit: 2, want: []string{"g2 msg1", "g1 msg2"}, wantCursor: "2024-01-01T00:00:04.000Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, cur, err := s.NewMessages(ctx, c.jids, c.since, "Andy:", c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !sameStrings(contents(got), c.want) {
				t.Errorf("got %q, want %q", contents(got), c.want)
			}
			if cur != c.wantCursor {
				t.Errorf("cursor %q, want %q", cur, c.wantCursor)
			}
		})
	}
}

// db.test.ts "message query LIMIT".
func TestMessageQueryLimit(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	mustChat(t, s, g, "2024-01-01T00:00:00.000Z")
	for i := 1; i <= 10; i++ {
		mustMsg(t, s, userMsg(fmt.Sprintf("lim-%d", i), g, fmt.Sprintf("message %d", i), fmt.Sprintf("2024-01-01T00:00:%02d.000Z", i)))
	}
	msgs, cur, err := s.NewMessages(ctx, []string{g}, "2024-01-01T00:00:00.000Z", "Andy:", 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"message 8", "message 9", "message 10"}; !reflect.DeepEqual(contents(msgs), want) || cur != "2024-01-01T00:00:10.000Z" {
		t.Errorf("NewMessages = %q, %q", contents(msgs), cur)
	}
	msgs, err = s.MessagesSince(ctx, g, "2024-01-01T00:00:00.000Z", "Andy:", 3)
	if want := []string{"message 8", "message 9", "message 10"}; err != nil || !reflect.DeepEqual(contents(msgs), want) {
		t.Errorf("MessagesSince = %q, %v", contents(msgs), err)
	}
	msgs, _, _ = s.NewMessages(ctx, []string{g}, "2024-01-01T00:00:00.000Z", "Andy:", 50)
	if len(msgs) != 10 {
		t.Errorf("under the limit: %d messages, want 10", len(msgs))
	}
}

// An assistant name with LIKE wildcards matches only itself.
func TestBotPrefixLikeEscaping(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		prefix  string
		content string
		hidden  bool
	}{
		{"100%:", "100%: bot", true},
		{"100%:", "100 percent: user", false},
		{"100%:", "1000: user", false},
		{"a_b:", "a_b: bot", true},
		{"a_b:", "axb: user", false},
		{`back\slash:`, `back\slash: bot`, true},
		{`back\slash:`, `backslash: user`, false},
		{"O'Neil:", "O'Neil: bot", true},
		{"O'Neil:", "O Neil: user", false},
		{"Andy:", "andy: LIKE is ASCII case-insensitive, as in NanoClaw", true},
	}
	for _, c := range cases {
		t.Run(c.prefix+"/"+c.content, func(t *testing.T) {
			s := openTest(t)
			mustChat(t, s, g, "2024-01-01T00:00:00.000Z")
			mustMsg(t, s, userMsg("m", g, c.content, "2024-01-01T00:00:01.000Z"))
			got, err := s.MessagesSince(ctx, g, "", c.prefix, 10)
			if err != nil {
				t.Fatal(err)
			}
			if hidden := len(got) == 0; hidden != c.hidden {
				t.Errorf("hidden = %v, want %v", hidden, c.hidden)
			}
			rec, err := s.LastBotMessageTime(ctx, g, c.prefix)
			if err != nil {
				t.Fatal(err)
			}
			if (rec != "") != c.hidden {
				t.Errorf("LastBotMessageTime = %q, want bot=%v", rec, c.hidden)
			}
		})
	}
}

func BenchmarkStoreMessage(b *testing.B) {
	s := openTest(b)
	mustChat(b, s, g, "2024-01-01T00:00:00.000Z")
	ctx := context.Background()
	content := strings.Repeat("x", 200)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := s.StoreMessage(ctx, userMsg(fmt.Sprint(i), g, content, Timestamp(benchTime(i)))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMessagesSince(b *testing.B) {
	s := openTest(b)
	mustChat(b, s, g, "2024-01-01T00:00:00.000Z")
	ctx := context.Background()
	// A chat with a long history; the poll asks for the newest 10 after a recent cursor.
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		for i := 0; i < 5000; i++ {
			m := userMsg(fmt.Sprint(i), g, "history message", Timestamp(benchTime(i)))
			if _, err := tx.ExecContext(ctx, `INSERT INTO messages (id, chat_jid, sender, sender_name, content, timestamp, is_from_me, is_bot_message)
				VALUES (?, ?, ?, ?, ?, ?, 0, 0)`, m.ID, m.ChatJID, m.Sender, m.SenderName, m.Content, m.Timestamp); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	since := Timestamp(benchTime(4900))
	for b.Loop() {
		msgs, err := s.MessagesSince(ctx, g, since, "Andy:", 10)
		if err != nil || len(msgs) != 10 {
			b.Fatal(len(msgs), err)
		}
	}
}

// TestHandledMessagesAreNotPending: a message the host handled itself (routed elsewhere, a
// chat command) stays in the history but is never pending for the chat's agent.
func TestHandledMessagesAreNotPending(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if err := s.StoreChatMetadata(ctx, Chat{JID: "c"}); err != nil {
		t.Fatal(err)
	}
	for i, m := range []Message{
		{ID: "1", Content: "before"},
		{ID: "2", Content: "routed away", HandledAs: "routed:other"},
		{ID: "3", Content: "/new", HandledAs: "command:new"},
		{ID: "4", Content: "after"},
	} {
		m.ChatJID, m.Timestamp = "c", fmt.Sprintf("2024-01-01T00:00:0%d.000Z", i)
		if err := s.StoreMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.MessagesSince(ctx, "c", "", "Andy:", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range got {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "1,4" {
		t.Fatalf("pending %v, want 1,4", ids)
	}
}

// TestMessagesAfter: a backlog comes out oldest first, a batch at a time, none skipped.
func TestMessagesAfter(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const g = "after@g.us"
	mustChat(t, s, g, "2024-01-01T00:00:00.000Z")
	for i := 1; i <= 25; i++ {
		mustMsg(t, s, userMsg(fmt.Sprintf("m-%d", i), g, fmt.Sprintf("message %d", i), fmt.Sprintf("2024-02-%02dT12:00:00.000Z", i)))
	}
	var seen []string
	cursor := "2024-01-31T00:00:00.000Z"
	for {
		batch, err := s.MessagesAfter(ctx, g, cursor, "Andy:", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		if len(batch) > 10 {
			t.Fatalf("batch of %d", len(batch))
		}
		seen = append(seen, contents(batch)...)
		cursor = batch[len(batch)-1].Timestamp
	}
	if len(seen) != 25 || seen[0] != "message 1" || seen[24] != "message 25" {
		t.Fatalf("worked through %q", seen)
	}
}
