package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
)

// GroupSyncJID is the sentinel chats row whose last_message_time records the last group
// metadata sync (NanoClaw's '__group_sync__'); it is never a real chat.
const GroupSyncJID = "__group_sync__"

// StoreChatMetadata records that a chat was seen, registered or not, so the main agent can
// list groups it may register. It follows NanoClaw's upsert: a new chat is named after its
// JID until a name arrives; a non-empty Name replaces the stored one; last_message_time only
// moves forward. Channel "" keeps the stored channel, and IsGroup false with Channel ""
// keeps the stored flag (NanoClaw's "undefined"), so a caller that knows nothing about the
// chat's kind cannot demote a group to a DM.
func (s *Store) StoreChatMetadata(ctx context.Context, c Chat) error {
	if c.JID == "" {
		return errors.New("store chat metadata: empty JID")
	}
	const q = `
INSERT INTO chats (jid, name, last_message_time, channel, is_group)
VALUES (?1, COALESCE(NULLIF(?2, ''), ?1), NULLIF(?3, ''), NULLIF(?4, ''), ?5)
ON CONFLICT(jid) DO UPDATE SET
	name = CASE WHEN ?2 != '' THEN excluded.name ELSE name END,
	last_message_time = NULLIF(MAX(COALESCE(last_message_time, ''), COALESCE(excluded.last_message_time, '')), ''),
	channel = COALESCE(excluded.channel, channel),
	is_group = CASE WHEN ?4 = '' AND ?5 = 0 THEN is_group ELSE excluded.is_group END`
	if _, err := s.w.ExecContext(ctx, q, c.JID, c.Name, c.LastMessageTime, c.Channel, boolInt(c.IsGroup)); err != nil {
		return fmt.Errorf("store chat metadata %q: %w", c.JID, err)
	}
	return nil
}

// UpdateChatName sets a chat's name from a group metadata sync. It never moves an existing
// chat's last activity, since a sync is not activity; a chat new to the store gets the
// current time, as in NanoClaw.
func (s *Store) UpdateChatName(ctx context.Context, jid, name string) error {
	const q = `
INSERT INTO chats (jid, name, last_message_time) VALUES (?, ?, ?)
ON CONFLICT(jid) DO UPDATE SET name = excluded.name`
	if _, err := s.w.ExecContext(ctx, q, jid, name, Timestamp(s.now())); err != nil {
		return fmt.Errorf("update chat name %q: %w", jid, err)
	}
	return nil
}

// Chat returns one chat's metadata; ok is false when the chat was never seen.
func (s *Store) Chat(ctx context.Context, jid string) (Chat, bool, error) {
	row := s.r.QueryRowContext(ctx,
		`SELECT jid, name, last_message_time, channel, is_group FROM chats WHERE jid = ?`, jid)
	c, err := scanChat(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Chat{}, false, nil
	}
	if err != nil {
		return Chat{}, false, fmt.Errorf("chat %q: %w", jid, err)
	}
	return c, true, nil
}

// Chats returns every known chat, most recently active first (NanoClaw's getAllChats),
// including the group-sync sentinel.
func (s *Store) Chats(ctx context.Context) ([]Chat, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT jid, name, last_message_time, channel, is_group FROM chats ORDER BY last_message_time DESC, jid`)
	if err != nil {
		return nil, fmt.Errorf("list chats: %w", err)
	}
	defer rows.Close()
	var out []Chat
	for rows.Next() {
		c, err := scanChat(rows)
		if err != nil {
			return nil, fmt.Errorf("list chats: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list chats: %w", err)
	}
	return out, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanChat(sc scanner) (Chat, error) {
	var c Chat
	var name, last, channel sql.NullString
	var isGroup sql.NullInt64
	if err := sc.Scan(&c.JID, &name, &last, &channel, &isGroup); err != nil {
		return Chat{}, err
	}
	c.Name, c.LastMessageTime, c.Channel = name.String, last.String, channel.String
	c.IsGroup = isGroup.Int64 == 1
	return c, nil
}

// AvailableGroups lists group chats the main agent may register (available_groups.json):
// chats flagged is_group — the flag, not the JID's shape, so any channel's groups qualify —
// without the sync sentinel, most recently active first. IsRegistered is true for chats
// with a usable registration (a row whose folder breaks the rule is ignored everywhere).
func (s *Store) AvailableGroups(ctx context.Context) ([]AvailableGroup, error) {
	const q = `
SELECT c.jid, c.name, c.last_message_time, g.folder
FROM chats c LEFT JOIN registered_groups g ON g.jid = c.jid
WHERE c.is_group = 1 AND c.jid != ?
ORDER BY c.last_message_time DESC, c.jid`
	rows, err := s.r.QueryContext(ctx, q, GroupSyncJID)
	if err != nil {
		return nil, fmt.Errorf("available groups: %w", err)
	}
	defer rows.Close()
	out := []AvailableGroup{}
	for rows.Next() {
		var g AvailableGroup
		var name, last, folder sql.NullString
		if err := rows.Scan(&g.JID, &name, &last, &folder); err != nil {
			return nil, fmt.Errorf("available groups: %w", err)
		}
		g.Name, g.LastActivity = name.String, last.String
		g.IsRegistered = folder.Valid && ipcpolicy.ValidFolder(folder.String)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("available groups: %w", err)
	}
	return out, nil
}

// LastGroupSync returns when group metadata was last synced ("" if never), so a channel can
// skip a sync it did less than a day ago.
func (s *Store) LastGroupSync(ctx context.Context) (string, error) {
	var ts sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT last_message_time FROM chats WHERE jid = ?`, GroupSyncJID).Scan(&ts)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("last group sync: %w", err)
	}
	return ts.String, nil
}

// SetLastGroupSync records a group metadata sync at ts (ISO-8601 UTC) in the sentinel row.
func (s *Store) SetLastGroupSync(ctx context.Context, ts string) error {
	const q = `
INSERT INTO chats (jid, name, last_message_time) VALUES (?1, ?1, ?2)
ON CONFLICT(jid) DO UPDATE SET last_message_time = excluded.last_message_time`
	if _, err := s.w.ExecContext(ctx, q, GroupSyncJID, ts); err != nil {
		return fmt.Errorf("set last group sync: %w", err)
	}
	return nil
}
