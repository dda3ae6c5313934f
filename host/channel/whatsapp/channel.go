// Package whatsapp is the WhatsApp channel: go.mau.fi/whatsmeow behind the host's channel
// interface. Its session lives in store/whatsapp.db (its own SQLite file, never mounted
// into a container). The adapter is thin: receive.go turns whatsmeow events into stored
// messages, send.go sends (name prefix, splitting, an outbox while disconnected, a rate
// limit, typing), events.go follows the connection. Tests drive it through whatsmeow's own
// event dispatch and a fake Client for the send side.
package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

// Name is the channel's registered name.
const Name = "whatsapp"

// StoreFile is whatsmeow's database under store/.
const StoreFile = "whatsapp.db"

// Client is the part of *whatsmeow.Client the channel uses: the seam tests fake, since an
// unpaired client refuses to send.
type Client interface {
	SendMessage(ctx context.Context, to types.JID, m *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error)
	SendChatPresence(ctx context.Context, jid types.JID, state types.ChatPresence, media types.ChatPresenceMedia) error
	GetJoinedGroups(ctx context.Context) ([]*types.GroupInfo, error)
	SendPresence(ctx context.Context, state types.Presence) error
	MarkRead(ctx context.Context, ids []types.MessageID, ts time.Time, chat, sender types.JID, extra ...types.ReceiptType) error
	// Download fetches and decrypts a message's media.
	Download(ctx context.Context, msg whatsmeow.DownloadableMessage) ([]byte, error)
	AddEventHandler(h whatsmeow.EventHandler) uint32
	Connect() error
	Disconnect()
	IsConnected() bool
	IsLoggedIn() bool
}

// Identity is what the channel asks the WhatsApp store about accounts.
type Identity interface {
	// Own returns the account's phone JID and LID (either may be empty before pairing).
	Own() (pn, lid types.JID)
	// PNForLID maps a LID to its phone-number JID when the store knows it.
	PNForLID(ctx context.Context, lid types.JID) (types.JID, bool)
}

// Options configure a Channel.
type Options struct {
	Sink          channel.Sink
	Log           hclog.Logger
	AssistantName string
	HasOwnNumber  bool // a dedicated number: no "Name: " prefix, own messages are the bot's
	// MinSendInterval spaces outbound messages to protect the account (default 1 s).
	MinSendInterval time.Duration
	// GroupSyncEvery is how often group names are refreshed (default 24 h).
	GroupSyncEvery time.Duration
	Now            func() time.Time
	// Directory names people for mentions and quotes (nil: only names seen on messages).
	Directory Directory
	// Presence is when the account shows as online: PresenceOnline or PresenceWorking;
	// "" picks online with a dedicated number, working on a shared one (see EnvPresence).
	Presence string
	// Store, when set, is closed once the channel has stopped (Disconnect after Connect):
	// the whatsmeow database a factory opened for this channel alone.
	Store io.Closer
}

// Channel is the WhatsApp channel.
type Channel struct {
	opts   Options
	log    hclog.Logger
	client Client
	ident  Identity

	mu        sync.Mutex
	outbox    []outMsg // messages waiting for a connection, in order
	sentIDs   map[types.MessageID]bool
	lastSend  time.Time
	lastSync  time.Time
	connected bool
	closed    bool
	fatal     chan error // logged out or replaced: the host must stop the channel loudly
	conn      connState  // what State reports

	seen       map[types.MessageID]seenAddr // received messages' addresses, for receipts
	seenOrder  []types.MessageID            // seen's keys, oldest first
	unread     []receipt                    // receipts asked for while disconnected
	typingIn   map[types.JID]bool           // chats the assistant types in (working presence)
	offlineDue bool                         // a reply ended the last typing: go offline

	people *people // who writes where, for mentions and quoted senders' names

	wake      chan struct{} // the sender goroutine's doorbell
	readWake  chan struct{} // the receipt goroutine's doorbell
	storeOnce sync.Once     // closes opts.Store once
	stop      chan struct{}
	done      chan struct{}
}

// outMsg is one queued outbound message.
type outMsg struct {
	jid   types.JID
	text  string
	quote *channel.Quote // the message this one answers, quoted; nil for none
}

// New wires a channel over a client and identity; tests pass fakes.
func New(opts Options, client Client, ident Identity) *Channel {
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinSendInterval == 0 {
		opts.MinSendInterval = time.Second
	}
	if opts.GroupSyncEvery == 0 {
		opts.GroupSyncEvery = 24 * time.Hour
	}
	c := &Channel{opts: opts, log: opts.Log, client: client, ident: ident,
		sentIDs: map[types.MessageID]bool{}, fatal: make(chan error, 1),
		wake: make(chan struct{}, 1), readWake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		people: newPeople(opts.Directory)}
	client.AddEventHandler(c.handleEvent)
	return c
}

// Name implements channel.Channel.
func (c *Channel) Name() string { return Name }

// OwnsJID is true for WhatsApp's user, group and LID servers.
func (c *Channel) OwnsJID(jid string) bool {
	return strings.HasSuffix(jid, "@"+types.GroupServer) || strings.HasSuffix(jid, "@"+types.DefaultUserServer) ||
		strings.HasSuffix(jid, "@"+types.HiddenUserServer)
}

// Fatal reports the reason the channel stopped for good (logged out, replaced by another
// session); the host stops with that message.
func (c *Channel) Fatal() <-chan error { return c.fatal }

// ErrNotPaired is returned when no WhatsApp session exists: run `nanoclaw auth`.
var ErrNotPaired = errors.New("no WhatsApp session: pair this host with `nanoclaw auth`")

// OpenStore opens whatsmeow's database at store/whatsapp.db (modernc sqlite, WAL, foreign
// keys) and returns its first device, which is unsaved and has no ID when not yet paired.
func OpenStore(ctx context.Context, storeDir string, log waLog.Logger) (*sqlstore.Container, error) {
	if log == nil {
		log = waLog.Noop
	}
	dsn := "file:" + filepath.Join(storeDir, StoreFile) + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	c, err := sqlstore.New(ctx, "sqlite", dsn, log)
	if err != nil {
		return nil, fmt.Errorf("whatsapp store: %w", err)
	}
	return c, nil
}
