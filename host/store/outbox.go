package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Outgoing is a message the host sends: a reply, a task's result, an agent's send_message.
// It is stored before any channel sees it, in the same transaction as the state it settles
// (the message it answers), and marked sent once the channel has taken it; so a crash
// between the two sends it again rather than never.
type Outgoing struct {
	ID      int64
	ChatJID string
	Text    string
	Origin  string // what produced it: "reply", "task:<id>", "ipc:<folder>"
	// ReplyTo is the ID of the message (in the same chat) the text answers, which a channel
	// that can quotes; "" for none.
	ReplyTo   string
	CreatedAt string
	SentAt    string // "" until a channel took it
	Attempts  int
	LastError string
}

// QueueOutgoing stores msgs and sets the router_state values in state, all or nothing, and
// returns the new messages' ids in order. A state value of "" clears that key.
func (s *Store) QueueOutgoing(ctx context.Context, msgs []Outgoing, state map[string]string) ([]int64, error) {
	ids := make([]int64, 0, len(msgs))
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		for _, m := range msgs {
			if m.ChatJID == "" {
				return fmt.Errorf("outgoing message without a chat")
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO outbox (chat_jid, text, origin, created_at, reply_to) VALUES (?, ?, ?, ?, ?)`,
				m.ChatJID, m.Text, m.Origin, m.CreatedAt, nullIfEmpty(m.ReplyTo))
			if err != nil {
				return err
			}
			id, err := res.LastInsertId()
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		for k, v := range state {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO router_state (key, value) VALUES (?, ?)`, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue outgoing: %w", err)
	}
	return ids, nil
}

const outgoingCols = `id, chat_jid, text, origin, created_at, COALESCE(sent_at, ''), attempts, COALESCE(last_error, ''), COALESCE(reply_to, '')`

// UnsentOutgoing lists what no channel has taken yet, oldest first.
func (s *Store) UnsentOutgoing(ctx context.Context) ([]Outgoing, error) {
	return s.queryOutgoing(ctx, `SELECT `+outgoingCols+` FROM outbox WHERE sent_at IS NULL ORDER BY id`)
}

// OutgoingFor lists a chat's outgoing messages, oldest first (status, tests).
func (s *Store) OutgoingFor(ctx context.Context, chatJID string) ([]Outgoing, error) {
	return s.queryOutgoing(ctx, `SELECT `+outgoingCols+` FROM outbox WHERE chat_jid = ? ORDER BY id`, chatJID)
}

func (s *Store) queryOutgoing(ctx context.Context, q string, args ...any) ([]Outgoing, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	defer rows.Close()
	var out []Outgoing
	for rows.Next() {
		var o Outgoing
		if err := rows.Scan(&o.ID, &o.ChatJID, &o.Text, &o.Origin, &o.CreatedAt, &o.SentAt, &o.Attempts, &o.LastError, &o.ReplyTo); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return out, nil
}

// MarkOutgoingSent records that a channel took message id at time at.
func (s *Store) MarkOutgoingSent(ctx context.Context, id int64, at string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?`, at, id)
	if err != nil {
		return fmt.Errorf("outbox: mark %d sent: %w", id, err)
	}
	return nil
}

// MarkOutgoingFailed counts a failed attempt to send message id; it stays unsent.
func (s *Store) MarkOutgoingFailed(ctx context.Context, id int64, reason string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?`, reason, id)
	if err != nil {
		return fmt.Errorf("outbox: mark %d failed: %w", id, err)
	}
	return nil
}

// PruneOutgoing forgets messages sent before the given time (the messages table keeps the
// conversation; the outbox only has to outlive a crash).
func (s *Store) PruneOutgoing(ctx context.Context, sentBefore string) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?`, sentBefore)
	if err != nil {
		return 0, fmt.Errorf("outbox: prune: %w", err)
	}
	return res.RowsAffected()
}
