package store

import (
	"context"
	"testing"
	"time"
)

// db.test.ts storeChatMetadata, plus the channel/is_group COALESCE rules.
func TestStoreChatMetadata(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		calls []Chat
		want  Chat
	}{
		{
			name:  "JID is the default name",
			calls: []Chat{{JID: g, LastMessageTime: "2024-01-01T00:00:00.000Z"}},
			want:  Chat{JID: g, Name: g, LastMessageTime: "2024-01-01T00:00:00.000Z"},
		},
		{
			name:  "explicit name",
			calls: []Chat{{JID: g, Name: "My Group", LastMessageTime: "2024-01-01T00:00:00.000Z"}},
			want:  Chat{JID: g, Name: "My Group", LastMessageTime: "2024-01-01T00:00:00.000Z"},
		},
		{
			name: "later name replaces",
			calls: []Chat{
				{JID: g, LastMessageTime: "2024-01-01T00:00:00.000Z"},
				{JID: g, Name: "Updated Name", LastMessageTime: "2024-01-01T00:00:01.000Z"},
			},
			want: Chat{JID: g, Name: "Updated Name", LastMessageTime: "2024-01-01T00:00:01.000Z"},
		},
		{
			name: "empty name keeps the stored one",
			calls: []Chat{
				{JID: g, Name: "Kept", LastMessageTime: "2024-01-01T00:00:00.000Z"},
				{JID: g, LastMessageTime: "2024-01-01T00:00:01.000Z"},
			},
			want: Chat{JID: g, Name: "Kept", LastMessageTime: "2024-01-01T00:00:01.000Z"},
		},
		{
			name: "newer timestamp preserved",
			calls: []Chat{
				{JID: g, LastMessageTime: "2024-01-01T00:00:05.000Z"},
				{JID: g, LastMessageTime: "2024-01-01T00:00:01.000Z"},
			},
			want: Chat{JID: g, Name: g, LastMessageTime: "2024-01-01T00:00:05.000Z"},
		},
		{
			name: "unknown channel keeps channel and group flag",
			calls: []Chat{
				{JID: g, LastMessageTime: "2024-01-01T00:00:00.000Z", Channel: "whatsapp", IsGroup: true},
				{JID: g, LastMessageTime: "2024-01-01T00:00:01.000Z"},
			},
			want: Chat{JID: g, Name: g, LastMessageTime: "2024-01-01T00:00:01.000Z", Channel: "whatsapp", IsGroup: true},
		},
		{
			name: "a channel can demote a group",
			calls: []Chat{
				{JID: g, LastMessageTime: "2024-01-01T00:00:00.000Z", Channel: "whatsapp", IsGroup: true},
				{JID: g, LastMessageTime: "2024-01-01T00:00:01.000Z", Channel: "whatsapp", IsGroup: false},
			},
			want: Chat{JID: g, Name: g, LastMessageTime: "2024-01-01T00:00:01.000Z", Channel: "whatsapp"},
		},
		{
			name: "apostrophes round-trip",
			calls: []Chat{
				{JID: "o'brien@g.us", Name: "Bob's '); DROP TABLE chats; --", LastMessageTime: "2024-01-01T00:00:00.000Z"},
			},
			want: Chat{JID: "o'brien@g.us", Name: "Bob's '); DROP TABLE chats; --", LastMessageTime: "2024-01-01T00:00:00.000Z"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			for _, call := range c.calls {
				if err := s.StoreChatMetadata(ctx, call); err != nil {
					t.Fatal(err)
				}
			}
			chats, err := s.Chats(ctx)
			if err != nil || len(chats) != 1 {
				t.Fatalf("chats %+v %v", chats, err)
			}
			if chats[0] != c.want {
				t.Errorf("got %+v, want %+v", chats[0], c.want)
			}
		})
	}
}

func TestUpdateChatNameAndGroupSync(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	s.now = func() time.Time { return time.Date(2025, 3, 4, 5, 6, 7, 8e6, time.UTC) }

	mustChat(t, s, g, "2024-01-01T00:00:05.000Z")
	if err := s.UpdateChatName(ctx, g, "Renamed"); err != nil {
		t.Fatal(err)
	}
	c, ok, err := s.Chat(ctx, g)
	if err != nil || !ok || c.Name != "Renamed" || c.LastMessageTime != "2024-01-01T00:00:05.000Z" {
		t.Errorf("existing chat after sync: %+v %v %v (timestamp must not move)", c, ok, err)
	}
	if err := s.UpdateChatName(ctx, "new@g.us", "New"); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := s.Chat(ctx, "new@g.us"); c.LastMessageTime != "2025-03-04T05:06:07.008Z" {
		t.Errorf("new chat gets now: %+v", c)
	}
	if _, ok, err := s.Chat(ctx, "missing"); ok || err != nil {
		t.Errorf("missing chat: %v %v", ok, err)
	}

	if ts, err := s.LastGroupSync(ctx); err != nil || ts != "" {
		t.Errorf("never synced: %q %v", ts, err)
	}
	for _, ts := range []string{"2024-05-01T00:00:00.000Z", "2024-04-01T00:00:00.000Z"} {
		if err := s.SetLastGroupSync(ctx, ts); err != nil {
			t.Fatal(err)
		}
		if got, err := s.LastGroupSync(ctx); err != nil || got != ts {
			t.Errorf("LastGroupSync = %q %v, want %q", got, err, ts)
		}
	}
}

