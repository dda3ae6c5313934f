package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/toolrunner"

	"github.com/nanoclaw/nanoclaw-go/plugins/schedule"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// ipcContext is what NanoClaw's MCP server got through NANOCLAW_CHAT_JID,
// NANOCLAW_GROUP_FOLDER and NANOCLAW_IS_MAIN. The host never trusts isMain or groupFolder
// from a request: identity is the agent socket it arrives on. They are still sent, in
// NanoClaw's request shapes, so that policies and logs read the same as ever.
type ipcContext struct {
	host        ipcHost
	chatJID     string
	groupFolder string
	isMain      bool
	loc         *time.Location // zone used to validate "once" timestamps
	now         func() time.Time
}

// ipcHost sends one IPC request and returns the host's result; the agent socket is one.
type ipcHost interface {
	ipc(ctx context.Context, req map[string]any) (json.RawMessage, error)
}

func (c *ipcContext) timestamp() string { return c.now().UTC().Format("2006-01-02T15:04:05.000Z") }

// request sends data and turns a refusal into the tool error the model sees.
func (c *ipcContext) request(ctx context.Context, data map[string]any) (json.RawMessage, error) {
	res, err := c.host.ipc(ctx, data)
	if err != nil {
		var refused errRefused
		if errors.As(err, &refused) {
			return nil, fmt.Errorf("the host did not do it: %s", refused.Error())
		}
		return nil, err
	}
	return res, nil
}

func textBlock(s string) anthropic.BetaToolResultBlockParamContentUnion {
	return anthropic.BetaToolResultBlockParamContentUnion{OfText: &anthropic.BetaTextBlockParam{Text: s}}
}

// toolErr makes the tool runner send an is_error tool_result with this text (prefixed "Error: ").
func toolErr(format string, a ...any) (anthropic.BetaToolResultBlockParamContentUnion, error) {
	return anthropic.BetaToolResultBlockParamContentUnion{}, fmt.Errorf(format, a...)
}

// Tool inputs. Field names and descriptions follow NanoClaw's ipc-mcp-stdio.ts.

type sendMessageInput struct {
	Text   string `json:"text" jsonschema:"required,description=The message text to send"`
	Sender string `json:"sender,omitempty" jsonschema:"description=Your role/identity name (e.g. \"Researcher\"). When set\\, messages appear from a dedicated bot in supported channels."`
}

type scheduleTaskInput struct {
	Prompt         string `json:"prompt" jsonschema:"required,description=What the agent should do when the task runs. For isolated mode\\, include all necessary context here."`
	ScheduleType   string `json:"schedule_type" jsonschema:"required,enum=cron,enum=interval,enum=once,description=cron=recurring at specific times\\, interval=recurring every N ms\\, once=run once at specific time"`
	ScheduleValue  string `json:"schedule_value" jsonschema:"required,description=cron: \"*/5 * * * *\" | interval: milliseconds like \"300000\" | once: local timestamp like \"2026-02-01T15:30:00\" (no Z suffix!)"`
	ContextMode    string `json:"context_mode,omitempty" jsonschema:"enum=group,enum=isolated,default=group,description=group=runs with chat history and memory\\, isolated=fresh session (include context in prompt)"`
	TargetGroupJID string `json:"target_group_jid,omitempty" jsonschema:"description=(Main group only) JID of the group to schedule the task for. Defaults to the current group."`
	Script         string `json:"script,omitempty" jsonschema:"description=Optional bash script to run before waking the agent. Its last output line must be JSON {\"wakeAgent\": boolean\\, \"data\"?: any}. If wakeAgent is false the agent is not called."`
}

type taskIDInput struct {
	TaskID string `json:"task_id" jsonschema:"required,description=The task ID"`
}

type updateTaskInput struct {
	TaskID        string  `json:"task_id" jsonschema:"required,description=The task ID to update"`
	Prompt        *string `json:"prompt,omitempty" jsonschema:"description=New prompt for the task"`
	ScheduleType  *string `json:"schedule_type,omitempty" jsonschema:"enum=cron,enum=interval,enum=once,description=New schedule type"`
	ScheduleValue *string `json:"schedule_value,omitempty" jsonschema:"description=New schedule value (see schedule_task for format)"`
	Script        *string `json:"script,omitempty" jsonschema:"description=New script for the task. Set to empty string to remove the script."`
}

type registerGroupInput struct {
	JID             string `json:"jid" jsonschema:"required,description=The chat JID (e.g. \"120363336345536173@g.us\")"`
	Name            string `json:"name" jsonschema:"required,description=Display name for the group"`
	Folder          string `json:"folder" jsonschema:"required,description=Channel-prefixed folder name (e.g. \"whatsapp_family-chat\"\\, \"telegram_dev-team\")"`
	Trigger         string `json:"trigger" jsonschema:"required,description=Trigger word (e.g. \"@Andy\")"`
	RequiresTrigger *bool  `json:"requiresTrigger,omitempty" jsonschema:"description=Whether messages must start with the trigger word. Default: false (respond to all messages)."`
}

