package store

import (
	"context"
	"fmt"
)

// Message returns the message id of chatJID, for a reply that quotes it; ok is false when
// it is not stored.
func (s *Store) Message(ctx context.Context, chatJID, id string) (Message, bool, error) {
	msgs, err := s.queryMessages(ctx, `SELECT `+messageColumns+`, rowid AS rid FROM messages WHERE chat_jid = ? AND id = ? LIMIT 1`, chatJID, id)
	if err != nil {
		return Message{}, false, fmt.Errorf("message %q in %q: %w", id, chatJID, err)
	}
	if len(msgs) == 0 {
		return Message{}, false, nil
	}
	return msgs[0], true, nil
}

// optBool stores an optional flag: NULL for nil (the default), else 0 or 1.
func optBool(b *bool) any {
	if b == nil {
		return nil
	}
	return boolInt(*b)
}
