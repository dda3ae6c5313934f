package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
)

// groupColumns is what every registered-group query selects, in scanGroup's order.
const groupColumns = `jid, name, folder, trigger_pattern, added_at, container_config, requires_trigger, is_main, quote_replies`

// RegisteredGroups returns every registered group, ordered by when it was added. A row whose
// folder breaks the folder rule (someone edited the database by hand) is skipped and logged
// at warn on the Open logger, as NanoClaw does: its folder could point outside groups/.
func (s *Store) RegisteredGroups(ctx context.Context) ([]Group, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+groupColumns+` FROM registered_groups ORDER BY added_at, jid`)
	if err != nil {
		return nil, fmt.Errorf("list registered groups: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		g, err := s.scanGroup(rows)
		if err != nil {
			return nil, fmt.Errorf("list registered groups: %w", err)
		}
		if s.usable(g) {
			out = append(out, g)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list registered groups: %w", err)
	}
	return out, nil
}

// RegisteredGroup returns the group registered for jid; ok is false when there is none or
// its folder breaks the rule (logged, as in RegisteredGroups).
func (s *Store) RegisteredGroup(ctx context.Context, jid string) (Group, bool, error) {
	return s.oneGroup(ctx, "jid", jid)
}

// GroupByFolder returns the group registered with folder, for the scheduler and IPC, which
// know a group only by its folder.
func (s *Store) GroupByFolder(ctx context.Context, folder string) (Group, bool, error) {
	return s.oneGroup(ctx, "folder", folder)
}

// oneGroup looks a group up by a unique column (a constant, never input).
func (s *Store) oneGroup(ctx context.Context, col, val string) (Group, bool, error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM registered_groups WHERE `+col+` = ?`, val)
	g, err := s.scanGroup(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Group{}, false, nil
	}
	if err != nil {
		return Group{}, false, fmt.Errorf("registered group by %s %q: %w", col, val, err)
	}
	if !s.usable(g) {
		return Group{}, false, nil
	}
	return g, true, nil
}

// usable reports whether a stored group may be used, logging the ones that may not.
func (s *Store) usable(g Group) bool {
	if ipcpolicy.ValidFolder(g.Folder) {
		return true
	}
	s.log.Warn("skipping registered group with invalid folder", "jid", g.JID, "folder", g.Folder)
	return false
}

func (s *Store) scanGroup(sc scanner) (Group, error) {
	var g Group
	var name, trigger, added, cfg sql.NullString
	var requires, isMain, quote sql.NullInt64
	if err := sc.Scan(&g.JID, &name, &g.Folder, &trigger, &added, &cfg, &requires, &isMain, &quote); err != nil {
		return Group{}, err
	}
	if quote.Valid {
		q := quote.Int64 != 0
		g.QuoteReplies = &q
	}
	g.Name, g.Trigger, g.AddedAt = name.String, trigger.String, added.String
	// NULL requires_trigger is NanoClaw's "undefined", which means a trigger is required.
	g.RequiresTrigger = !requires.Valid || requires.Int64 != 0
	g.IsMain = isMain.Int64 == 1
	if cfg.Valid && cfg.String != "" && cfg.String != "null" {
		if json.Valid([]byte(cfg.String)) {
			g.ContainerConfig = json.RawMessage(cfg.String)
		} else {
			// Dropping it only removes extra mounts; the group still works.
			s.log.Warn("ignoring unreadable container_config", "jid", g.JID)
		}
	}
	return g, nil
}

// SetRegisteredGroup registers a group or updates the registration of g.JID. It refuses a
// folder that breaks the folder rule (ErrInvalidFolder) and a folder already registered to
// another chat (ErrFolderTaken) rather than silently replacing that chat's registration.
// RequiresTrigger is stored as given: set it true for NanoClaw's default.
// A nil QuoteReplies keeps what the registration had (an update that says nothing about
// quoting does not undo the operator's choice).
func (s *Store) SetRegisteredGroup(ctx context.Context, g Group) error {
	if g.JID == "" {
		return errors.New("set registered group: empty JID")
	}
	if !ipcpolicy.ValidFolder(g.Folder) {
		return fmt.Errorf("set registered group %q: folder %q: %w", g.JID, g.Folder, ErrInvalidFolder)
	}
	var cfg any
	if c := bytes.TrimSpace(g.ContainerConfig); len(c) > 0 && string(c) != "null" {
		if !json.Valid(c) {
			return fmt.Errorf("set registered group %q: container config is not valid JSON", g.JID)
		}
		cfg = string(c)
	}
	const q = `
INSERT INTO registered_groups (jid, name, folder, trigger_pattern, added_at, container_config, requires_trigger, is_main, quote_replies)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(jid) DO UPDATE SET
	name = excluded.name, folder = excluded.folder, trigger_pattern = excluded.trigger_pattern,
	added_at = excluded.added_at, container_config = excluded.container_config,
	requires_trigger = excluded.requires_trigger, is_main = excluded.is_main,
	quote_replies = COALESCE(excluded.quote_replies, quote_replies)`
	added := g.AddedAt
	if added == "" {
		added = Timestamp(s.now())
	}
	_, err := s.w.ExecContext(ctx, q, g.JID, g.Name, g.Folder, g.Trigger, added, cfg,
		boolInt(g.RequiresTrigger), boolInt(g.IsMain), optBool(g.QuoteReplies))
	if err != nil {
		// The jid conflict is the upsert; the only UNIQUE left to break is folder.
		var se *sqlite.Error
		if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
			return fmt.Errorf("set registered group %q: folder %q: %w", g.JID, g.Folder, ErrFolderTaken)
		}
		return fmt.Errorf("set registered group %q: %w", g.JID, err)
	}
	return nil
}

// DeleteRegisteredGroup unregisters jid; its messages and folder stay.
func (s *Store) DeleteRegisteredGroup(ctx context.Context, jid string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM registered_groups WHERE jid = ?`, jid); err != nil {
		return fmt.Errorf("delete registered group %q: %w", jid, err)
	}
	return nil
}
