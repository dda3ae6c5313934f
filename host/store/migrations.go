package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migration is one schema step. Step N leaves the database at PRAGMA user_version = N; each
// runs in its own transaction, so a crash never leaves a half-applied step.
type migration struct {
	name string
	up   func(ctx context.Context, tx *sql.Tx) error
}

// migrations is the schema history, oldest first. Append new steps; never edit or reorder a
// released one, since databases in the field have already run it.
func migrations() []migration {
	return []migration{
		{name: "nanoclaw v1 schema", up: migrateNanoClawV1},
		{name: "messages by chat and time", up: execAll(
			// MessagesSince and LastBotMessageTime look up one chat's latest messages; with
			// only idx_timestamp a quiet chat means walking every other chat's traffic.
			`CREATE INDEX IF NOT EXISTS idx_messages_chat_timestamp ON messages(chat_jid, timestamp)`,
		)},
		{name: "outbox and IPC refusals", up: execAll(
			// Everything the host sends is stored here first, in the same transaction as
			// what it answers, then handed to the channel: a crash in between resends it.
			`CREATE TABLE IF NOT EXISTS outbox (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				chat_jid TEXT NOT NULL,
				text TEXT NOT NULL,
				origin TEXT NOT NULL DEFAULT '',
				created_at TEXT NOT NULL,
				sent_at TEXT,
				attempts INTEGER NOT NULL DEFAULT 0,
				last_error TEXT
			)`,
			`CREATE INDEX IF NOT EXISTS idx_outbox_unsent ON outbox(sent_at, id)`,
			// Refused agent requests, kept for the operator instead of quarantined files.
			`CREATE TABLE IF NOT EXISTS ipc_refusals (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				at TEXT NOT NULL,
				group_folder TEXT NOT NULL,
				type TEXT NOT NULL DEFAULT '',
				code TEXT NOT NULL,
				reason TEXT NOT NULL,
				request TEXT NOT NULL DEFAULT ''
			)`,
		)},
		// A message the host dealt with itself (delivered to another group by a route
		// plugin, or a chat command such as /new) is kept, but is no longer pending.
		{name: "messages handled without an agent", up: addColumn("messages", "handled_as", "TEXT")},
		{name: "model API usage per group and day", up: execAll(
			// What each group used of the model API, per day in the host's zone: the
			// credential proxy adds to it as requests settle and reads today's row at start,
			// so a restart neither resets a group's budget nor what `nanoclaw status` shows.
			`CREATE TABLE IF NOT EXISTS api_usage (
				group_folder TEXT NOT NULL,
				day TEXT NOT NULL,
				input_tokens INTEGER NOT NULL DEFAULT 0,
				output_tokens INTEGER NOT NULL DEFAULT 0,
				cache_read_tokens INTEGER NOT NULL DEFAULT 0,
				cache_write_tokens INTEGER NOT NULL DEFAULT 0,
				requests INTEGER NOT NULL DEFAULT 0,
				refusals INTEGER NOT NULL DEFAULT 0,
				PRIMARY KEY (group_folder, day)
			)`,
		)},
		// The route plugin's verdict when the message arrived ("deliver" or "store"): a
		// backlog is worked through by it, so a message that asked for the agent is never
		// skipped and one that was only context never starts a run.
		{name: "messages keep their route verdict", up: addColumn("messages", "route_action", "TEXT")},
		// A message its sender edited keeps its ID with the new text (edited_at says when);
		// one deleted for everyone keeps its row, emptied, so it is never pending or shown
		// to an agent again (deleted_at).
		{name: "messages edited and deleted", up: func(ctx context.Context, tx *sql.Tx) error {
			if err := addColumn("messages", "edited_at", "TEXT")(ctx, tx); err != nil {
				return err
			}
			return addColumn("messages", "deleted_at", "TEXT")(ctx, tx)
		}},
		// The files that came with a message (photos, documents, voice notes), as JSON: the
		// files are in the group's folder, the prompt names them.
		{name: "messages keep their attachments", up: addColumn("messages", "attachments", "TEXT")},
		// Replies quote the message they answer: the outbox keeps its ID, and each group
		// may turn quoting on or off (NULL: the default for its kind of chat).
		{name: "replies quote what they answer", up: func(ctx context.Context, tx *sql.Tx) error {
			if err := addColumn("outbox", "reply_to", "TEXT")(ctx, tx); err != nil {
				return err
			}
			return addColumn("registered_groups", "quote_replies", "INTEGER")(ctx, tx)
		}},
	}
}

