package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nanoClawV1253 is NanoClaw v1.2.53's schema as src/db.ts leaves it (every ALTER applied).
const nanoClawV1253 = `
CREATE TABLE chats (jid TEXT PRIMARY KEY, name TEXT, last_message_time TEXT, channel TEXT, is_group INTEGER DEFAULT 0);
CREATE TABLE messages (id TEXT, chat_jid TEXT, sender TEXT, sender_name TEXT, content TEXT, timestamp TEXT,
	is_from_me INTEGER, is_bot_message INTEGER DEFAULT 0, reply_to_message_id TEXT, reply_to_message_content TEXT,
	reply_to_sender_name TEXT, PRIMARY KEY (id, chat_jid), FOREIGN KEY (chat_jid) REFERENCES chats(jid));
CREATE INDEX idx_timestamp ON messages(timestamp);
CREATE TABLE scheduled_tasks (id TEXT PRIMARY KEY, group_folder TEXT NOT NULL, chat_jid TEXT NOT NULL, prompt TEXT NOT NULL,
	schedule_type TEXT NOT NULL, schedule_value TEXT NOT NULL, next_run TEXT, last_run TEXT, last_result TEXT,
	status TEXT DEFAULT 'active', created_at TEXT NOT NULL, context_mode TEXT DEFAULT 'isolated', script TEXT);
CREATE TABLE task_run_logs (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, run_at TEXT NOT NULL,
	duration_ms INTEGER NOT NULL, status TEXT NOT NULL, result TEXT, error TEXT, FOREIGN KEY (task_id) REFERENCES scheduled_tasks(id));
CREATE TABLE router_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (group_folder TEXT PRIMARY KEY, session_id TEXT NOT NULL);
CREATE TABLE registered_groups (jid TEXT PRIMARY KEY, name TEXT NOT NULL, folder TEXT NOT NULL UNIQUE,
	trigger_pattern TEXT NOT NULL, added_at TEXT NOT NULL, container_config TEXT, requires_trigger INTEGER DEFAULT 1,
	is_main INTEGER DEFAULT 0);
`

// nanoClawOld is an early NanoClaw schema: no channel/is_group, no bot flag or replies, no
// task context or script, no requires_trigger or is_main (main was the folder "main").
const nanoClawOld = `
CREATE TABLE chats (jid TEXT PRIMARY KEY, name TEXT, last_message_time TEXT);
CREATE TABLE messages (id TEXT, chat_jid TEXT, sender TEXT, sender_name TEXT, content TEXT, timestamp TEXT,
	is_from_me INTEGER, PRIMARY KEY (id, chat_jid), FOREIGN KEY (chat_jid) REFERENCES chats(jid));
CREATE TABLE scheduled_tasks (id TEXT PRIMARY KEY, group_folder TEXT NOT NULL, chat_jid TEXT NOT NULL, prompt TEXT NOT NULL,
	schedule_type TEXT NOT NULL, schedule_value TEXT NOT NULL, next_run TEXT, last_run TEXT, last_result TEXT,
	status TEXT DEFAULT 'active', created_at TEXT NOT NULL);
CREATE TABLE task_run_logs (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, run_at TEXT NOT NULL,
	duration_ms INTEGER NOT NULL, status TEXT NOT NULL, result TEXT, error TEXT);
CREATE TABLE router_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (group_folder TEXT PRIMARY KEY, session_id TEXT NOT NULL);
CREATE TABLE registered_groups (jid TEXT PRIMARY KEY, name TEXT NOT NULL, folder TEXT NOT NULL UNIQUE,
	trigger_pattern TEXT NOT NULL, added_at TEXT NOT NULL, container_config TEXT);
`

const (
	famJID  = "120363000000000001@g.us"
	mainJID = "15551234567@s.whatsapp.net"
)