type emptyInput struct{}

type listGroupsInput struct {
	Refresh bool `json:"refresh,omitempty" jsonschema:"description=Ask the chat network for current group names first (slower)."`
}

// validateSchedule applies NanoClaw's pre-checks, using the same parser as the host's
// ipcauthz plugin so that the two never disagree on what is valid.
func (c *ipcContext) validateSchedule(kind, value string) error {
	switch kind {
	case "cron":
		if _, err := schedule.Parse(schedule.Cron, value, c.loc); err != nil {
			return fmt.Errorf("Invalid cron: %q. Use format like \"0 9 * * *\" (daily 9am) or \"*/5 * * * *\" (every 5 min). (%v)", value, err)
		}
	case "interval":
		if sch, err := schedule.Parse(schedule.Interval, value, c.loc); err != nil || sch.Every() < schedule.MinInterval {
			return fmt.Errorf("Invalid interval: %q. Must be at least 60000 milliseconds (e.g., \"300000\" for 5 min).", value)
		}
	case "once":
		if hasZoneSuffix(value) {
			return fmt.Errorf("Timestamp must be local time without timezone suffix. Got %q — use format like \"2026-02-01T15:30:00\".", value)
		}
		if _, err := schedule.Parse(schedule.Once, value, c.loc); err != nil {
			return fmt.Errorf("Invalid timestamp: %q. Use local time format like \"2026-02-01T15:30:00\".", value)
		}
	default:
		return fmt.Errorf("Invalid schedule_type: %q. Use cron, interval or once.", kind)
	}
	return nil
}

