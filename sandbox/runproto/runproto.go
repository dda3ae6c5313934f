// Package runproto is the contract between the host and the agent runner inside a
// container: the run request on stdin and the marker-delimited results on stdout (NanoClaw's
// protocol), and what the two say over the group's agent socket (socket.go). Both sides
// import it, so they cannot drift; it has no dependencies, so the runner binary stays small.
package runproto

// Markers around every result the runner writes on stdout.
const (
	OutputStart = "---NANOCLAW_OUTPUT_START---"
	OutputEnd   = "---NANOCLAW_OUTPUT_END---"
)

// Request is what the runner reads on stdin (NanoClaw's ContainerInput).
type Request struct {
	Prompt          string `json:"prompt"`
	SessionID       string `json:"sessionId,omitempty"`
	GroupFolder     string `json:"groupFolder"`
	ChatJID         string `json:"chatJid"`
	IsMain          bool   `json:"isMain"`
	IsScheduledTask bool   `json:"isScheduledTask,omitempty"`
	AssistantName   string `json:"assistantName,omitempty"`
	Script          string `json:"script,omitempty"` // a scheduled task's pre-check script
	Model           string `json:"model,omitempty"`  // overrides the runner's default model
	// CompactAt is the input tokens past which the conversation is compacted (the host's
	// NANOCLAW_COMPACT_AT); 0 leaves the runner's default.
	CompactAt int64 `json:"compactAt,omitempty"`
	// RunID names this run on the agent socket: the runner opens its input stream with it,
	// so a stream left over from an earlier container of the group is never served.
	RunID string `json:"runId,omitempty"`
}

// Output is one result between the markers (NanoClaw's ContainerOutput).
type Output struct {
	Status       string  `json:"status"` // "success", "error" or "notice"
	Result       *string `json:"result"` // null when there is nothing to send
	NewSessionID string  `json:"newSessionId,omitempty"`
	Error        string  `json:"error,omitempty"`
	// Inputs are the inputs this result answers: PromptInput for the run's prompt, and the
	// ids of the follow-ups taken into the turn. The host counts a message as answered only
	// when a result naming its input has been stored.
	Inputs []int64 `json:"inputs,omitempty"`
	// ErrorKind classifies an error result, so the host knows whether retrying can help
	// and what to tell the chat: one of the Error* values.
	ErrorKind string `json:"errorKind,omitempty"`
	// Notice is one line for the chat that is not an answer (Status "notice"): the
	// conversation could not be resumed and a fresh one began. It answers no input and
	// does not end the turn.
	Notice string `json:"notice,omitempty"`
}

// What kind of failure an error result reports.
// StatusNotice marks an Output that only carries a Notice.
const StatusNotice = "notice"

const (
	// ErrorTransient may pass: the API overloaded or rate-limited, the network, a 5xx.
	// The host retries on its schedule.
	ErrorTransient = "transient"
	// ErrorAuth: the credentials were refused (401/403). Retrying cannot help.
	ErrorAuth = "auth"
	// ErrorBudget: the group's daily token budget is used up until midnight.
	ErrorBudget = "budget"
	// ErrorContext: the conversation is too long for the model even after compaction.
	ErrorContext = "context"
	// ErrorConfig: the request itself is wrong (an unknown model, a bad parameter).
	ErrorConfig = "config"
)
