// Package status is the document `nanoclaw status` shows: what the running host serves on
// its control socket at /status, built from the daemon, the plugin registry, the credential
// proxy and the store, and the text view of it.
//
// The JSON is an interface scripts depend on, so it has one shape everywhere: camelCase
// keys, no key that is data (groups, channels and usage are lists of objects, never maps
// keyed by folder), and an empty list is [] (Normalize), never null.
package status

import (
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/credproxy"
	"github.com/nanoclaw/nanoclaw-go/host/daemon"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// Doc is the /status document.
type Doc struct {
	Version       string    `json:"version"`
	Commit        string    `json:"commit"`
	StartedAt     time.Time `json:"startedAt"`
	UptimeSeconds int64     `json:"uptimeSeconds"`
	Time          time.Time `json:"time"`
	Channels      []Channel `json:"channels"`
	Groups        []Group   `json:"groups"`
	// Waiting are the chats held back by the container cap, next to run first.
	Waiting []string      `json:"waiting"`
	Tasks   []Task        `json:"tasks"`
	Plugins []plugin.Info `json:"plugins"`
	// PolicyProblems are policy files the plugins found unusable (and fail closed on).
	PolicyProblems []plugin.Problem `json:"policyProblems"`
	// UsageDay is the day (host's zone) each group's UsageToday counts.
	UsageDay string `json:"usageDay"`
	// RecentRefusals are the latest agent (IPC) requests the host refused, newest first.
	RecentRefusals []store.IPCRefusal `json:"recentRefusals"`
}

// Channel is one chat network and how its connection is.
type Channel struct {
	Name   string        `json:"name"`
	State  channel.State `json:"state"`
	Detail string        `json:"detail,omitempty"`
}

// Group is a registered group: its container, its place in the queue, its use today.
type Group struct {
	JID             string          `json:"jid"`
	Name            string          `json:"name"`
	Folder          string          `json:"folder"`
	IsMain          bool            `json:"isMain"`
	RequiresTrigger bool            `json:"requiresTrigger"`
	Running         *Run            `json:"running,omitempty"` // absent when no container runs
	Queue           Queue           `json:"queue"`
	UsageToday      credproxy.Usage `json:"usageToday"`
}

// Run is a group's running container.
type Run struct {
	Started time.Time `json:"started"`
	TaskID  string    `json:"taskId,omitempty"` // set when it runs a scheduled task
	Idle    bool      `json:"idle"`             // done with its turn, waiting for input
}

// Queue is what waits for a group.
type Queue struct {
	PendingMessages bool `json:"pendingMessages"`
	PendingTasks    int  `json:"pendingTasks"`
	RetryCount      int  `json:"retryCount"`
	WaitingForSlot  bool `json:"waitingForSlot"`
}

// Task is a scheduled task, the prompt cut short.
type Task struct {
	ID            string `json:"id"`
	Group         string `json:"group"`
	Prompt        string `json:"prompt"`
	ScheduleType  string `json:"scheduleType"`
	ScheduleValue string `json:"scheduleValue"`
	Status        string `json:"status"`
	NextRun       string `json:"nextRun,omitempty"` // absent when nothing is due
	LastRun       string `json:"lastRun,omitempty"`
}

// Input is what Build reads.
type Input struct {
	Version, Commit string
	Started, Now    time.Time
	Daemon          daemon.Status
	// Extra are channels the daemon does not know about, such as WhatsApp while it is not
	// paired (its factory then builds nothing).
	Extra    []Channel
	Plugins  []plugin.Info
	Problems []plugin.Problem
	// Usage is a group's use today; nil leaves it zero.
	Usage func(folder string) credproxy.Usage
	Tasks []store.Task
}

// maxPrompt bounds a task's prompt in status: enough to recognise it.
const maxPrompt = 80

// Build assembles the document, normalised.
func Build(in Input) Doc {
	d := Doc{Version: in.Version, Commit: in.Commit, StartedAt: in.Started.UTC(), Time: in.Now.UTC(),
		UptimeSeconds: int64(in.Now.Sub(in.Started).Seconds()), Waiting: in.Daemon.Waiting,
		Plugins: in.Plugins, PolicyProblems: in.Problems, RecentRefusals: in.Daemon.Errors}
	for _, c := range in.Daemon.Channels {
		d.Channels = append(d.Channels, Channel{Name: c.Name, State: c.State, Detail: c.Detail})
	}
	d.Channels = append(d.Channels, in.Extra...)
	queues := map[string]Queue{}
	for _, q := range in.Daemon.Queue {
		queues[q.JID] = Queue{PendingMessages: q.PendingMessages, PendingTasks: q.PendingTasks, RetryCount: q.RetryCount}
	}
	idle := map[string]bool{}
	for _, q := range in.Daemon.Queue {
		if q.Active && q.IdleWaiting {
			idle[q.Folder] = true
		}
	}
	for _, g := range in.Daemon.Groups {
		q := queues[g.JID]
		q.WaitingForSlot = slices.Contains(in.Daemon.Waiting, g.JID)
		out := Group{JID: g.JID, Name: g.Name, Folder: g.Folder, IsMain: g.IsMain, RequiresTrigger: g.RequiresTrigger, Queue: q}
		if r, ok := in.Daemon.Running[g.Folder]; ok {
			out.Running = &Run{Started: r.Started.UTC(), TaskID: r.Task, Idle: idle[g.Folder]}
		}
		if in.Usage != nil {
			out.UsageToday = in.Usage(g.Folder)
			d.UsageDay = max(d.UsageDay, out.UsageToday.Day)
		}
		d.Groups = append(d.Groups, out)
	}
	slices.SortFunc(d.Groups, func(a, b Group) int { return strings.Compare(a.Folder, b.Folder) })
	for _, t := range in.Tasks {
		if t.Status == store.TaskCompleted {
			continue
		}
		d.Tasks = append(d.Tasks, Task{ID: t.ID, Group: t.GroupFolder, Prompt: cut(t.Prompt, maxPrompt), ScheduleType: t.ScheduleType,
			ScheduleValue: t.ScheduleValue, Status: t.Status, NextRun: t.NextRun, LastRun: t.LastRun})
	}
	slices.SortStableFunc(d.Tasks, func(a, b Task) int { return compareNextRun(a.NextRun, b.NextRun) })
	Normalize(&d)
	return d
}

// compareNextRun orders tasks by next run, those with none last.
func compareNextRun(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	return strings.Compare(a, b)
}

func cut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Normalize replaces every nil slice reachable from v (a pointer) with an empty one, so the
// JSON says [] and never null for a list, whatever the parts it was built from returned.
func Normalize(v any) {
	normalize(reflect.ValueOf(v))
}

func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			normalize(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() { // what encoding/json writes
				normalize(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			if v.CanSet() {
				v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			}
			return
		}
		for i := range v.Len() {
			normalize(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() && v.CanSet() {
			v.Set(reflect.MakeMap(v.Type()))
			return
		}
		// Map values are not addressable; status has no maps, and none should appear.
	}
}
