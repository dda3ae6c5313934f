package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
)

// NanoClawDBName is the TypeScript NanoClaw's database file in its store/ directory.
const NanoClawDBName = "messages.db"

// keyNanoClawImport marks, in router_state, that a NanoClaw database was imported (JSON:
// the file and when), so a restart does not import it again: that would bring back tasks
// cancelled and groups removed since.
const keyNanoClawImport = "nanoclaw_import"

// ImportReport says what ImportNanoClaw did. Counts are rows added; rows already present
// (same key) are left as they are and not counted.
type ImportReport struct {
	// AlreadyImported says the file was imported before (the marker is set); nothing was read.
	AlreadyImported                          bool
	Chats, Messages, Groups, Tasks, TaskRuns int
	// Sessions is how many NanoClaw agent sessions were left behind: they are Claude Code
	// SDK sessions this runner cannot resume, so those groups start a fresh conversation
	// (their CLAUDE.md memory is in groups/ and carries over).
	Sessions int
	// Skipped says, one line each, what could not be imported and what to do about it.
	Skipped []string
}

// ImportNanoClaw copies a TypeScript NanoClaw database (store/messages.db, v1 schema: chats,
// messages, scheduled_tasks, task_run_logs, router_state, sessions, registered_groups) into
// this store, once: it opens src read-only and never changes it, adds in one transaction
// every row whose key is not here yet (whatever columns both sides have, so an older
// NanoClaw schema imports too), merges the per-chat agent cursors (the later wins, so nothing
// already answered is answered again), and records that it did. A second call returns
// AlreadyImported. A fresh install's placeholder main group (local:main in folder main)
// gives way to NanoClaw's main group; any other clash is reported in Skipped, not forced.
func (s *Store) ImportNanoClaw(ctx context.Context, src string) (ImportReport, error) {
	var rep ImportReport
	abs, err := filepath.Abs(src)
	if err != nil {
		return rep, fmt.Errorf("import %s: %w", src, err)
	}
	if _, ok, err := s.State(ctx, keyNanoClawImport); err != nil {
		return rep, err
	} else if ok {
		rep.AlreadyImported = true
		return rep, nil
	}
	if _, err := os.Stat(abs); err != nil {
		return rep, fmt.Errorf("import NanoClaw database: %w", err)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "mode=ro&_pragma=busy_timeout(5000)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return rep, fmt.Errorf("import %s: %w", abs, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		return rep, fmt.Errorf("import %s: %w", abs, err)
	}
	im := &importer{src: db, rep: &rep}
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		im.tx = tx
		// Order matters for the foreign keys: chats before messages, tasks before their runs.
		steps := []func(context.Context) error{im.groups, im.chats, im.messages, im.tasks, im.taskRuns, im.routerState, im.sessions}
		for _, step := range steps {
			if err := step(ctx); err != nil {
				return err
			}
		}
		mark, _ := json.Marshal(map[string]string{"from": abs, "at": Timestamp(s.now())})
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO router_state (key, value) VALUES (?, ?)`, keyNanoClawImport, string(mark))
		return err
	})
	if err != nil {
		return ImportReport{}, fmt.Errorf("import %s: %w", abs, err)
	}
	return rep, nil
}

// importer is one import's state: the source, the transaction, what is known to exist.
type importer struct {
	src *sql.DB
	tx  *sql.Tx
	rep *ImportReport
}

// columns lists a table's columns in db (q), or nil when the table does not exist.
func columns(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, table string) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// each reads every row of table that has the columns both databases share, as a map, and
// calls fn; ordered by orderBy when given.
func (im *importer) each(ctx context.Context, table, orderBy string, fn func(row map[string]any) error) error {
	srcCols, err := columns(ctx, im.src, table)
	if err != nil || len(srcCols) == 0 {
		return err // an absent table has nothing to import
	}
	dstCols, err := columns(ctx, im.tx, table)
	if err != nil {
		return err
	}
	var common []string
	for _, c := range srcCols {
		for _, d := range dstCols {
			if c == d {
				common = append(common, c)
			}
		}
	}
	q := "SELECT " + quoteAll(common) + " FROM " + table
	if orderBy != "" {
		q += " ORDER BY " + orderBy
	}
	rows, err := im.src.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals := make([]any, len(common))
		ptrs := make([]any, len(common))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		row := make(map[string]any, len(common))
		for i, c := range common {
			row[c] = vals[i]
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// insert adds row to table unless a row with its key exists; it reports whether it did.
func (im *importer) insert(ctx context.Context, table string, row map[string]any) (bool, error) {
	cols := make([]string, 0, len(row))
	args := make([]any, 0, len(row))
	for c, v := range row {
		cols = append(cols, c)
		args = append(args, v)
	}
	q := "INSERT OR IGNORE INTO " + table + " (" + quoteAll(cols) + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	res, err := im.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("import into %s: %w", table, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func quoteAll(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
	}
	return strings.Join(q, ", ")
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case int64:
		return x != 0
	case bool:
		return x
	}
	return false
}

func (im *importer) exists(ctx context.Context, q string, args ...any) (bool, error) {
	var one int
	err := im.tx.QueryRowContext(ctx, q, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// groups imports the registrations one by one, so each clash is reported with its reason.
func (im *importer) groups(ctx context.Context) error {
	var theirMain bool
	if err := im.each(ctx, "registered_groups", "", func(row map[string]any) error {
		theirMain = theirMain || truthy(row["is_main"]) || (row["is_main"] == nil && str(row["folder"]) == "main")
		return nil
	}); err != nil {
		return err
	}
	if theirMain {
		// A fresh install registers the local chat as main so a newcomer can talk at once;
		// a NanoClaw user's main group takes that place (the local chat can be registered
		// again under another folder).
		var n int
		if err := im.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM registered_groups`).Scan(&n); err != nil {
			return err
		}
		if ok, err := im.exists(ctx, `SELECT 1 FROM registered_groups WHERE jid = 'local:main' AND folder = 'main' AND is_main = 1`); err != nil {
			return err
		} else if ok && n == 1 {
			if _, err := im.tx.ExecContext(ctx, `DELETE FROM registered_groups WHERE jid = 'local:main'`); err != nil {
				return err
			}
			im.rep.Skipped = append(im.rep.Skipped, "local:main is no longer the main group (NanoClaw's main group is); "+
				"to keep the terminal chat: nanoclaw groups add --jid local:main --folder local-main --no-trigger-required")
		}
	}
	return im.each(ctx, "registered_groups", "added_at", func(row map[string]any) error {
		jid, folder := str(row["jid"]), str(row["folder"])
		if _, ok := row["is_main"]; !ok && folder == "main" {
			row["is_main"] = int64(1) // before is_main, NanoClaw's main group was folder main
		}
		if !ipcpolicy.ValidFolder(folder) {
			im.rep.Skipped = append(im.rep.Skipped, fmt.Sprintf("group %s: folder %q is not a valid folder name; register it again with nanoclaw groups add --jid %s --folder NEW", jid, folder, jid))
			return nil
		}
		var have string
		err := im.tx.QueryRowContext(ctx, `SELECT folder FROM registered_groups WHERE jid = ?`, jid).Scan(&have)
		switch {
		case err == nil && have == folder:
			return nil // already registered as it was
		case err == nil:
			im.rep.Skipped = append(im.rep.Skipped, fmt.Sprintf("group %s: registered here with folder %s, NanoClaw had %s; kept %s (nanoclaw groups add --jid %s --folder %s --move to switch)", jid, have, folder, have, jid, folder))
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		var other string
		err = im.tx.QueryRowContext(ctx, `SELECT jid FROM registered_groups WHERE folder = ?`, folder).Scan(&other)
		if err == nil {
			im.rep.Skipped = append(im.rep.Skipped, fmt.Sprintf("group %s: folder %s is already %s's; register it with another folder: nanoclaw groups add --jid %s --folder NEW", jid, folder, other, jid))
			return nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if truthy(row["is_main"]) {
			var main string
			err = im.tx.QueryRowContext(ctx, `SELECT jid FROM registered_groups WHERE is_main = 1`).Scan(&main)
			if err == nil {
				row["is_main"] = int64(0)
				im.rep.Skipped = append(im.rep.Skipped, fmt.Sprintf("group %s was NanoClaw's main group; %s is main here, so it is imported as an ordinary group (nanoclaw groups add --jid %s --folder %s --main --force to switch)", jid, main, jid, folder))
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		added, err := im.insert(ctx, "registered_groups", row)
		if added {
			im.rep.Groups++
		}
		return err
	})
}

func (im *importer) chats(ctx context.Context) error {
	return im.each(ctx, "chats", "", func(row map[string]any) error {
		added, err := im.insert(ctx, "chats", row)
		if added && str(row["jid"]) != "__group_sync__" {
			im.rep.Chats++
		}
		return err
	})
}

func (im *importer) messages(ctx context.Context) error {
	return im.each(ctx, "messages", "timestamp", func(row map[string]any) error {
		// NanoClaw may hold a message whose chat row is missing; the foreign key here
		// needs one.
		if _, err := im.tx.ExecContext(ctx, `INSERT OR IGNORE INTO chats (jid) VALUES (?)`, row["chat_jid"]); err != nil {
			return err
		}
		added, err := im.insert(ctx, "messages", row)
		if added {
			im.rep.Messages++
		}
		return err
	})
}

func (im *importer) tasks(ctx context.Context) error {
	return im.each(ctx, "scheduled_tasks", "created_at", func(row map[string]any) error {
		added, err := im.insert(ctx, "scheduled_tasks", row)
		if added {
			im.rep.Tasks++
		}
		return err
	})
}

// taskRuns adds the run logs of tasks that exist here, without their ids (this table's own
// sequence numbers them), unless the same task already has a run logged at that time.
func (im *importer) taskRuns(ctx context.Context) error {
	return im.each(ctx, "task_run_logs", "run_at", func(row map[string]any) error {
		delete(row, "id")
		task, at := row["task_id"], row["run_at"]
		if ok, err := im.exists(ctx, `SELECT 1 FROM scheduled_tasks WHERE id = ?`, task); err != nil || !ok {
			return err
		}
		if dup, err := im.exists(ctx, `SELECT 1 FROM task_run_logs WHERE task_id = ? AND run_at = ?`, task, at); err != nil || dup {
			return err
		}
		added, err := im.insert(ctx, "task_run_logs", row)
		if added {
			im.rep.TaskRuns++
		}
		return err
	})
}

// routerState merges the cursors (the later timestamp wins, per chat) and adds other keys.
func (im *importer) routerState(ctx context.Context) error {
	return im.each(ctx, "router_state", "", func(row map[string]any) error {
		key, val := str(row["key"]), str(row["value"])
		var have string
		err := im.tx.QueryRowContext(ctx, `SELECT value FROM router_state WHERE key = ?`, key).Scan(&have)
		if errors.Is(err, sql.ErrNoRows) {
			_, err = im.insert(ctx, "router_state", row)
			return err
		}
		if err != nil {
			return err
		}
		merged := have
		switch key {
		case KeyLastTimestamp:
			merged = max(have, val)
		case KeyLastAgentTimestamp:
			ours, theirs := parseCursors(have), parseCursors(val)
			for jid, ts := range theirs {
				ours[jid] = max(ours[jid], ts)
			}
			b, err := json.Marshal(ours)
			if err != nil {
				return err
			}
			merged = string(b)
		}
		_, err = im.tx.ExecContext(ctx, `UPDATE router_state SET value = ? WHERE key = ?`, merged, key)
		return err
	})
}

// sessions counts what is left behind: NanoClaw's sessions are the Claude Code SDK's, which
// this agent runner cannot resume.
func (im *importer) sessions(ctx context.Context) error {
	return im.each(ctx, "sessions", "", func(map[string]any) error {
		im.rep.Sessions++
		return nil
	})
}