// nanoClawRows fills a NanoClaw database as a user's would look: a main group and a family
// group, their chats and messages (one in a chat with no chats row), a cron task with a run,
// cursors, sessions, and the group-sync sentinel. Columns an old schema lacks are left out.
func nanoClawRows(full bool) []string {
	rows := []string{
		`INSERT INTO chats (jid, name, last_message_time) VALUES ('` + mainJID + `', 'Me', '2026-11-01T10:00:02.000Z'),
			('` + famJID + `', 'Family', '2026-11-01T11:00:00.000Z'), ('__group_sync__', '__group_sync__', '2026-11-01T09:00:00.000Z')`,
		`INSERT INTO messages (id, chat_jid, sender, sender_name, content, timestamp, is_from_me) VALUES
			('m1', '` + mainJID + `', '` + mainJID + `', 'Me', 'remind me daily', '2026-11-01T10:00:00.000Z', 1),
			('m2', '` + mainJID + `', 'bot', 'Andy', 'Andy: will do', '2026-11-01T10:00:02.000Z', 1),
			('m3', '` + famJID + `', '4917600000000@s.whatsapp.net', 'Oma', '@Andy recipe?', '2026-11-01T11:00:00.000Z', 0),
			('m4', '99999@g.us', 'x@s.whatsapp.net', 'X', 'orphan chat', '2026-11-01T12:00:00.000Z', 0)`,
		`INSERT INTO scheduled_tasks (id, group_folder, chat_jid, prompt, schedule_type, schedule_value, next_run, status, created_at) VALUES
			('task-1', 'main', '` + mainJID + `', 'daily summary', 'cron', '0 9 * * *', '2026-12-06T09:00:00.000Z', 'active', '2026-11-01T10:00:01.000Z')`,
		`INSERT INTO task_run_logs (task_id, run_at, duration_ms, status, result) VALUES ('task-1', '2026-11-02T09:00:00.000Z', 1200, 'success', 'done')`,
		`INSERT INTO router_state (key, value) VALUES ('last_timestamp', '2026-11-01T12:00:00.000Z'),
			('last_agent_timestamp', '{"` + mainJID + `":"2026-11-01T10:00:00.000Z","` + famJID + `":"2026-11-01T11:00:00.000Z"}')`,
		`INSERT INTO sessions (group_folder, session_id) VALUES ('main', 'sdk-session-1'), ('family', 'sdk-session-2')`,
	}
	if full {
		rows = append(rows, `INSERT INTO registered_groups (jid, name, folder, trigger_pattern, added_at, container_config, requires_trigger, is_main) VALUES
			('`+mainJID+`', 'Me', 'main', '@Andy', '2026-10-01T00:00:00.000Z', NULL, 0, 1),
			('`+famJID+`', 'Family', 'family', '@Andy', '2026-10-02T00:00:00.000Z', '{"additionalMounts":[{"hostPath":"~/recipes","readonly":true}]}', 1, 0)`)
	} else {
		rows = append(rows, `INSERT INTO registered_groups (jid, name, folder, trigger_pattern, added_at) VALUES
			('`+mainJID+`', 'Me', 'main', '@Andy', '2026-10-01T00:00:00.000Z'),
			('`+famJID+`', 'Family', 'family', '@Andy', '2026-10-02T00:00:00.000Z')`)
	}
	return rows
}

// makeNanoClawDB writes a NanoClaw database by hand (NanoClaw's own DDL, as better-sqlite3
// would) and returns its path.
func makeNanoClawDB(t *testing.T, schema string, rows []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), NanoClawDBName)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range append([]string{schema}, rows...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return path
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestImportNanoClaw: a NanoClaw database (the current schema and an early one) is imported
// into a fresh store: groups (main stays main, containerConfig kept), chats, messages (one
// whose chat row was missing too), the task and its run, merged cursors; sessions are
// counted, not imported. The original file is untouched, and a second import does nothing.
func TestImportNanoClaw(t *testing.T) {
	for _, tc := range []struct {
		name   string
		schema string
		full   bool
	}{{"v1.2.53 schema", nanoClawV1253, true}, {"early schema", nanoClawOld, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			src := makeNanoClawDB(t, tc.schema, nanoClawRows(tc.full))
			before := fileHash(t, src)
			s := openTest(t)
			// What a host that ran first would have: the placeholder main and a cursor.
			if err := s.SetRegisteredGroup(ctx, Group{JID: "local:main", Name: "Local chat", Folder: "main", IsMain: true}); err != nil {
				t.Fatal(err)
			}
			if err := s.SetAgentCursor(ctx, "local:main", "2026-12-01T00:00:00.000Z"); err != nil {
				t.Fatal(err)
			}
			rep, err := s.ImportNanoClaw(ctx, src)
			if err != nil {
				t.Fatal(err)
			}
			if rep.AlreadyImported || rep.Groups != 2 || rep.Chats != 2 || rep.Messages != 4 || rep.Tasks != 1 || rep.TaskRuns != 1 || rep.Sessions != 2 {
				t.Errorf("report %+v", rep)
			}
			if len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0], "local:main is no longer the main group") {
				t.Errorf("skipped %q", rep.Skipped)
			}
			groups, err := s.RegisteredGroups(ctx)
			if err != nil {
				t.Fatal(err)
			}
			byJID := map[string]Group{}
			for _, g := range groups {
				byJID[g.JID] = g
			}
			if m := byJID[mainJID]; len(groups) != 2 || !m.IsMain || m.Folder != "main" {
				t.Errorf("groups %+v", groups)
			}
			if f := byJID[famJID]; f.IsMain || f.Folder != "family" || f.Trigger != "@Andy" || (tc.full && !strings.Contains(string(f.ContainerConfig), "recipes")) {
				t.Errorf("family %+v", f)
			}
			msgs, err := s.MessagesSince(ctx, famJID, "", "Andy:", 10)
			if err != nil || len(msgs) != 1 || msgs[0].Content != "@Andy recipe?" || msgs[0].SenderName != "Oma" {
				t.Errorf("family messages %+v, %v", msgs, err)
			}
			if _, ok, err := s.Chat(ctx, "99999@g.us"); err != nil || !ok {
				t.Errorf("the orphan message's chat: %v %v", ok, err)
			}
			task, ok, err := s.Task(ctx, "task-1")
			if err != nil || !ok || task.NextRun != "2026-12-06T09:00:00.000Z" || task.ScheduleValue != "0 9 * * *" {
				t.Errorf("task %+v %v %v", task, ok, err)
			}
			if runs, err := s.TaskRunLogs(ctx, "task-1"); err != nil || len(runs) != 1 || runs[0].Result != "done" {
				t.Errorf("task runs %+v %v", runs, err)
			}
			cursors, err := s.AgentCursors(ctx)
			if err != nil || cursors[famJID] != "2026-11-01T11:00:00.000Z" || cursors["local:main"] != "2026-12-01T00:00:00.000Z" {
				t.Errorf("cursors %v %v", cursors, err)
			}
			if sess, err := s.Sessions(ctx); err != nil || len(sess) != 0 {
				t.Errorf("sessions imported: %v %v", sess, err)
			}
			if fileHash(t, src) != before {
				t.Error("the NanoClaw database changed")
			}

			// Idempotent: a restart imports nothing again, even what was removed meanwhile.
			if err := s.DeleteTask(ctx, "task-1"); err != nil {
				t.Fatal(err)
			}
			again, err := s.ImportNanoClaw(ctx, src)
			if err != nil || !again.AlreadyImported || again.Messages != 0 {
				t.Fatalf("second import: %+v %v", again, err)
			}
			if _, ok, _ := s.Task(ctx, "task-1"); ok {
				t.Error("a second import brought a cancelled task back")
			}
		})
	}
}

