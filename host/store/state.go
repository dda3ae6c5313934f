package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// router_state keys NanoClaw uses; keeping them means a NanoClaw database's cursors carry
// over.
const (
	// KeyLastTimestamp is the poll loop's global "seen" cursor.
	KeyLastTimestamp = "last_timestamp"
	// KeyLastAgentTimestamp holds the per-chat "delivered to the agent" cursors, a JSON
	// object from chat JID to timestamp.
	KeyLastAgentTimestamp = "last_agent_timestamp"
)

// querier is what both the read pool and a write transaction offer.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// State returns a router_state value; ok is false when the key was never set.
func (s *Store) State(ctx context.Context, key string) (value string, ok bool, err error) {
	value, ok, err = getState(ctx, s.r, key)
	if err != nil {
		return "", false, fmt.Errorf("router state %q: %w", key, err)
	}
	return value, ok, nil
}

func getState(ctx context.Context, q querier, key string) (string, bool, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM router_state WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return v, true, nil
}

// SetState sets a router_state value.
func (s *Store) SetState(ctx context.Context, key, value string) error {
	if _, err := s.w.ExecContext(ctx,
		`INSERT OR REPLACE INTO router_state (key, value) VALUES (?, ?)`, key, value); err != nil {
		return fmt.Errorf("set router state %q: %w", key, err)
	}
	return nil
}

// AgentCursor returns the timestamp of the last message delivered to jid's agent, "" when
// none is recorded (the caller then recovers it with LastBotMessageTime).
func (s *Store) AgentCursor(ctx context.Context, jid string) (string, error) {
	all, err := s.AgentCursors(ctx)
	if err != nil {
		return "", err
	}
	return all[jid], nil
}

// AgentCursors returns every chat's agent cursor. They live as one JSON object under
// KeyLastAgentTimestamp, exactly as NanoClaw keeps them; unreadable JSON counts as empty,
// as in NanoClaw, so a damaged value costs a replay, never a stuck loop.
func (s *Store) AgentCursors(ctx context.Context) (map[string]string, error) {
	raw, _, err := getState(ctx, s.r, KeyLastAgentTimestamp)
	if err != nil {
		return nil, fmt.Errorf("agent cursors: %w", err)
	}
	return parseCursors(raw), nil
}

// SetAgentCursor records that jid's messages up to ts were delivered to its agent. The read,
// change and write happen in one transaction, so concurrent updates for different chats
// never lose each other.
func (s *Store) SetAgentCursor(ctx context.Context, jid, ts string) error {
	return s.SetAgentCursorWith(ctx, jid, ts, nil)
}

// SetAgentCursorWith is SetAgentCursor that also sets the router_state values in state, in
// the same transaction (a run's in-flight marker moves with its cursor).
func (s *Store) SetAgentCursorWith(ctx context.Context, jid, ts string, state map[string]string) error {
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		for k, v := range state {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO router_state (key, value) VALUES (?, ?)`, k, v); err != nil {
				return err
			}
		}
		raw, _, err := getState(ctx, tx, KeyLastAgentTimestamp)
		if err != nil {
			return err
		}
		all := parseCursors(raw)
		all[jid] = ts
		b, err := json.Marshal(all)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO router_state (key, value) VALUES (?, ?)`,
			KeyLastAgentTimestamp, string(b))
		return err
	})
	if err != nil {
		return fmt.Errorf("set agent cursor %q: %w", jid, err)
	}
	return nil
}

// parseCursors reads the cursor object, keeping string values and dropping anything else.
func parseCursors(raw string) map[string]string {
	out := map[string]string{}
	var m map[string]any
	if raw == "" || json.Unmarshal([]byte(raw), &m) != nil {
		return out
	}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// Session returns the agent session id for a group folder, "" when there is none (the next
// run starts a fresh conversation).
func (s *Store) Session(ctx context.Context, folder string) (string, error) {
	var id string
	err := s.r.QueryRowContext(ctx, `SELECT session_id FROM sessions WHERE group_folder = ?`, folder).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("session for %q: %w", folder, err)
	}
	return id, nil
}

// SetSession records a group's current agent session, saved as soon as the agent reports it
// so a crash mid-run still resumes the conversation.
func (s *Store) SetSession(ctx context.Context, folder, sessionID string) error {
	if _, err := s.w.ExecContext(ctx,
		`INSERT OR REPLACE INTO sessions (group_folder, session_id) VALUES (?, ?)`, folder, sessionID); err != nil {
		return fmt.Errorf("set session for %q: %w", folder, err)
	}
	return nil
}

// DeleteSession forgets a group's session, so a retry after "no conversation found" starts
// fresh instead of failing the same way forever.
func (s *Store) DeleteSession(ctx context.Context, folder string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE group_folder = ?`, folder); err != nil {
		return fmt.Errorf("delete session for %q: %w", folder, err)
	}
	return nil
}

// Sessions returns every group's session id by folder, loaded once at startup.
func (s *Store) Sessions(ctx context.Context) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT group_folder, session_id FROM sessions`)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var f, id string
		if err := rows.Scan(&f, &id); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		out[f] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}
