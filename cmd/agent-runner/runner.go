package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/anthropics/anthropic-sdk-go/tools/agenttoolset"

	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// runRequest is the run request on stdin (sandbox/runproto).
type runRequest = runproto.Request

const scheduledPrefix = "[SCHEDULED TASK - The following message was sent automatically and is not coming directly from the user or group.]\n\n"

// run is the whole program: it returns the process exit code.
func run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	logger := log.New(stderr, "[agent-runner] ", 0)
	logf := logger.Printf
	out := &outputWriter{w: stdout}

	fail := func(err error, sessionID string) int {
		logf("error: %v", err)
		_ = out.failure(err, sessionID)
		return 1
	}

	raw, err := io.ReadAll(stdin)
	if err != nil {
		return fail(fmt.Errorf("reading stdin: %w", err), "")
	}
	var req runRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return fail(fmt.Errorf("Failed to parse input: %w", err), "")
	}
	logf("received input for group: %s", req.GroupFolder)

	cfg, err := loadConfig(getenv)
	if err != nil {
		return fail(err, "")
	}
	if req.Model != "" {
		cfg.model = req.Model
	}
	if req.CompactAt > 0 {
		cfg.compactAt = max(req.CompactAt, minCompactAt)
	}

	host := newHostConn(cfg.socket, logf)
	var input *inputStream
	if req.RunID != "" {
		input = openInput(ctx, host, req.RunID)
		select {
		case <-input.ready:
		case <-ctx.Done():
		case <-time.After(readyTimeout):
			logf("the input stream did not open within %v; going on without its backlog", readyTimeout)
		}
	} else {
		logf("no run id: one turn, no follow-ups")
	}

	// Files named in the prompt (photos, PDFs) are read here, in the container, and given to
	// the model after the element that names them (attachments.go); the session file keeps
	// them by reference (mediarefs.go).
	att := attachmentReader{groupDir: cfg.groupDir, logf: logf, shown: map[string]fileRef{}}

	// Session: resume by id, or start fresh with a new id.
	store := sessionStore{dir: cfg.sessionsDir}
	var history []anthropic.BetaMessageParam
	sessionID := ""
	if req.SessionID != "" {
		msgs, err := store.load(req.SessionID)
		if err != nil {
			logf("cannot resume session %s (%v); starting a fresh session", req.SessionID, err)
			_ = out.notice(unloadableSession(store, req.SessionID, logf))
		} else {
			sessionID, history = req.SessionID, att.expandRefs(msgs)
			logf("resuming session %s (%d messages)", sessionID, len(history))
		}
	}
	if sessionID == "" {
		sessionID = newSessionID()
		logf("new session %s", sessionID)
	}

	prompt := req.Prompt
	if req.IsScheduledTask {
		prompt = scheduledPrefix + prompt
	}
	// The prompt answers input 0; follow-ups that came while the container started join it.
	inputs := []int64{runproto.PromptInput}
	lastTurn := input == nil
	if input != nil {
		early, closed := input.pending()
		lastTurn = closed
		if len(early) > 0 && !closed {
			if err := host.ack(ctx, req.RunID, frameIDs(early)); err != nil {
				logf("cannot acknowledge early follow-ups (%v); they wait for a later run", err)
				lastTurn = true
			} else {
				logf("folding %d follow-ups that arrived during start into the first prompt", len(early))
				prompt += "\n" + frameTexts(early)
				inputs = append(inputs, frameIDs(early)...)
			}
		}
	}

	if req.IsScheduledTask && req.Script != "" {
		wake, data, err := runScript(ctx, cfg, req.Script, logf)
		if err != nil || !wake {
			if err != nil {
				logf("script: %v; not waking agent", err)
			} else {
				logf("script: wakeAgent=false; not waking agent")
			}
			_ = out.success("", req.SessionID, inputs)
			return 0
		}
		pretty, _ := json.MarshalIndent(data, "", "  ")
		prompt = "[SCHEDULED TASK]\n\nScript output:\n" + string(pretty) + "\n\nInstructions:\n" + req.Prompt
	}

	ag, err := newAgent(cfg, req, host, logf)
	if err != nil {
		return fail(err, sessionID)
	}
	defer ag.close()

	// The session on disk only ever holds finished turns: a turn that fails (an outage,
	// a kill) leaves it as it was, so the retry adds its user turn once, not again.
	persisted := ""
	if len(history) > 0 {
		persisted = sessionID
	}
	msgs := appendUserBlocks(history, att.userBlocks(prompt))
	for turn := 1; ; turn++ {
		logf("turn %d: %d messages in history", turn, len(msgs))
		var text string
		msgs, text, err = ag.turn(ctx, msgs)
		if err != nil {
			return fail(err, persisted)
		}
		if serr := store.save(sessionID, att.withRefs(msgs)); serr != nil {
			logf("saving session %s: %v", sessionID, serr)
		} else {
			persisted = sessionID
		}
		if werr := out.success(text, persisted, inputs); werr != nil {
			logf("writing output: %v", werr)
			return 1
		}
		if lastTurn {
			return 0
		}
		next, closed := input.wait(ctx)
		if closed {
			// Follow-ups that came with the close are not acknowledged: the host gives
			// them to a later run.
			logf("close requested; exiting after turn %d", turn)
			return 0
		}
		if err := host.ack(ctx, req.RunID, frameIDs(next)); err != nil {
			logf("cannot acknowledge follow-ups (%v); leaving them to a later run", err)
			return 0
		}
		inputs = frameIDs(next)
		followUp := frameTexts(next)
		logf("follow-up received: %d messages, %d chars", len(next), len(followUp))
		msgs = appendUserBlocks(msgs, att.userBlocks(followUp))
	}
}

