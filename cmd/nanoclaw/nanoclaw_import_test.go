package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// nanoClawSchema is TypeScript NanoClaw v1.2.53's schema (src/db.ts), as a user's
// store/messages.db has it.
const nanoClawSchema = `
CREATE TABLE chats (jid TEXT PRIMARY KEY, name TEXT, last_message_time TEXT, channel TEXT, is_group INTEGER DEFAULT 0);
CREATE TABLE messages (id TEXT, chat_jid TEXT, sender TEXT, sender_name TEXT, content TEXT, timestamp TEXT,
	is_from_me INTEGER, is_bot_message INTEGER DEFAULT 0, reply_to_message_id TEXT, reply_to_message_content TEXT,
	reply_to_sender_name TEXT, PRIMARY KEY (id, chat_jid), FOREIGN KEY (chat_jid) REFERENCES chats(jid));
CREATE TABLE scheduled_tasks (id TEXT PRIMARY KEY, group_folder TEXT NOT NULL, chat_jid TEXT NOT NULL, prompt TEXT NOT NULL,
	schedule_type TEXT NOT NULL, schedule_value TEXT NOT NULL, next_run TEXT, last_run TEXT, last_result TEXT,
	status TEXT DEFAULT 'active', created_at TEXT NOT NULL, context_mode TEXT DEFAULT 'isolated', script TEXT);
CREATE TABLE task_run_logs (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, run_at TEXT NOT NULL,
	duration_ms INTEGER NOT NULL, status TEXT NOT NULL, result TEXT, error TEXT);
CREATE TABLE router_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (group_folder TEXT PRIMARY KEY, session_id TEXT NOT NULL);
CREATE TABLE registered_groups (jid TEXT PRIMARY KEY, name TEXT NOT NULL, folder TEXT NOT NULL UNIQUE,
	trigger_pattern TEXT NOT NULL, added_at TEXT NOT NULL, container_config TEXT, requires_trigger INTEGER DEFAULT 1,
	is_main INTEGER DEFAULT 0);
INSERT INTO chats VALUES ('15551234567@s.whatsapp.net', 'Me', '2026-11-01T10:00:00.000Z', 'whatsapp', 0),
	('120363000000000001@g.us', 'Family', '2026-11-01T11:00:00.000Z', 'whatsapp', 1);
INSERT INTO messages (id, chat_jid, sender, sender_name, content, timestamp, is_from_me) VALUES
	('m1', '120363000000000001@g.us', '4917600000000@s.whatsapp.net', 'Oma', 'hello from NanoClaw', '2026-11-01T11:00:00.000Z', 0);
INSERT INTO scheduled_tasks (id, group_folder, chat_jid, prompt, schedule_type, schedule_value, next_run, status, created_at)
	VALUES ('nc-task', 'main', '15551234567@s.whatsapp.net', 'morning news', 'cron', '0 9 * * *', '2099-01-01T09:00:00.000Z', 'active', '2026-11-01T10:00:00.000Z');
INSERT INTO router_state VALUES ('last_agent_timestamp', '{"120363000000000001@g.us":"2026-11-01T11:00:00.000Z"}');
INSERT INTO sessions VALUES ('main', 'claude-sdk-session');
INSERT INTO registered_groups VALUES ('15551234567@s.whatsapp.net', 'Me', 'main', '@Andy', '2026-10-01T00:00:00.000Z', NULL, 0, 1),
	('120363000000000001@g.us', 'Family', 'family', '@Andy', '2026-10-02T00:00:00.000Z', NULL, 1, 0);
`

// TestRunImportsNanoClaw: `nanoclaw run` in a NanoClaw checkout (a hand-built
// store/messages.db in NanoClaw's schema) imports it: NanoClaw's groups are the host's (its
// main group stays main, no placeholder local:main), and its task is scheduled; the file is
// left as it was, and the import is marked done so a restart does not import it again.
func TestRunImportsNanoClaw(t *testing.T) {
	d := requireDocker(t)
	work := workDir(t, d)
	_, url := newMockAPI(t)
	vars := hostEnv(work, url)
	src := filepath.Join(work, "store", "messages.db")
	if err := os.MkdirAll(filepath.Dir(src), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(nanoClawSchema); err != nil {
		t.Fatal(err)
	}
	db.Close()
	hash := func() [32]byte {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := hash()

	stop, logs := startHost(t, work, vars)
	logs.waitCount(t, "host ready", 1, time.Minute) // stopping while the daemon starts is another test's matter
	out, code := cli(t, work, vars, "groups", "list", "--json")
	var groups []struct {
		JID, Folder string
		IsMain      bool
	}
	if err := json.Unmarshal([]byte(out), &groups); code != 0 || err != nil {
		t.Fatalf("groups list (%d, %v): %s", code, err, out)
	}
	got := map[string]string{}
	for _, g := range groups {
		got[g.Folder] = g.JID
		if g.IsMain != (g.Folder == "main") {
			t.Errorf("main flag: %+v", g)
		}
	}
	if len(got) != 2 || got["main"] != "15551234567@s.whatsapp.net" || got["family"] != "120363000000000001@g.us" {
		t.Fatalf("groups after the import: %s", out)
	}
	if st, _ := cli(t, work, vars, "status"); !strings.Contains(st, "nc-task") {
		t.Errorf("the imported task is not scheduled:\n%s", st)
	}
	if !strings.Contains(logs.String(), "imported NanoClaw's database") || !strings.Contains(logs.String(), "messages=1") {
		t.Errorf("no import line in the log:\n%s", logs.String())
	}
	stop()
	if hash() != before {
		t.Error("store/messages.db changed")
	}
	// The next start does not import again (checked on the store, without a second host).
	st, err := store.Open(context.Background(), filepath.Join(work, "store", "nanoclaw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if rep, err := st.ImportNanoClaw(context.Background(), src); err != nil || !rep.AlreadyImported {
		t.Errorf("after the host's import: %+v, %v; want it marked imported", rep, err)
	}
}
