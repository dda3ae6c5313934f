package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

func pragmaInt(t *testing.T, db *sql.DB, name string) int {
	t.Helper()
	var v int
	if err := db.QueryRowContext(context.Background(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func tableNames(t *testing.T, db *sql.DB, typ string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%' ORDER BY name`, typ)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func TestOpenCreatesNanoClawSchema(t *testing.T) {
	s := openTest(t)
	if got, want := strings.Join(tableNames(t, s.r, "table"), ","),
		"api_usage,chats,ipc_refusals,messages,outbox,registered_groups,router_state,scheduled_tasks,sessions,task_run_logs"; got != want {
		t.Errorf("tables = %s, want %s", got, want)
	}
	if got, want := strings.Join(tableNames(t, s.r, "index"), ","),
		"idx_messages_chat_timestamp,idx_next_run,idx_outbox_unsent,idx_status,idx_task_run_logs,idx_timestamp"; got != want {
		t.Errorf("indexes = %s, want %s", got, want)
	}
	if v := pragmaInt(t, s.r, "user_version"); v != len(migrations()) {
		t.Errorf("user_version = %d, want %d", v, len(migrations()))
	}
	for name, db := range map[string]*sql.DB{"writer": s.w, "reader": s.r} {
		if fk := pragmaInt(t, db, "foreign_keys"); fk != 1 {
			t.Errorf("%s: foreign_keys = %d, want 1", name, fk)
		}
		if bt := pragmaInt(t, db, "busy_timeout"); bt != 5000 {
			t.Errorf("%s: busy_timeout = %d, want 5000", name, bt)
		}
		var mode string
		if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("%s: journal_mode = %q, %v; want wal", name, mode, err)
		}
	}
	if _, err := s.r.Exec(`INSERT INTO router_state (key, value) VALUES ('x', 'y')`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

func TestOpenPermissionsAndPath(t *testing.T) {
	// '?', '#' and '%' would cut a file: URI short if the path were not escaped.
	dir := filepath.Join(t.TempDir(), "we?ird#dir%20x", "store")
	path := filepath.Join(dir, "nanoclaw.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetState(context.Background(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %v, want 0700", st.Mode().Perm())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("db file mode = %v, want no group/other access", fi.Mode().Perm())
	}
	if !strings.HasPrefix(dsn(path), "file:") {
		t.Errorf("dsn %q does not start with file:", dsn(path))
	}
}

func TestReopenDoesNotRerunMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nanoclaw.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	mustChat(t, s, "g@g.us", "2024-01-01T00:00:00.000Z")
	mustMsg(t, s, userMsg("m1", "g@g.us", "hello", "2024-01-01T00:00:01.000Z"))
	// A marker: had migration 1 run again, it would recreate this index.
	if _, err := s.w.Exec(`DROP INDEX idx_status`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for i := 0; i < 2; i++ {
		s, err = Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		if v := pragmaInt(t, s.r, "user_version"); v != len(migrations()) {
			t.Errorf("user_version = %d", v)
		}
		if idx := tableNames(t, s.r, "index"); strings.Contains(strings.Join(idx, ","), "idx_status") {
			t.Errorf("migration re-ran: indexes %v", idx)
		}
		msgs, err := s.MessagesSince(ctx, "g@g.us", "", "Andy:", 0)
		if err != nil || len(msgs) != 1 {
			t.Errorf("after reopen: %v, %v", msgs, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nanoclaw.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(context.Background(), path); err == nil {
		s.Close()
		t.Fatal("Open accepted a database from a newer program")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("err = %v", err)
	}
}

// legacyDB writes a database by hand, as an older NanoClaw left it, and returns its path.
func legacyDB(t *testing.T, stmts ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store", "messages.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return path
}

// db-migration.test.ts: a legacy chats table gains channel/is_group from the JID's shape;
// Telegram defaults to a DM even for negative (group-looking) ids.
func TestMigrateLegacyChats(t *testing.T) {
	path := legacyDB(t,
		`CREATE TABLE chats (jid TEXT PRIMARY KEY, name TEXT, last_message_time TEXT)`,
		`INSERT INTO chats VALUES ('tg:12345', 'Telegram DM', '2024-01-01T00:00:00.000Z')`,
		`INSERT INTO chats VALUES ('tg:-10012345', 'Telegram Group', '2024-01-01T00:00:01.000Z')`,
		`INSERT INTO chats VALUES ('room@g.us', 'WhatsApp Group', '2024-01-01T00:00:02.000Z')`,
		`INSERT INTO chats VALUES ('123@s.whatsapp.net', 'WhatsApp DM', '2024-01-01T00:00:03.000Z')`,
		`INSERT INTO chats VALUES ('dc:999', 'Discord', '2024-01-01T00:00:04.000Z')`,
		`INSERT INTO chats VALUES ('other', 'Other', '2024-01-01T00:00:05.000Z')`,
	)
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cases := []struct {
		jid, channel string
		group        bool
	}{
		{"tg:12345", "telegram", false},
		{"tg:-10012345", "telegram", false},
		{"room@g.us", "whatsapp", true},
		{"123@s.whatsapp.net", "whatsapp", false},
		{"dc:999", "discord", true},
		{"other", "", false},
	}
	for _, c := range cases {
		t.Run(c.jid, func(t *testing.T) {
			got, ok, err := s.Chat(context.Background(), c.jid)
			if err != nil || !ok {
				t.Fatalf("Chat: %v %v", ok, err)
			}
			if got.Channel != c.channel || got.IsGroup != c.group {
				t.Errorf("got channel %q group %v, want %q %v", got.Channel, got.IsGroup, c.channel, c.group)
			}
		})
	}
}

// A NanoClaw database that already has the columns keeps its values: the JID backfill runs
// only when the column is added, as in NanoClaw.
func TestMigrateKeepsExistingChatFlags(t *testing.T) {
	path := legacyDB(t,
		`CREATE TABLE chats (jid TEXT PRIMARY KEY, name TEXT, last_message_time TEXT, channel TEXT, is_group INTEGER DEFAULT 0)`,
		`INSERT INTO chats VALUES ('tg:-100', 'TG Group', '2024-01-01T00:00:00.000Z', 'telegram', 1)`,
	)
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, _, err := s.Chat(context.Background(), "tg:-100")
	if err != nil || !got.IsGroup || got.Channel != "telegram" {
		t.Errorf("got %+v, %v; want the stored telegram group", got, err)
	}
}

// Every table in its oldest NanoClaw shape migrates, keeps its rows and gains the new columns.
func TestMigrateLegacyDatabase(t *testing.T) {
	ctx := context.Background()
	path := legacyDB(t,
		`CREATE TABLE chats (jid TEXT PRIMARY KEY, name TEXT, last_message_time TEXT)`,
		`CREATE TABLE messages (id TEXT, chat_jid TEXT, sender TEXT, sender_name TEXT, content TEXT,
			timestamp TEXT, is_from_me INTEGER, PRIMARY KEY (id, chat_jid), FOREIGN KEY (chat_jid) REFERENCES chats(jid))`,
		`CREATE TABLE scheduled_tasks (id TEXT PRIMARY KEY, group_folder TEXT NOT NULL, chat_jid TEXT NOT NULL,
			prompt TEXT NOT NULL, schedule_type TEXT NOT NULL, schedule_value TEXT NOT NULL, next_run TEXT,
			last_run TEXT, last_result TEXT, status TEXT DEFAULT 'active', created_at TEXT NOT NULL)`,
		`CREATE TABLE registered_groups (jid TEXT PRIMARY KEY, name TEXT NOT NULL, folder TEXT NOT NULL UNIQUE,
			trigger_pattern TEXT NOT NULL, added_at TEXT NOT NULL)`,
		`CREATE TABLE router_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`INSERT INTO chats VALUES ('g@g.us', 'G', '2024-01-01T00:00:00.000Z')`,
		`INSERT INTO messages VALUES ('m1', 'g@g.us', 'u', 'U', 'hi there', '2024-01-01T00:00:01.000Z', 0)`,
		`INSERT INTO messages VALUES ('m2', 'g@g.us', 'b', 'Andy', 'Andy: hello', '2024-01-01T00:00:02.000Z', 1)`,
		`INSERT INTO scheduled_tasks (id, group_folder, chat_jid, prompt, schedule_type, schedule_value, next_run, created_at)
			VALUES ('t1', 'main', 'g@g.us', 'p', 'interval', '60000', '2024-01-01T00:01:00.000Z', '2024-01-01T00:00:00.000Z')`,
		`INSERT INTO registered_groups VALUES ('main@s.whatsapp.net', 'Main', 'main', '@Andy', '2024-01-01T00:00:00.000Z')`,
		`INSERT INTO registered_groups VALUES ('g@g.us', 'G', 'whatsapp_g', '@Andy', '2024-01-01T00:00:00.000Z')`,
		`INSERT INTO router_state VALUES ('last_agent_timestamp', '{"g@g.us":"2024-01-01T00:00:00.000Z"}')`,
	)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	groups, err := s.RegisteredGroups(ctx)
	if err != nil || len(groups) != 2 {
		t.Fatalf("groups %v %v", groups, err)
	}
	for _, g := range groups {
		if g.IsMain != (g.Folder == "main") {
			t.Errorf("%s: IsMain = %v", g.Folder, g.IsMain)
		}
		if !g.RequiresTrigger {
			t.Errorf("%s: RequiresTrigger defaults to true", g.Folder)
		}
	}
	task, ok, err := s.Task(ctx, "t1")
	if err != nil || !ok || task.ContextMode != "isolated" || task.Script != "" || task.Status != TaskActive {
		t.Errorf("task %+v %v %v", task, ok, err)
	}
	// The prefix backstop hides the unflagged old bot reply.
	msgs, err := s.MessagesSince(ctx, "g@g.us", "", "Andy:", 10)
	if err != nil || len(msgs) != 1 || msgs[0].Content != "hi there" {
		t.Errorf("messages %v %v", contents(msgs), err)
	}
	if cur, err := s.AgentCursor(ctx, "g@g.us"); err != nil || cur != "2024-01-01T00:00:00.000Z" {
		t.Errorf("cursor %q %v", cur, err)
	}
	// New columns are writable.
	mustMsg(t, s, Message{ID: "m3", ChatJID: "g@g.us", Content: "re", Timestamp: "2024-01-01T00:00:03.000Z",
		ReplyToMessageID: "m1", ReplyToSenderName: "U", ReplyToMessageContent: "hi there"})
	// MarkBotMessages is NanoClaw's name-dependent backfill.
	if n, err := s.MarkBotMessages(ctx, "Andy:"); err != nil || n != 1 {
		t.Errorf("MarkBotMessages = %d, %v; want 1", n, err)
	}
	if n, err := s.MarkBotMessages(ctx, "Andy:"); err != nil || n != 0 {
		t.Errorf("second MarkBotMessages = %d, %v; want 0", n, err)
	}
	if ts, err := s.LastBotMessageTime(ctx, "g@g.us", ""); err != nil || ts != "2024-01-01T00:00:02.000Z" {
		t.Errorf("flag-only bot time %q %v", ts, err)
	}
}

// Many goroutines writing and reading at once: no SQLITE_BUSY, no lost cursor updates.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const workers, each = 8, 12
	for w := 0; w < workers; w++ {
		mustChat(t, s, fmt.Sprintf("g%d@g.us", w), "2024-01-01T00:00:00.000Z")
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*4)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			jid := fmt.Sprintf("g%d@g.us", w)
			for i := 0; i < each; i++ {
				ts := fmt.Sprintf("2024-01-01T00:00:%02d.%03dZ", i/1000, i%1000)
				if err := s.StoreMessage(ctx, userMsg(fmt.Sprint(i), jid, "m", ts)); err != nil {
					errs <- err
				}
				if err := s.SetAgentCursor(ctx, jid, ts); err != nil {
					errs <- err
				}
				if _, err := s.MessagesSince(ctx, jid, "", "Andy:", 10); err != nil {
					errs <- err
				}
				if err := s.StoreChatMetadata(ctx, Chat{JID: jid, LastMessageTime: ts, Channel: "whatsapp", IsGroup: true}); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	cursors, err := s.AgentCursors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k, v := range cursors {
		keys = append(keys, k)
		if v != fmt.Sprintf("2024-01-01T00:00:00.%03dZ", each-1) {
			t.Errorf("cursor %s = %s", k, v)
		}
	}
	sort.Strings(keys)
	if len(keys) != workers {
		t.Errorf("cursors for %v, want %d chats (an update was lost)", keys, workers)
	}
	all, _, err := s.NewMessages(ctx, keys, "", "Andy:", 0)
	if err != nil || len(all) != workers*each {
		t.Errorf("stored %d messages, want %d (%v)", len(all), workers*each, err)
	}
}

// A database part-way through the history gets only the steps it lacks.
func TestOpenAppliesOnlyPendingMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nanoclaw.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP INDEX idx_status`, `DROP INDEX idx_messages_chat_timestamp`, `PRAGMA user_version = 1`} {
		if _, err := s.w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	idx := strings.Join(tableNames(t, s.r, "index"), ",")
	if strings.Contains(idx, "idx_status") || !strings.Contains(idx, "idx_messages_chat_timestamp") {
		t.Errorf("indexes %s: want step 2 applied and step 1 not rerun", idx)
	}
	if v := pragmaInt(t, s.r, "user_version"); v != len(migrations()) {
		t.Errorf("user_version = %d", v)
	}
}

// A failing step rolls back entirely and leaves user_version at the last good step.
func TestFailedMigrationRollsBack(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	before := pragmaInt(t, s.w, "user_version")
	steps := append(migrations(),
		migration{name: "good", up: execAll(`CREATE TABLE good_step (x)`)},
		migration{name: "bad", up: execAll(`CREATE TABLE half_done (x)`, `THIS IS NOT SQL`)},
	)
	err := s.migrate(ctx, steps)
	if err == nil || !strings.Contains(err.Error(), "migration "+fmt.Sprint(before+2)+" (bad)") {
		t.Fatalf("err = %v", err)
	}
	if v := pragmaInt(t, s.w, "user_version"); v != before+1 {
		t.Errorf("user_version = %d, want %d", v, before+1)
	}
	tables := strings.Join(tableNames(t, s.w, "table"), ",")
	if !strings.Contains(tables, "good_step") || strings.Contains(tables, "half_done") {
		t.Errorf("tables = %s", tables)
	}
}
