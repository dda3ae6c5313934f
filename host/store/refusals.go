package store

import (
	"context"
	"fmt"
)

// IPCRefusal is an agent request the host did not perform, kept for the operator: what it
// was, who sent it (the socket it came in on), and why.
type IPCRefusal struct {
	ID      int64  `json:"id"`
	At      string `json:"at"`
	Group   string `json:"group"`
	Type    string `json:"type"`
	Code    string `json:"code"`
	Reason  string `json:"reason"`
	Request string `json:"request"` // the body, cut at MaxRefusalRequest bytes
}

// MaxRefusalRequest bounds how much of a refused request is kept.
const MaxRefusalRequest = 4 << 10

// keepRefusals is how many refusals the table keeps; older ones are dropped on insert.
const keepRefusals = 1000

// RecordIPCRefusal keeps one refusal, dropping the oldest past the table's bound.
func (s *Store) RecordIPCRefusal(ctx context.Context, r IPCRefusal) error {
	if len(r.Request) > MaxRefusalRequest {
		r.Request = r.Request[:MaxRefusalRequest]
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO ipc_refusals (at, group_folder, type, code, reason, request) VALUES (?, ?, ?, ?, ?, ?)`,
		r.At, r.Group, r.Type, r.Code, r.Reason, r.Request)
	if err != nil {
		return fmt.Errorf("record IPC refusal: %w", err)
	}
	if id, err := res.LastInsertId(); err == nil && id > keepRefusals {
		if _, err := s.w.ExecContext(ctx, `DELETE FROM ipc_refusals WHERE id <= ?`, id-keepRefusals); err != nil {
			return fmt.Errorf("prune IPC refusals: %w", err)
		}
	}
	return nil
}

// RecentIPCRefusals returns the latest n refusals, oldest first.
func (s *Store) RecentIPCRefusals(ctx context.Context, n int) ([]IPCRefusal, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, at, group_folder, type, code, reason, request FROM
		(SELECT * FROM ipc_refusals ORDER BY id DESC LIMIT ?) ORDER BY id`, n)
	if err != nil {
		return nil, fmt.Errorf("IPC refusals: %w", err)
	}
	defer rows.Close()
	out := []IPCRefusal{}
	for rows.Next() {
		var r IPCRefusal
		if err := rows.Scan(&r.ID, &r.At, &r.Group, &r.Type, &r.Code, &r.Reason, &r.Request); err != nil {
			return nil, fmt.Errorf("IPC refusals: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