// routing.test.ts getAvailableGroups.
func TestAvailableGroups(t *testing.T) {
	type meta struct {
		jid, ts, name, channel string
		group                  bool
	}
	cases := []struct {
		name       string
		chats      []meta
		registered []string
		want       []string // JIDs in order
		wantReg    map[string]bool
	}{
		{
			name: "only groups, no DMs",
			chats: []meta{
				{"group1@g.us", "2024-01-01T00:00:01.000Z", "Group 1", "whatsapp", true},
				{"user@s.whatsapp.net", "2024-01-01T00:00:02.000Z", "User DM", "whatsapp", false},
				{"group2@g.us", "2024-01-01T00:00:03.000Z", "Group 2", "whatsapp", true},
			},
			want: []string{"group2@g.us", "group1@g.us"},
		},
		{
			name: "Discord channels",
			chats: []meta{
				{"dc:1234567890123456", "2024-01-01T00:00:01.000Z", "Discord Channel", "discord", true},
				{"user@s.whatsapp.net", "2024-01-01T00:00:02.000Z", "User DM", "whatsapp", false},
			},
			want: []string{"dc:1234567890123456"},
		},
		{
			name: "registered flags",
			chats: []meta{
				{"reg@g.us", "2024-01-01T00:00:01.000Z", "Registered", "whatsapp", true},
				{"unreg@g.us", "2024-01-01T00:00:02.000Z", "Unregistered", "whatsapp", true},
				{"dc:1", "2024-01-01T00:00:03.000Z", "DC Registered", "discord", true},
				{"dc:9", "2024-01-01T00:00:04.000Z", "DC Unregistered", "discord", true},
				{"tg:100200300", "2024-01-01T00:00:05.000Z", "TG Registered", "telegram", true},
				{"tg:999999", "2024-01-01T00:00:06.000Z", "TG Unregistered", "telegram", true},
			},
			registered: []string{"reg@g.us", "dc:1", "tg:100200300"},
			want:       []string{"tg:999999", "tg:100200300", "dc:9", "dc:1", "unreg@g.us", "reg@g.us"},
			wantReg:    map[string]bool{"reg@g.us": true, "dc:1": true, "tg:100200300": true},
		},
		{
			name: "excludes the __group_sync__ sentinel",
			chats: []meta{
				{GroupSyncJID, "2024-01-01T00:00:00.000Z", "", "", false},
				{"group@g.us", "2024-01-01T00:00:01.000Z", "Group", "whatsapp", true},
			},
			want: []string{"group@g.us"},
		},
		{
			name: "most recent activity first",
			chats: []meta{
				{"old@g.us", "2024-01-01T00:00:01.000Z", "Old", "whatsapp", true},
				{"new@g.us", "2024-01-01T00:00:05.000Z", "New", "whatsapp", true},
				{"mid@g.us", "2024-01-01T00:00:03.000Z", "Mid", "whatsapp", true},
			},
			want: []string{"new@g.us", "mid@g.us", "old@g.us"},
		},
		{
			name: "uses is_group, not the JID's shape",
			chats: []meta{
				{"unknown-format-123", "2024-01-01T00:00:01.000Z", "Unknown", "", false},
				{"custom:abc", "2024-01-01T00:00:02.000Z", "Custom DM", "custom", false},
				{"group@g.us", "2024-01-01T00:00:03.000Z", "Group", "whatsapp", true},
			},
			want: []string{"group@g.us"},
		},
		{name: "empty database", want: nil},
		{
			name: "Telegram chats including negative ids, mixed with WhatsApp and Discord",
			chats: []meta{
				{"wa@g.us", "2024-01-01T00:00:01.000Z", "WhatsApp", "whatsapp", true},
				{"tg:-1001234567890", "2024-01-01T00:00:03.000Z", "TG Group", "telegram", true},
				{"wa2@g.us", "2024-01-01T00:00:02.000Z", "WhatsApp 2", "whatsapp", true},
				{"dc:555", "2024-01-01T00:00:04.000Z", "Discord", "discord", true},
			},
			want: []string{"dc:555", "tg:-1001234567890", "wa2@g.us", "wa@g.us"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			names := map[string]string{}
			for _, m := range c.chats {
				if err := s.StoreChatMetadata(ctx, Chat{JID: m.jid, Name: m.name, LastMessageTime: m.ts, Channel: m.channel, IsGroup: m.group}); err != nil {
					t.Fatal(err)
				}
				names[m.jid] = m.name
			}
			for i, jid := range c.registered {
				if err := s.SetRegisteredGroup(ctx, Group{JID: jid, Name: jid, Folder: "reg-" + string(rune('a'+i)), Trigger: "@Andy", AddedAt: "2024-01-01T00:00:00.000Z", RequiresTrigger: true}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.AvailableGroups(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Error("AvailableGroups returned nil, want an empty list for the JSON snapshot")
			}
			var jids []string
			for _, a := range got {
				jids = append(jids, a.JID)
				if a.IsRegistered != c.wantReg[a.JID] {
					t.Errorf("%s: IsRegistered = %v", a.JID, a.IsRegistered)
				}
				if a.Name != names[a.JID] {
					t.Errorf("%s: name %q, want %q", a.JID, a.Name, names[a.JID])
				}
			}
			if !sameStrings(jids, c.want) {
				t.Errorf("got %q, want %q", jids, c.want)
			}
		})
	}
}
