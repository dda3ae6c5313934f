package runproto

// The agent socket: one Unix socket per group, mounted read-only into that group's
// container, is the only thing an agent can say to the host. It speaks HTTP/1.1:
//
//	POST /v1/messages, /v1/messages/count_tokens   the model API (the credential proxy)
//	POST /ipc                                      one IPC request → IPCResponse
//	GET  /input?run=<RunID>                        the run's input stream: InputFrame lines
//	POST /input/ack                                InputAck: follow-ups taken into a turn
//
// The group is the socket a request arrives on, never a field of the request.

// Where the socket is inside a container.
const (
	SocketDir  = "/run/nanoclaw"
	SocketPath = SocketDir + "/agent.sock"
)

// Paths served on the socket besides the model API.
const (
	PathIPC      = "/ipc"
	PathInput    = "/input"
	PathInputAck = "/input/ack"
)

// MaxIPCBytes caps one IPC request body; a larger one is answered 413 unread.
const MaxIPCBytes = 1 << 20

// IPCResponse answers every IPC request: performed (OK, with Result), or not (Code and
// Error say why). Requests keep NanoClaw's JSON shapes ({"type":"message",...}).
type IPCResponse struct {
	OK     bool   `json:"ok"`
	Result any    `json:"result,omitempty"`
	Code   string `json:"code,omitempty"`  // one of the Code* values when !OK
	Error  string `json:"error,omitempty"` // a sentence for the model: why, and by whom
}

// Why an IPC request was not performed.
const (
	CodeRefused   = "refused"      // the ipc plugin chain said no
	CodeMalformed = "malformed"    // not a strict JSON object of a known shape
	CodeTooLarge  = "too_large"    // over MaxIPCBytes
	CodeRateLimit = "rate_limited" // the group sends too fast; retry later
	CodeFailed    = "failed"       // allowed, but performing it failed
)

// InputFrame is one line of the input stream (newline-delimited JSON).
type InputFrame struct {
	Type string `json:"type"`           // FrameMessage, FrameReady or FrameClose
	ID   int64  `json:"id,omitempty"`   // a follow-up's id within the run (1, 2, ...)
	Text string `json:"text,omitempty"` // a follow-up's prompt text
}

// Input frame types.
const (
	// FrameMessage is a follow-up message for the conversation.
	FrameMessage = "message"
	// FrameReady ends the backlog sent when the stream opens: follow-ups that arrived
	// before it may join the first prompt.
	FrameReady = "ready"
	// FrameClose asks the runner to finish after its current turn.
	FrameClose = "close"
)

// InputAck tells the host which follow-ups the runner has taken into a turn. A follow-up
// never acknowledged when the container ends is given to a later run instead.
type InputAck struct {
	Run string  `json:"run"`
	IDs []int64 `json:"ids"`
}

// PromptInput is the input id of a run's initial prompt; follow-ups count from 1.
const PromptInput int64 = 0

// Results of the IPC requests that return more than "done".

// TaskList answers {"type":"list_tasks"}: every task for the main group, the group's own
// otherwise (NanoClaw's current_tasks.json).
type TaskList struct {
	Tasks []TaskInfo `json:"tasks"`
}

// TaskInfo is one scheduled task as agents see it.
type TaskInfo struct {
	ID            string  `json:"id"`
	GroupFolder   string  `json:"groupFolder"`
	Prompt        string  `json:"prompt"`
	Script        string  `json:"script,omitempty"`
	ScheduleType  string  `json:"schedule_type"`
	ScheduleValue string  `json:"schedule_value"`
	Status        string  `json:"status"`
	NextRun       *string `json:"next_run"`
}

// TaskScheduled answers {"type":"schedule_task"}: the id the host gave the task.
type TaskScheduled struct {
	TaskID  string `json:"taskId"`
	NextRun string `json:"nextRun"`
}

// GroupList answers {"type":"available_groups"} (main only): the chats the main group may
// register (NanoClaw's available_groups.json).
type GroupList struct {
	Groups   []AvailableGroup `json:"groups"`
	LastSync string           `json:"lastSync"`
}

// AvailableGroup is one chat in a GroupList.
type AvailableGroup struct {
	JID          string `json:"jid"`
	Name         string `json:"name"`
	LastActivity string `json:"lastActivity"`
	IsRegistered bool   `json:"isRegistered"`
}
