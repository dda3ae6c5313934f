package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// EditMessage replaces the text of message id in chatJID ("" for whichever chat holds it: a
// routed copy's ID names its origin, not its chat) with content, when sender sent it
// and it was not deleted: a network's edit changes what later prompts show, and never
// makes the message pending again (its timestamp and route verdict stay). found is false
// when no such message is stored (an edit of a message from before the chat was seen, or
// by someone who did not send it): nothing changes then.
func (s *Store) EditMessage(ctx context.Context, chatJID, id, sender, content, at string) (found bool, err error) {
	const q = `UPDATE messages SET content = ?, edited_at = ?
WHERE id = ? AND (? = '' OR chat_jid = ?) AND sender = ? AND deleted_at IS NULL`
	res, err := s.w.ExecContext(ctx, q, content, nullIfEmpty(at), id, chatJID, chatJID, sender)
	if err != nil {
		return false, fmt.Errorf("edit message %q in %q: %w", id, chatJID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("edit message %q in %q: %w", id, chatJID, err)
	}
	return n > 0, nil
}

// DeleteMessage marks message id in chatJID ("" for whichever chat holds it, as for
// EditMessage) deleted ("delete for everyone"): its text and attachments are emptied and it
// is never pending or shown to an agent again; replies that quoted it lose the quoted text
// too. sender, when not "", must be who sent it. It returns the message as it was (its
// attachments name the files to remove, its HandledAs where a route plugin sent it); found
// is false when no such message is stored.
func (s *Store) DeleteMessage(ctx context.Context, chatJID, id, sender, at string) (old Message, found bool, err error) {
	const sel = `SELECT chat_jid, handled_as, attachments FROM messages
WHERE id = ? AND (? = '' OR chat_jid = ?) AND (? = '' OR sender = ?) AND deleted_at IS NULL`
	const del = `UPDATE messages SET content = '', attachments = NULL, deleted_at = ?
WHERE id = ? AND (? = '' OR chat_jid = ?) AND (? = '' OR sender = ?) AND deleted_at IS NULL`
	const quotes = `UPDATE messages SET reply_to_message_content = NULL
WHERE (? = '' OR chat_jid = ?) AND reply_to_message_id = ?`
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		var chat, handled, attachments sql.NullString
		err := tx.QueryRowContext(ctx, sel, id, chatJID, chatJID, sender, sender).Scan(&chat, &handled, &attachments)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		old = Message{ID: id, ChatJID: chat.String, HandledAs: handled.String, Attachments: decodeAttachments(attachments.String)}
		if _, err := tx.ExecContext(ctx, del, at, id, chatJID, chatJID, sender, sender); err != nil {
			return err
		}
		found = true
		_, err = tx.ExecContext(ctx, quotes, chatJID, chatJID, id)
		return err
	})
	if err != nil {
		return Message{}, false, fmt.Errorf("delete message %q in %q: %w", id, chatJID, err)
	}
	return old, found, nil
}
