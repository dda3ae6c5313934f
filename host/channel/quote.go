package channel

import "context"

// Quote is the message a reply answers, for a channel that shows a reply quoting it.
type Quote struct {
	ID     string // the message's ID on its network
	Sender string // who sent it (a JID on WhatsApp); "" when unknown
	Text   string // its text, shown inside the quote
	FromMe bool   // sent from the account itself
}

// Quoter is a channel that can send a reply quoting the message it answers (WhatsApp's
// "reply"). The host uses it for the first part of a reply when the group quotes; other
// channels get Send.
type Quoter interface {
	SendQuoting(ctx context.Context, jid, text string, q Quote) error
}