// readyTimeout bounds the wait for the input stream's backlog before the first turn.
const readyTimeout = 10 * time.Second

func frameIDs(fs []runproto.InputFrame) []int64 {
	ids := make([]int64, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	return ids
}

// frameTexts joins follow-ups by newlines, as NanoClaw joined its input files.
func frameTexts(fs []runproto.InputFrame) string {
	texts := make([]string, len(fs))
	for i, f := range fs {
		texts[i] = f.Text
	}
	return strings.Join(texts, "\n")
}

// appendUserText adds a user turn. If the history ends in an assistant turn with tool calls
// that were never answered (max_tokens, iteration limit, interruption), they get error
// results first so the conversation stays valid; if it ends in a user turn, the text joins it.
func appendUserText(msgs []anthropic.BetaMessageParam, text string) []anthropic.BetaMessageParam {
	return appendUserBlocks(msgs, []anthropic.BetaContentBlockParamUnion{anthropic.NewBetaTextBlock(text)})
}

// appendUserBlocks is appendUserText for a turn of several blocks (text with the images and
// documents it names).
func appendUserBlocks(msgs []anthropic.BetaMessageParam, content []anthropic.BetaContentBlockParamUnion) []anthropic.BetaMessageParam {
	msgs = append([]anthropic.BetaMessageParam(nil), msgs...)
	var blocks []anthropic.BetaContentBlockParamUnion
	if n := len(msgs); n > 0 && msgs[n-1].Role == anthropic.BetaMessageParamRoleAssistant {
		for _, b := range msgs[n-1].Content {
			if b.OfToolUse != nil {
				blocks = append(blocks, anthropic.BetaContentBlockParamUnion{OfToolResult: &anthropic.BetaToolResultBlockParam{
					ToolUseID: b.OfToolUse.ID,
					IsError:   anthropic.Bool(true),
					Content:   []anthropic.BetaToolResultBlockParamContentUnion{textBlock("Not run: the turn ended before this tool call was executed.")},
				}})
			}
		}
	}
	blocks = append(blocks, content...)
	if n := len(msgs); n > 0 && msgs[n-1].Role == anthropic.BetaMessageParamRoleUser {
		last := msgs[n-1]
		last.Content = append(append([]anthropic.BetaContentBlockParamUnion(nil), last.Content...), blocks...)
		msgs[n-1] = last
		return msgs
	}
	return append(msgs, anthropic.NewBetaUserMessage(blocks...))
}

// agent holds what lives across turns: the client, the tools (the bash session persists)
// and the request settings.
type agent struct {
	client      anthropic.Client
	tools       []anthropic.BetaTool
	serverTools []anthropic.BetaToolUnionParam
	system      []anthropic.BetaTextBlockParam
	model       string
	maxTokens   int64
	maxIter     int
	logf        func(string, ...any)

	// Keeping the conversation within the model's context (turn.go).
	compactAt   int64 // NANOCLAW_COMPACT_AT
	serverEdits bool  // the API's context management is asked for; off once refused
	gauge       contextGauge
	overhead    int64 // estimated tokens of tools and system prompt
}

func newAgent(cfg config, req runRequest, host *hostConn, logf func(string, ...any)) (*agent, error) {
	allowed, readOnly := cfg.roots(req.IsMain)
	env := &agenttoolset.AgentToolContext{
		Workdir:       cfg.groupDir,
		AllowedRoots:  allowed,
		ReadOnlyRoots: readOnly,
		// Env stays nil: the shell inherits the container env minus ANTHROPIC_*.
	}
	tools := agenttoolset.BetaAgentToolset20260401(env)
	for i, t := range tools {
		if t.Name() == "bash" {
			tools[i] = &primedBash{BetaTool: t, logf: logf}
		}
	}
	ipc, err := ipcTools(&ipcContext{
		host:        host,
		chatJID:     req.ChatJID,
		groupFolder: req.GroupFolder,
		isMain:      req.IsMain,
		loc:         time.Local,
		now:         time.Now,
	})
	if err != nil {
		agenttoolset.CloseAll(tools)
		return nil, fmt.Errorf("building IPC tools: %w", err)
	}
	tools = append(tools, ipc...)

	a := &agent{
		client:    newClient(cfg, host),
		tools:     tools,
		system:    systemPrompt(cfg, req),
		model:     cfg.model,
		maxTokens: cfg.maxTokens,
		maxIter:   cfg.maxIterations,
		logf:      logf,

		compactAt:   cfg.compactAt,
		serverEdits: true,
	}
	if cfg.webTools {
		a.serverTools = []anthropic.BetaToolUnionParam{
			{OfWebSearchTool20250305: &anthropic.BetaWebSearchTool20250305Param{}},
			{OfWebFetchTool20250910: &anthropic.BetaWebFetchTool20250910Param{}},
		}
	}
	a.overhead = requestOverhead(a.tools, a.serverTools, a.system)
	logf("model %s, workdir %s, allowed roots %v, read-only roots %v, web tools %v", a.model, cfg.groupDir, allowed, readOnly, cfg.webTools)
	return a, nil
}

func (a *agent) close() { agenttoolset.CloseAll(a.tools) }

// newClient talks to the model API only through the agent socket. The host's credential
// proxy replaces the placeholder key with the real credentials.
func newClient(cfg config, host *hostConn) anthropic.Client {
	return anthropic.NewClient(
		option.WithHTTPClient(host.http),
		option.WithBaseURL("http://proxy"),
		option.WithAPIKey("placeholder"),
		option.WithMaxRetries(cfg.maxRetries),
	)
}

func systemPrompt(cfg config, req runRequest) []anthropic.BetaTextBlockParam {
	name := req.AssistantName
	if name == "" {
		name = "Andy"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "You are %s, a personal assistant. You run inside NanoClaw for the chat group %q.\n", name, req.GroupFolder)
	sb.WriteString("Your final reply in each turn is sent to the chat. Use the send_message tool for progress updates or extra messages while you work. ")
	sb.WriteString("Wrap anything that must not be sent (reasoning, notes) in <internal>...</internal>.\n")
	fmt.Fprintf(&sb, "Your working directory is %s; files there persist between runs. Keep this group's memory in CLAUDE.md there.\n", cfg.groupDir)
	// The date only: the system prompt heads every request's cached prefix, so anything
	// that changes within a day would make each container start miss the cache. Messages
	// carry their own times.
	fmt.Fprintf(&sb, "Today is %s.\n", time.Now().Format("Monday 2006-01-02 (MST)"))
	// The group's memory and the global memory, once each and labelled with who may change
	// them (memoryprompt.go).
	sb.WriteString(memoryPrompt(filepath.Join(cfg.groupDir, "CLAUDE.md"), filepath.Join(cfg.globalDir, "CLAUDE.md"), req.IsMain, readMemoryFile))
	// A breakpoint of its own: tools and system prompt stay cached across conversations.
	return []anthropic.BetaTextBlockParam{{Text: sb.String(), CacheControl: anthropic.NewBetaCacheControlEphemeralParam()}}
}

// maxMemoryBytes bounds a memory file read into the system prompt.
const maxMemoryBytes = 256 << 10

// readMemoryFile reads a memory file the agent (or another group's agent, for the global
// one) may have made anything: a FIFO would block a plain read until the container's
// timeout, so the file is opened without blocking and read only if it is regular, up to
// maxMemoryBytes.
func readMemoryFile(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	return io.ReadAll(io.LimitReader(f, maxMemoryBytes))
}

// unloadableSession archives a session that could not be resumed and says so in one line
// for the chat: the user would otherwise wonder why the assistant forgot everything.
func unloadableSession(store sessionStore, id string, logf func(string, ...any)) string {
	archived, err := store.archive(id, time.Now())
	switch {
	case err != nil:
		logf("%v", err)
	case archived != "":
		logf("session %s archived as %s", id, archived)
		return "I couldn't load our previous conversation, so this is a fresh start (the old one is kept as " + archived + ")."
	}
	return "I couldn't load our previous conversation, so this is a fresh start."
}

// primedBash sends "set +H" to each new bash session before the model's first command: with
// history expansion on, a "!" in double quotes hangs the SDK's PTY shell until its timeout.
type primedBash struct {
	anthropic.BetaTool
	logf   func(string, ...any)
	mu     sync.Mutex
	primed bool
}

func (p *primedBash) Close() error {
	if c, ok := p.BetaTool.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (p *primedBash) Execute(ctx context.Context, raw json.RawMessage) ([]anthropic.BetaToolResultBlockParamContentUnion, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var in map[string]any
	if err := json.Unmarshal(raw, &in); err == nil {
		if restart, _ := in["restart"].(bool); restart {
			res, err := p.BetaTool.Execute(ctx, json.RawMessage(`{"restart":true}`))
			p.primed = false
			if cmd, _ := in["command"].(string); cmd == "" {
				return res, err
			}
			delete(in, "restart")
			raw, _ = json.Marshal(in)
		}
	}
	if !p.primed {
		if _, err := p.BetaTool.Execute(ctx, json.RawMessage(`{"command":"set +H"}`)); err != nil {
			p.logf("bash: priming session: %v", err)
		} else {
			p.primed = true
		}
	}
	res, err := p.BetaTool.Execute(ctx, raw)
	if err != nil && !strings.Contains(err.Error(), "\nexit code: ") {
		p.primed = false // the tool restarts its session after any other failure
	}
	return res, err
}

// runScript is the script phase of a scheduled task (nanoclaw-v1 §7.2 step 3): bash runs the
// script with a 30 s timeout; its last non-empty stdout line must be {"wakeAgent": bool, "data"?}.
func runScript(ctx context.Context, cfg config, script string, logf func(string, ...any)) (bool, any, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cfg.bash, "-c", script)
	cmd.Dir = cfg.groupDir
	var so limitedBuffer
	so.max = 1 << 20
	var se limitedBuffer
	se.max = 64 << 10
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	if se.Len() > 0 {
		logf("script stderr: %s", strings.TrimSpace(se.String()))
	}
	if err != nil {
		return false, nil, fmt.Errorf("script failed: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(so.String()), "\n")
	lastLine := strings.TrimSpace(lines[len(lines)-1])
	if lastLine == "" {
		return false, nil, errors.New("script produced no output")
	}
	var res struct {
		WakeAgent *bool `json:"wakeAgent"`
		Data      any   `json:"data"`
	}
	if err := json.Unmarshal([]byte(lastLine), &res); err != nil || res.WakeAgent == nil {
		return false, nil, fmt.Errorf("script output is not {\"wakeAgent\": bool}: %q", lastLine)
	}
	return *res.WakeAgent, res.Data, nil
}

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