// migrate applies every step newer than the database's user_version. The version is
// re-read inside each write transaction, so two processes opening one file at once cannot
// both apply a step.
func (s *Store) migrate(ctx context.Context, steps []migration) error {
	for {
		done, err := s.migrateOne(ctx, steps)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// migrateOne applies the next pending step, reporting done when there is none.
func (s *Store) migrateOne(ctx context.Context, steps []migration) (done bool, err error) {
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		var v int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return fmt.Errorf("read user_version: %w", err)
		}
		if v > len(steps) {
			return fmt.Errorf("schema version %d is newer than this program knows (%d)", v, len(steps))
		}
		if v == len(steps) {
			done = true
			return nil
		}
		m := steps[v]
		if err := m.up(ctx, tx); err != nil {
			return fmt.Errorf("migration %d (%s): %w", v+1, m.name, err)
		}
		// PRAGMA takes no bound parameters; v+1 is an int we computed.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			return fmt.Errorf("set user_version %d: %w", v+1, err)
		}
		return nil
	})
	return done, err
}

// addColumn is a migration adding one column, unless a database already has it.
func addColumn(table, column, decl string) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		ok, err := hasColumn(ctx, tx, table, column)
		if err != nil || ok {
			return err
		}
		_, err = tx.ExecContext(ctx, "ALTER TABLE "+table+" ADD COLUMN "+column+" "+decl)
		return err
	}
}

// execAll is a migration made of plain statements.
func execAll(stmts ...string) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	}
}

// nanoClawTables is NanoClaw v1.2.53's schema (src/db.ts). CREATE TABLE IF NOT EXISTS leaves
// an existing NanoClaw database's tables alone; columns later versions added are then
// filled in by nanoClawAddedColumns.
const nanoClawTables = `
CREATE TABLE IF NOT EXISTS chats (
	jid TEXT PRIMARY KEY,
	name TEXT,
	last_message_time TEXT,
	channel TEXT,
	is_group INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
	id TEXT,
	chat_jid TEXT,
	sender TEXT,
	sender_name TEXT,
	content TEXT,
	timestamp TEXT,
	is_from_me INTEGER,
	is_bot_message INTEGER DEFAULT 0,
	reply_to_message_id TEXT,
	reply_to_message_content TEXT,
	reply_to_sender_name TEXT,
	PRIMARY KEY (id, chat_jid),
	FOREIGN KEY (chat_jid) REFERENCES chats(jid)
);
CREATE TABLE IF NOT EXISTS scheduled_tasks (
	id TEXT PRIMARY KEY,
	group_folder TEXT NOT NULL,
	chat_jid TEXT NOT NULL,
	prompt TEXT NOT NULL,
	schedule_type TEXT NOT NULL,
	schedule_value TEXT NOT NULL,
	next_run TEXT,
	last_run TEXT,
	last_result TEXT,
	status TEXT DEFAULT 'active',
	created_at TEXT NOT NULL,
	context_mode TEXT DEFAULT 'isolated',
	script TEXT
);
CREATE TABLE IF NOT EXISTS task_run_logs (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	task_id TEXT NOT NULL,
	run_at TEXT NOT NULL,
	duration_ms INTEGER NOT NULL,
	status TEXT NOT NULL,
	result TEXT,
	error TEXT,
	FOREIGN KEY (task_id) REFERENCES scheduled_tasks(id)
);
CREATE TABLE IF NOT EXISTS router_state (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
	group_folder TEXT PRIMARY KEY,
	session_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registered_groups (
	jid TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	folder TEXT NOT NULL UNIQUE,
	trigger_pattern TEXT NOT NULL,
	added_at TEXT NOT NULL,
	container_config TEXT,
	requires_trigger INTEGER DEFAULT 1,
	is_main INTEGER DEFAULT 0
);
`

