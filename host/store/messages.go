package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// StoreMessage saves a message, replacing any earlier copy with the same (ID, ChatJID): a
// channel redelivering a message never duplicates it. The chat's metadata must be stored
// first (the messages→chats foreign key is enforced), which channels do anyway.
func (s *Store) StoreMessage(ctx context.Context, m Message) error {
	if m.ID == "" || m.ChatJID == "" {
		return fmt.Errorf("store message: id %q, chat %q: both are required", m.ID, m.ChatJID)
	}
	const q = `
INSERT OR REPLACE INTO messages (id, chat_jid, sender, sender_name, content, timestamp,
	is_from_me, is_bot_message, reply_to_message_id, reply_to_message_content, reply_to_sender_name, handled_as, route_action, attachments)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// The chat's last activity moves with its messages, in the same transaction: one
	// commit per inbound message.
	const bump = `UPDATE chats SET last_message_time = ?2
WHERE jid = ?1 AND ?2 != '' AND (last_message_time IS NULL OR last_message_time < ?2)`
	attachments, err := encodeAttachments(m.Attachments)
	if err != nil {
		return fmt.Errorf("store message %q in %q: %w", m.ID, m.ChatJID, err)
	}
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, q, m.ID, m.ChatJID, m.Sender, m.SenderName, m.Content, m.Timestamp,
			boolInt(m.IsFromMe), boolInt(m.IsBotMessage),
			nullIfEmpty(m.ReplyToMessageID), nullIfEmpty(m.ReplyToMessageContent), nullIfEmpty(m.ReplyToSenderName),
			nullIfEmpty(m.HandledAs), nullIfEmpty(m.RouteAction), attachments); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, bump, m.ChatJID, m.Timestamp)
		return err
	})
	if err != nil {
		return fmt.Errorf("store message %q in %q: %w", m.ID, m.ChatJID, err)
	}
	return nil
}

// messageColumns is what every message query selects, in scanMessage's order.
const messageColumns = `id, chat_jid, sender, sender_name, content, timestamp, is_from_me, is_bot_message,
	reply_to_message_id, reply_to_message_content, reply_to_sender_name, handled_as, route_action, attachments`

// pendingFilter selects messages an agent should see: after the cursor, not the bot's own
// (by flag, or by the "Name:" prefix as a backstop for rows written before the flag
// existed), not handled by the host itself, and with text. Parameters: since, botPrefix,
// escaped LIKE pattern.
const pendingFilter = `timestamp > ?
	AND COALESCE(is_bot_message, 0) = 0
	AND handled_as IS NULL
	AND deleted_at IS NULL
	AND (? = '' OR content NOT LIKE ? ESCAPE '\')
	AND content != '' AND content IS NOT NULL`

// likePrefix turns a literal prefix into a LIKE pattern: an assistant named "100%" or
// "a_b" must match only itself. Note LIKE is ASCII case-insensitive, as in NanoClaw.
func likePrefix(p string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p) + "%"
}

// sqlLimit maps limit <= 0 ("no limit") to SQLite's LIMIT -1.
func sqlLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

// MessagesSince returns chatJID's messages after since that an agent should see (see
// pendingFilter; botPrefix is the assistant's prefix, e.g. "Andy:", "" for none). Only the
// newest limit are returned (limit <= 0: all), oldest first, so a long backlog never floods
// a prompt. since "" means from the beginning.
func (s *Store) MessagesSince(ctx context.Context, chatJID, since, botPrefix string, limit int) ([]Message, error) {
	q := `SELECT * FROM (SELECT ` + messageColumns + `, rowid AS rid FROM messages
WHERE chat_jid = ? AND ` + pendingFilter + `
ORDER BY timestamp DESC, rid DESC LIMIT ?) ORDER BY timestamp, rid`
	msgs, err := s.queryMessages(ctx, q, chatJID, since, botPrefix, likePrefix(botPrefix), sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("messages since %q in %q: %w", since, chatJID, err)
	}
	return msgs, nil
}

// MessagesAfter returns chatJID's messages after since that an agent should see (see
// pendingFilter), the oldest limit of them (limit <= 0: all), oldest first: a backlog is
// worked through in order, a batch at a time, and none is skipped.
func (s *Store) MessagesAfter(ctx context.Context, chatJID, since, botPrefix string, limit int) ([]Message, error) {
	q := `SELECT ` + messageColumns + `, rowid AS rid FROM messages
WHERE chat_jid = ? AND ` + pendingFilter + `
ORDER BY timestamp, rid LIMIT ?`
	msgs, err := s.queryMessages(ctx, q, chatJID, since, botPrefix, likePrefix(botPrefix), sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("messages after %q in %q: %w", since, chatJID, err)
	}
	return msgs, nil
}

// NewMessages is the poll loop's query: messages after since in any of jids, filtered as
// MessagesSince, newest limit of them oldest first. newCursor is the latest timestamp
// returned (since when none), the value to persist as the global "seen" cursor.
func (s *Store) NewMessages(ctx context.Context, jids []string, since, botPrefix string, limit int) (msgs []Message, newCursor string, err error) {
	if len(jids) == 0 {
		return nil, since, nil
	}
	args := make([]any, 0, len(jids)+4)
	for _, j := range jids {
		args = append(args, j)
	}
	args = append(args, since, botPrefix, likePrefix(botPrefix), sqlLimit(limit))
	q := `SELECT * FROM (SELECT ` + messageColumns + `, rowid AS rid FROM messages
WHERE chat_jid IN (?` + strings.Repeat(", ?", len(jids)-1) + `) AND ` + pendingFilter + `
ORDER BY timestamp DESC, rid DESC LIMIT ?) ORDER BY timestamp, rid`
	msgs, err = s.queryMessages(ctx, q, args...)
	if err != nil {
		return nil, since, fmt.Errorf("new messages since %q: %w", since, err)
	}
	newCursor = since
	for _, m := range msgs {
		if m.Timestamp > newCursor {
			newCursor = m.Timestamp
		}
	}
	return msgs, newCursor, nil
}

// LastBotMessageTime returns the time of the assistant's last message in chatJID (flagged
// is_bot_message, or starting with botPrefix), "" if it never spoke there. A chat without
// an agent cursor resumes from there instead of replaying its whole history.
func (s *Store) LastBotMessageTime(ctx context.Context, chatJID, botPrefix string) (string, error) {
	const q = `SELECT MAX(timestamp) FROM messages
WHERE chat_jid = ? AND (is_bot_message = 1 OR (? != '' AND content LIKE ? ESCAPE '\'))`
	var ts sql.NullString
	if err := s.r.QueryRowContext(ctx, q, chatJID, botPrefix, likePrefix(botPrefix)).Scan(&ts); err != nil {
		return "", fmt.Errorf("last bot message in %q: %w", chatJID, err)
	}
	return ts.String, nil
}

// MarkBotMessages flags messages starting with botPrefix as the bot's own, NanoClaw's
// one-off backfill for databases that predate is_bot_message (the schema migration cannot
// run it: it needs the assistant's name). It is idempotent; it reports rows changed.
func (s *Store) MarkBotMessages(ctx context.Context, botPrefix string) (int64, error) {
	if botPrefix == "" {
		return 0, errors.New("mark bot messages: empty prefix")
	}
	res, err := s.w.ExecContext(ctx,
		`UPDATE messages SET is_bot_message = 1 WHERE COALESCE(is_bot_message, 0) = 0 AND content LIKE ? ESCAPE '\'`,
		likePrefix(botPrefix))
	if err != nil {
		return 0, fmt.Errorf("mark bot messages: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("mark bot messages: %w", err)
	}
	return n, nil
}

// queryMessages runs a query selecting messageColumns plus a trailing rowid.
func (s *Store) queryMessages(ctx context.Context, q string, args ...any) ([]Message, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var id, chat, sender, senderName, content, ts, rID, rContent, rName, handled, action, attachments sql.NullString
		var fromMe, bot sql.NullInt64
		var rid int64
		if err := rows.Scan(&id, &chat, &sender, &senderName, &content, &ts, &fromMe, &bot,
			&rID, &rContent, &rName, &handled, &action, &attachments, &rid); err != nil {
			return nil, err
		}
		m.Attachments = decodeAttachments(attachments.String)
		m.HandledAs, m.RouteAction = handled.String, action.String
		m.ID, m.ChatJID = id.String, chat.String
		m.Sender, m.SenderName, m.Content, m.Timestamp = sender.String, senderName.String, content.String, ts.String
		m.IsFromMe, m.IsBotMessage = fromMe.Int64 == 1, bot.Int64 == 1
		m.ReplyToMessageID, m.ReplyToMessageContent, m.ReplyToSenderName = rID.String, rContent.String, rName.String
		out = append(out, m)
	}
	return out, rows.Err()
}

// encodeAttachments is the attachments column: JSON, NULL for none.
func encodeAttachments(as []Attachment) (any, error) {
	if len(as) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(as)
	if err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	return string(b), nil
}

// decodeAttachments reads the attachments column. A value that does not parse (written by
// hand, say) gives none: the message itself still reaches the agent.
func decodeAttachments(s string) []Attachment {
	if s == "" {
		return nil
	}
	var as []Attachment
	if err := json.Unmarshal([]byte(s), &as); err != nil {
		return nil
	}
	return as
}