// TestImportNanoClawClashes: what cannot be imported as it was is reported with what to do,
// never forced: a chat registered here with another folder, a folder another chat holds
// here, an invalid folder, a second main group.
func TestImportNanoClawClashes(t *testing.T) {
	ctx := context.Background()
	src := makeNanoClawDB(t, nanoClawV1253, []string{
		`INSERT INTO registered_groups (jid, name, folder, trigger_pattern, added_at, is_main) VALUES
			('a@g.us', 'A', 'alpha', '@Andy', '1', 0), ('b@g.us', 'B', 'taken', '@Andy', '2', 0),
			('c@g.us', 'C', '../etc', '@Andy', '3', 0), ('d@g.us', 'D', 'boss', '@Andy', '4', 1),
			('e@g.us', 'E', 'same', '@Andy', '5', 0)`,
	})
	s := openTest(t)
	for _, g := range []Group{
		{JID: "local:me", Folder: "mine", IsMain: true},
		{JID: "a@g.us", Folder: "a-here"},
		{JID: "local:other", Folder: "taken"},
		{JID: "e@g.us", Folder: "same"},
	} {
		if err := s.SetRegisteredGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := s.ImportNanoClaw(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(rep.Skipped, "\n")
	for _, want := range []string{
		"group a@g.us: registered here with folder a-here, NanoClaw had alpha",
		"group b@g.us: folder taken is already local:other's",
		`group c@g.us: folder "../etc" is not a valid folder name`,
		"group d@g.us was NanoClaw's main group; local:me is main here",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("skipped lacks %q:\n%s", want, all)
		}
	}
	if rep.Groups != 1 || len(rep.Skipped) != 4 {
		t.Errorf("report %+v", rep)
	}
	d, ok, err := s.RegisteredGroup(ctx, "d@g.us")
	if err != nil || !ok || d.IsMain {
		t.Errorf("d: %+v %v %v", d, ok, err)
	}
}

// TestImportNanoClawMissingFile: no file is an error that names it; nothing is marked.
func TestImportNanoClawMissingFile(t *testing.T) {
	s := openTest(t)
	if _, err := s.ImportNanoClaw(context.Background(), filepath.Join(t.TempDir(), "nope.db")); err == nil {
		t.Fatal("import of a missing file succeeded")
	}
	if _, ok, _ := s.State(context.Background(), keyNanoClawImport); ok {
		t.Error("a failed import was marked done")
	}
}

// BenchmarkImportNanoClaw imports a NanoClaw database of 20000 messages in 20 chats into a
// fresh store: what a long-time user's first start costs.
func BenchmarkImportNanoClaw(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, NanoClawDBName)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(nanoClawV1253); err != nil {
		b.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for c := range 20 {
		jid := fmt.Sprintf("1203630000%04d@g.us", c)
		if _, err := tx.Exec(`INSERT INTO chats (jid, name) VALUES (?, ?)`, jid, jid); err != nil {
			b.Fatal(err)
		}
		for m := range 1000 {
			ts := fmt.Sprintf("2026-11-%02dT%02d:%02d:%02d.000Z", 1+m/1440%28, m/60%24, m%60, c)
			if _, err := tx.Exec(`INSERT INTO messages (id, chat_jid, sender, sender_name, content, timestamp, is_from_me) VALUES (?, ?, 's', 'S', ?, ?, 0)`,
				fmt.Sprintf("m%d-%d", c, m), jid, strings.Repeat("words ", 20), ts); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	db.Close()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		s, err := Open(context.Background(), filepath.Join(dir, fmt.Sprintf("dst%d", i), "nanoclaw.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := s.ImportNanoClaw(context.Background(), path)
		if err != nil || rep.Messages != 20000 {
			b.Fatalf("%+v %v", rep, err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}
