package store

import "encoding/json"

// Message is one chat message (table messages). Timestamp is an ISO-8601 UTC string, as in
// NanoClaw, so that cursors compare lexically.
type Message struct {
	ID                    string
	ChatJID               string
	Sender                string
	SenderName            string
	Content               string
	Timestamp             string
	IsFromMe              bool
	IsBotMessage          bool
	ReplyToMessageID      string // "" when the message is not a reply
	ReplyToMessageContent string
	ReplyToSenderName     string
	// HandledAs says the host dealt with the message itself ("routed:<folder>",
	// "command:new"): it is kept in the chat's history but never pending for its agent.
	HandledAs string
	// RouteAction is the route verdict when it arrived: "deliver" (it asks for the agent)
	// or "store" (context); "" for messages stored before verdicts were kept.
	RouteAction string
	// Attachments are the files that came with the message (a photo, a voice note), kept in
	// the group's folder; the prompt names them so the agent can see or open them.
	Attachments []Attachment
}

// Attachment is one file that came with a message. The file itself lives in the folder of
// the group that received it (Path, relative to that folder); the database keeps only this
// description, so a prompt can name the file and say what became of it.
type Attachment struct {
	// Kind is what the sender sent: "image", "sticker", "document", "audio", "voice" or
	// "video".
	Kind string `json:"kind"`
	// Path is the file inside the group's folder ("media/20240102-M1.jpg"), slash-separated;
	// "" when it was not stored (Skipped says why).
	Path     string `json:"path,omitempty"`
	MIME     string `json:"mime,omitempty"`
	FileName string `json:"fileName,omitempty"` // the sender's name for a document
	Size     int64  `json:"size,omitempty"`     // bytes stored, or announced when skipped
	Seconds  int    `json:"seconds,omitempty"`  // a voice note's, audio's or video's length
	Width    int    `json:"width,omitempty"`
	Height   int    `json:"height,omitempty"`
	// Skipped says, for the agent, why the file is not there: over a size cap, a failed
	// download.
	Skipped string `json:"skipped,omitempty"`
}

// Chat is chat metadata (table chats): every chat any channel has seen, registered or not.
type Chat struct {
	JID             string
	Name            string
	LastMessageTime string
	Channel         string
	IsGroup         bool
}

// AvailableGroup is a group chat as the main agent sees it in available_groups.json.
type AvailableGroup struct {
	JID          string `json:"jid"`
	Name         string `json:"name"`
	LastActivity string `json:"lastActivity"`
	IsRegistered bool   `json:"isRegistered"`
}

// Group is a registered group (table registered_groups).
type Group struct {
	JID             string
	Name            string
	Folder          string
	Trigger         string // trigger_pattern, e.g. "@Andy"
	AddedAt         string
	ContainerConfig json.RawMessage // NanoClaw's containerConfig JSON; nil when none
	RequiresTrigger bool
	IsMain          bool
	// QuoteReplies says whether the assistant's replies quote the message they answer, on
	// channels that can; nil is the default: on in group chats, off in direct chats.
	QuoteReplies *bool
}

// Task statuses.
const (
	TaskActive    = "active"
	TaskPaused    = "paused"
	TaskCompleted = "completed"
)

// Task is a scheduled task (table scheduled_tasks). NextRun "" means NULL: nothing due.
type Task struct {
	ID            string
	GroupFolder   string
	ChatJID       string
	Prompt        string
	ScheduleType  string // cron, interval, once
	ScheduleValue string
	NextRun       string
	LastRun       string
	LastResult    string
	Status        string
	CreatedAt     string
	ContextMode   string // group or isolated
	Script        string
}

// TaskRunLog is one finished run of a task (table task_run_logs).
type TaskRunLog struct {
	TaskID     string
	RunAt      string
	DurationMS int64
	Status     string // success or error
	Result     string
	Error      string
}
