// Package channel is the seam between chat networks and the host: a Channel connects to a
// network, sends and shows typing; inbound traffic goes to the host's Sink. Channels are
// registered by name, so a new network is one package and one Register call.
package channel

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// ChatMeta says a chat was seen: every chat a channel sees is recorded, registered or not,
// so the main agent can list groups it may register.
type ChatMeta struct {
	JID     string
	Name    string // "" keeps the stored name
	Channel string // the channel's Name()
	IsGroup bool
	Time    time.Time
}

// Sink is where channels deliver inbound traffic; the host implements it.
type Sink interface {
	// OnChatMetadata records a chat. A channel calls it before OnMessage for the same chat.
	OnChatMetadata(ctx context.Context, meta ChatMeta) error
	// OnMessage hands over one inbound message. When it returns nil the message is stored
	// durably, so a channel may acknowledge it to its network.
	OnMessage(ctx context.Context, msg store.Message) error
}

// Channel is one chat network.
type Channel interface {
	// Name is the channel's registered name ("whatsapp", "local").
	Name() string
	// Connect starts the channel; inbound traffic flows to the Sink from then on.
	Connect(ctx context.Context) error
	// Send delivers text to a chat. The channel adds any network-specific framing (a name
	// prefix, splitting beyond MaxMessageLen is the caller's job).
	Send(ctx context.Context, jid, text string) error
	// SetTyping shows or hides the assistant's typing indicator in a chat.
	SetTyping(ctx context.Context, jid string, on bool) error
	// OwnsJID reports whether jid belongs to this channel; outbound goes to the first owner.
	OwnsJID(jid string) bool
	// MaxMessageLen is the longest text one Send should carry; the host splits longer replies
	// on paragraph boundaries. 0 means no limit.
	MaxMessageLen() int
	// Disconnect stops the channel.
	Disconnect(ctx context.Context) error
}

// GroupSyncer is a channel that can refresh group names from its network (refresh_groups).
type GroupSyncer interface {
	SyncGroups(ctx context.Context, force bool) error
}

// Reader is a channel that can tell its network the assistant has read messages (read
// receipts: WhatsApp's blue ticks). The host calls it when a group's pending messages are
// taken into an agent's run, not when they arrive, so the ticks mean "the assistant is on
// it". Optional: a channel without receipts (the local chat) simply does not implement it.
type Reader interface {
	// MarkRead marks msgs, all from chatJID, as read. It is best effort and must not block
	// on the network for long: the run does not wait for receipts.
	MarkRead(ctx context.Context, chatJID string, msgs []store.Message) error
}

// EditSink is the part of the host that takes changes to messages already delivered: an
// edit replaces a stored message's text, a revoke ("delete for everyone") removes it from
// what later prompts include. Neither starts a run. Optional: a channel whose Sink does not
// implement it drops edits and revokes rather than storing them as new messages.
type EditSink interface {
	// OnMessageEdit replaces the text of message id in chatJID, when sender sent it.
	OnMessageEdit(ctx context.Context, chatJID, id, sender, content string) error
	// OnMessageRevoke marks message id in chatJID deleted. sender is who sent it ("" when
	// the revoke does not say, as a sender's own revoke); a channel checks who may revoke.
	OnMessageRevoke(ctx context.Context, chatJID, id, sender string) error
}

// State is how a channel's connection is, as `nanoclaw status` shows it.
type State string

// Channel states. A channel that cannot say is StateConnected once Connect succeeded.
const (
	StateConnected     State = "connected"
	StateConnecting    State = "connecting"
	StateReconnecting  State = "reconnecting"
	StatePairingNeeded State = "pairing needed" // no session (or logged out): `nanoclaw auth`
	StateNotConnected  State = "not connected"  // Connect failed; the host runs without it
	StateDisconnected  State = "disconnected"
)

// StateReporter is a channel that knows more about its connection than "it connected" (a
// network that drops and reconnects, a session the phone logged out). Optional.
type StateReporter interface {
	State() State
}

// Options is what a Factory gets to build its channel.
type Options struct {
	Sink          Sink
	Log           hclog.Logger
	DataDir       string // data/: runtime state such as sockets
	StoreDir      string // store/: credentials, never mounted into a container
	AssistantName string
	HasOwnNumber  bool
	Getenv        func(string) string
	// RegisteredGroup looks a chat up among the registered groups, live (a group added
	// while the host runs is seen at once), so a channel can refuse at once a chat nobody
	// would answer. nil means the channel cannot tell and accepts every chat.
	RegisteredGroup func(jid string) (store.Group, bool)
}

// Factory builds a channel. It returns (nil, nil) when the channel is not configured (no
// credentials, say): the host skips it with a log line.
type Factory func(Options) (Channel, error)

// Media is a file that came with an inbound message (a photo, a voice note, a document).
// The channel describes it and knows how to fetch it; the host decides whether it is
// wanted (the chat is registered, the caps allow it) before anything is downloaded.
type Media struct {
	// Kind is "image", "sticker", "document", "audio", "voice" or "video".
	Kind     string
	MIME     string // as the sender declared it; may be wrong or empty
	FileName string // a document's name as the sender gave it; "" otherwise
	// Size is the length the sender announced, 0 when unknown: a file announced over a
	// cap is never fetched.
	Size          int64
	Seconds       int // a voice note's, audio's or video's length, as announced
	Width, Height int // an image's or video's size, as announced
	// Fetch downloads the file. It may return ErrMediaTooLarge once more than limit bytes
	// arrive; any other error is a failed download.
	Fetch func(ctx context.Context, limit int64) ([]byte, error)
}

// ErrMediaTooLarge is a fetch that passed the host's per-file cap.
var ErrMediaTooLarge = errors.New("file larger than the limit")

// MediaSink is a Sink that takes files with messages; the host implements it. A channel
// hands a message with media to OnMediaMessage when its Sink is one, else to OnMessage
// (the text and placeholders only).
type MediaSink interface {
	Sink
	// OnMediaMessage is OnMessage for a message that came with files: the host fetches and
	// stores those it wants, and the stored message names them.
	OnMediaMessage(ctx context.Context, msg store.Message, media []Media) error
}