// nanoClawIndexes come after the columns exist, since an old table may lack one they use.
const nanoClawIndexes = `
CREATE INDEX IF NOT EXISTS idx_timestamp ON messages(timestamp);
CREATE INDEX IF NOT EXISTS idx_next_run ON scheduled_tasks(next_run);
CREATE INDEX IF NOT EXISTS idx_status ON scheduled_tasks(status);
CREATE INDEX IF NOT EXISTS idx_task_run_logs ON task_run_logs(task_id, run_at);
`

// addedColumn is a column NanoClaw added after a table first shipped, with the backfill it
// ran when it added it (empty when none).
type addedColumn struct {
	table, column, decl string
	backfill            []string
}

// nanoClawAddedColumns lists NanoClaw's ALTER TABLE history. The is_bot_message backfill needs the
// assistant's name, which the schema cannot know; MarkBotMessages does it on request, and
// every query also matches the name prefix as a backstop, as NanoClaw does.
func nanoClawAddedColumns() []addedColumn {
	return []addedColumn{
		{table: "scheduled_tasks", column: "context_mode", decl: "TEXT DEFAULT 'isolated'"},
		{table: "scheduled_tasks", column: "script", decl: "TEXT"},
		{table: "messages", column: "is_bot_message", decl: "INTEGER DEFAULT 0"},
		{table: "messages", column: "reply_to_message_id", decl: "TEXT"},
		{table: "messages", column: "reply_to_message_content", decl: "TEXT"},
		{table: "messages", column: "reply_to_sender_name", decl: "TEXT"},
		{table: "chats", column: "channel", decl: "TEXT"},
		{table: "chats", column: "is_group", decl: "INTEGER DEFAULT 0", backfill: []string{
			`UPDATE chats SET channel = 'whatsapp', is_group = 1 WHERE jid LIKE '%@g.us'`,
			`UPDATE chats SET channel = 'whatsapp', is_group = 0 WHERE jid LIKE '%@s.whatsapp.net'`,
			`UPDATE chats SET channel = 'discord', is_group = 1 WHERE jid LIKE 'dc:%'`,
			`UPDATE chats SET channel = 'telegram', is_group = 0 WHERE jid LIKE 'tg:%'`,
		}},
		{table: "registered_groups", column: "container_config", decl: "TEXT"},
		{table: "registered_groups", column: "requires_trigger", decl: "INTEGER DEFAULT 1"},
		{table: "registered_groups", column: "is_main", decl: "INTEGER DEFAULT 0", backfill: []string{
			`UPDATE registered_groups SET is_main = 1 WHERE folder = 'main'`,
		}},
	}
}

// migrateNanoClawV1 creates NanoClaw's schema, or completes an older NanoClaw database's.
func migrateNanoClawV1(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, nanoClawTables); err != nil {
		return fmt.Errorf("create tables: %w", err)
	}
	for _, c := range nanoClawAddedColumns() {
		has, err := hasColumn(ctx, tx, c.table, c.column)
		if err != nil {
			return err
		}
		if has {
			continue
		}
		// Identifiers come from the constant list above, never from input.
		if _, err := tx.ExecContext(ctx, "ALTER TABLE "+c.table+" ADD COLUMN "+c.column+" "+c.decl); err != nil {
			return fmt.Errorf("add column %s.%s: %w", c.table, c.column, err)
		}
		for _, q := range c.backfill {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("backfill %s.%s: %w", c.table, c.column, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, nanoClawIndexes); err != nil {
		return fmt.Errorf("create indexes: %w", err)
	}
	return nil
}

// hasColumn reports whether table has column, from PRAGMA table_info.
func hasColumn(ctx context.Context, tx *sql.Tx, table, column string) (bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", table)
	if err != nil {
		return false, fmt.Errorf("table_info(%s): %w", table, err)
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return false, fmt.Errorf("table_info(%s): %w", table, err)
		}
		if name == column {
			found = true
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("table_info(%s): %w", table, err)
	}
	return found, nil
}