// hasZoneSuffix reports a trailing "Z"/"z" or "±HH:MM" (NanoClaw: /[Zz]$/ or /[+-]\d{2}:\d{2}$/).
func hasZoneSuffix(v string) bool {
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		return true
	}
	if len(v) < 6 {
		return false
	}
	s := v[len(v)-6:]
	return (s[0] == '+' || s[0] == '-') && isDigit(s[1]) && isDigit(s[2]) && s[3] == ':' && isDigit(s[4]) && isDigit(s[5])
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// ipcTools returns NanoClaw's IPC tools with its names, parameters and reply texts (§7.3).
func ipcTools(c *ipcContext) ([]anthropic.BetaTool, error) {
	var tools []anthropic.BetaTool
	var errs []error
	add := func(t anthropic.BetaTool, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		tools = append(tools, t)
	}

	add(toolrunner.NewBetaToolFromJSONSchema("send_message",
		"Send a message to the user or group immediately while you're still running. Use this for progress updates or to send multiple messages. You can call this multiple times. Note: when running as a scheduled task, your final output is NOT sent to the user — use this tool if you need to communicate with the user or group.",
		func(ctx context.Context, in sendMessageInput) (anthropic.BetaToolResultBlockParamContentUnion, error) {
			if strings.TrimSpace(in.Text) == "" {
				return toolErr("text is required.")
			}
			data := map[string]any{
				"type":        "message",
				"chatJid":     c.chatJID,
				"text":        in.Text,
				"groupFolder": c.groupFolder,
				"timestamp":   c.timestamp(),
			}
			if in.Sender != "" {
				data["sender"] = in.Sender
			}
			if _, err := c.request(ctx, data); err != nil {
				return toolErr("could not send message: %v", err)
			}
			return textBlock("Message sent."), nil
		}))

	add(toolrunner.NewBetaToolFromJSONSchema("schedule_task",
		`Schedule a recurring or one-time task. The task will run as a full agent with access to all tools. Returns the task ID for future reference. To modify an existing task, use update_task instead.

CONTEXT MODE - Choose based on task type:
• "group": Task runs in the group's conversation context, with access to chat history. Use for tasks that need context about ongoing discussions, user preferences, or recent interactions.
• "isolated": Task runs in a fresh session with no conversation history. Use for independent tasks that don't need prior context. When using isolated mode, include all necessary context in the prompt itself.

SCHEDULE VALUE FORMAT (all times are LOCAL timezone):
• cron: Standard cron expression (e.g., "*/5 * * * *" for every 5 minutes, "0 9 * * *" for daily at 9am LOCAL time)
• interval: Milliseconds between runs (e.g., "300000" for 5 minutes, "3600000" for 1 hour)
• once: Local time WITHOUT "Z" suffix (e.g., "2026-02-01T15:30:00"). Do NOT use UTC/Z suffix.`,
		func(ctx context.Context, in scheduleTaskInput) (anthropic.BetaToolResultBlockParamContentUnion, error) {
			if strings.TrimSpace(in.Prompt) == "" {
				return toolErr("prompt is required.")
			}
			if err := c.validateSchedule(in.ScheduleType, in.ScheduleValue); err != nil {
				return toolErr("%v", err)
			}
			mode := in.ContextMode
			switch mode {
			case "":
				mode = "group"
			case "group", "isolated":
			default:
				return toolErr("Invalid context_mode: %q. Use group or isolated.", in.ContextMode)
			}
			target := c.chatJID
			if c.isMain && in.TargetGroupJID != "" {
				target = in.TargetGroupJID // non-main: ignored, as in NanoClaw
			}
			data := map[string]any{
				"type":           "schedule_task",
				"prompt":         in.Prompt,
				"schedule_type":  in.ScheduleType,
				"schedule_value": in.ScheduleValue,
				"context_mode":   mode,
				"targetJid":      target,
				"createdBy":      c.groupFolder,
				"timestamp":      c.timestamp(),
			}
			if in.Script != "" {
				data["script"] = in.Script
			}
			res, err := c.request(ctx, data)
			if err != nil {
				return toolErr("could not schedule task: %v", err)
			}
			var done runproto.TaskScheduled
			_ = json.Unmarshal(res, &done)
			return textBlock(fmt.Sprintf("Task %s scheduled: %s - %s", done.TaskID, in.ScheduleType, in.ScheduleValue)), nil
		}))

	add(toolrunner.NewBetaToolFromJSONSchema("list_tasks",
		"List all scheduled tasks. From main: shows all tasks. From other groups: shows only that group's tasks.",
		func(ctx context.Context, _ emptyInput) (anthropic.BetaToolResultBlockParamContentUnion, error) {
			return c.listTasks(ctx)
		}))

	for _, op := range []struct{ name, desc, verb, done string }{
		{"pause_task", "Pause a scheduled task. It will not run until resumed.", "pause", "paused"},
		{"resume_task", "Resume a paused task.", "resume", "resumed"},
		{"cancel_task", "Cancel and delete a scheduled task.", "cancellation", "cancelled"},
	} {
		add(toolrunner.NewBetaToolFromJSONSchema(op.name, op.desc,
			func(ctx context.Context, in taskIDInput) (anthropic.BetaToolResultBlockParamContentUnion, error) {
				if strings.TrimSpace(in.TaskID) == "" {
					return toolErr("task_id is required.")
				}
				data := map[string]any{
					"type":        op.name,
					"taskId":      in.TaskID,
					"groupFolder": c.groupFolder,
					"isMain":      c.isMain,
					"createdBy":   c.groupFolder,
					"timestamp":   c.timestamp(),
				}
				if _, err := c.request(ctx, data); err != nil {
					return toolErr("could not request %s: %v", op.verb, err)
				}
				return textBlock(fmt.Sprintf("Task %s %s.", in.TaskID, op.done)), nil
			}))
	}

	add(toolrunner.NewBetaToolFromJSONSchema("update_task",
		"Update an existing scheduled task. Only provided fields are changed; omitted fields stay the same.",
		func(ctx context.Context, in updateTaskInput) (anthropic.BetaToolResultBlockParamContentUnion, error) {
			if strings.TrimSpace(in.TaskID) == "" {
				return toolErr("task_id is required.")
			}
			if in.ScheduleType != nil {
				switch *in.ScheduleType {
				case "cron", "interval", "once":
				default:
					return toolErr("Invalid schedule_type: %q. Use cron, interval or once.", *in.ScheduleType)
				}
			}
			// NanoClaw: validate cron when the type is cron, or a value comes without a type;
			// interval positivity when both are given. We also check "once" when both are given.
			if in.ScheduleValue != nil {
				kind := "cron"
				if in.ScheduleType != nil {
					kind = *in.ScheduleType
				}
				if err := c.validateSchedule(kind, *in.ScheduleValue); err != nil {
					return toolErr("%v", err)
				}
			} else if in.ScheduleType != nil && *in.ScheduleType == "cron" {
				return toolErr("Invalid cron: \"\". schedule_value is required when changing schedule_type to cron.")
			}
			data := map[string]any{
				"type":        "update_task",
				"taskId":      in.TaskID,
				"groupFolder": c.groupFolder,
				"isMain":      c.isMain,
				"createdBy":   c.groupFolder,
				"timestamp":   c.timestamp(),
			}
			if in.Prompt != nil {
				data["prompt"] = *in.Prompt
			}
			if in.Script != nil {
				data["script"] = *in.Script
			}
			if in.ScheduleType != nil {
				data["schedule_type"] = *in.ScheduleType
			}
			if in.ScheduleValue != nil {
				data["schedule_value"] = *in.ScheduleValue
			}
			if _, err := c.request(ctx, data); err != nil {
				return toolErr("could not update the task: %v", err)
			}
			return textBlock(fmt.Sprintf("Task %s updated.", in.TaskID)), nil
		}))

	add(toolrunner.NewBetaToolFromJSONSchema("register_group",
		`Register a new chat/group so the agent can respond to messages there. Main group only.

Use list_groups to find the JID for a group. The folder name must be channel-prefixed: "{channel}_{group-name}" (e.g., "whatsapp_family-chat", "telegram_dev-team", "discord_general"). Use lowercase with hyphens for the group name part.`,
		func(ctx context.Context, in registerGroupInput) (anthropic.BetaToolResultBlockParamContentUnion, error) {
			if !c.isMain {
				return toolErr("Only the main group can register new groups.")
			}
			for name, v := range map[string]string{"jid": in.JID, "name": in.Name, "folder": in.Folder, "trigger": in.Trigger} {
				if strings.TrimSpace(v) == "" {
					return toolErr("%s is required.", name)
				}
			}
			requires := false
			if in.RequiresTrigger != nil {
				requires = *in.RequiresTrigger
			}
			data := map[string]any{
				"type":            "register_group",
				"jid":             in.JID,
				"name":            in.Name,
				"folder":          in.Folder,
				"trigger":         in.Trigger,
				"requiresTrigger": requires,
				"createdBy":       c.groupFolder,
				"timestamp":       c.timestamp(),
			}
			if _, err := c.request(ctx, data); err != nil {
				return toolErr("could not register group: %v", err)
			}
			return textBlock(fmt.Sprintf("Group %q registered. It will start receiving messages immediately.", in.Name)), nil
		}))

	if c.isMain {
		add(toolrunner.NewBetaToolFromJSONSchema("list_groups",
			"List the chats the assistant has seen, with their JIDs and whether they are registered, so you can register one with register_group. Main group only.",
			func(ctx context.Context, in listGroupsInput) (anthropic.BetaToolResultBlockParamContentUnion, error) {
				return c.listGroups(ctx, in.Refresh)
			}))
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return tools, nil
}

func (c *ipcContext) listTasks(ctx context.Context) (anthropic.BetaToolResultBlockParamContentUnion, error) {
	res, err := c.request(ctx, map[string]any{"type": "list_tasks", "groupFolder": c.groupFolder, "timestamp": c.timestamp()})
	if err != nil {
		return toolErr("Error reading tasks: %v", err)
	}
	var list runproto.TaskList
	if err := json.Unmarshal(res, &list); err != nil {
		return toolErr("Error reading tasks: %v", err)
	}
	var lines []string
	for _, t := range list.Tasks {
		next := "N/A"
		if t.NextRun != nil && *t.NextRun != "" {
			next = *t.NextRun
		}
		p := []rune(t.Prompt)
		if len(p) > 50 {
			p = p[:50]
		}
		lines = append(lines, fmt.Sprintf("- [%s] %s... (%s: %s) - %s, next: %s", t.ID, string(p), t.ScheduleType, t.ScheduleValue, t.Status, next))
	}
	if len(lines) == 0 {
		return textBlock("No scheduled tasks found."), nil
	}
	return textBlock("Scheduled tasks:\n" + strings.Join(lines, "\n")), nil
}

func (c *ipcContext) listGroups(ctx context.Context, refresh bool) (anthropic.BetaToolResultBlockParamContentUnion, error) {
	if refresh {
		if _, err := c.request(ctx, map[string]any{"type": "refresh_groups", "timestamp": c.timestamp()}); err != nil {
			return toolErr("could not refresh groups: %v", err)
		}
	}
	res, err := c.request(ctx, map[string]any{"type": "available_groups", "timestamp": c.timestamp()})
	if err != nil {
		return toolErr("could not list groups: %v", err)
	}
	var list runproto.GroupList
	if err := json.Unmarshal(res, &list); err != nil {
		return toolErr("could not list groups: %v", err)
	}
	if len(list.Groups) == 0 {
		return textBlock("No chats seen yet."), nil
	}
	lines := []string{fmt.Sprintf("Chats (names last synced %s):", list.LastSync)}
	for _, g := range list.Groups {
		reg := ""
		if g.IsRegistered {
			reg = " (registered)"
		}
		lines = append(lines, fmt.Sprintf("- %s: %s, last active %s%s", g.JID, g.Name, g.LastActivity, reg))
	}
	return textBlock(strings.Join(lines, "\n")), nil
}
