package status

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/credproxy"
	"github.com/nanoclaw/nanoclaw-go/host/daemon"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/queue"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

var (
	started = time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	now     = started.Add(90 * time.Minute)
)

// full is a host with something in every part of the document.
func full() Input {
	ds := daemon.Status{
		Groups: []daemon.GroupStatus{
			{JID: "local:main", Name: "Main", Folder: "main", IsMain: true},
			{JID: "120363@g.us", Name: "Family", Folder: "family", RequiresTrigger: true},
			{JID: "local:work", Name: "Work", Folder: "work", RequiresTrigger: true},
		},
		Queue: []queue.GroupStatus{
			{JID: "local:main", Folder: "main", Active: true, IdleWaiting: true},
			{JID: "120363@g.us", Folder: "family", PendingMessages: true, RetryCount: 2},
			{JID: "local:work", Folder: "work", PendingTasks: 1},
		},
		Waiting:  []string{"local:work"},
		Channels: []daemon.ChannelStatus{{Name: "local", State: channel.StateConnected}},
		Errors:   []store.IPCRefusal{{ID: 1, At: "2026-12-05T08:10:00Z", Group: "family", Type: "message", Code: "refused", Reason: "denied"}},
	}
	// Running is keyed by an unexported type: fill it through a daemon status round trip.
	ds.Running = runningOf(map[string]time.Time{"main": started.Add(time.Hour)}).Running
	return Input{
		Version: "v1.2.3", Commit: "0123456789abcdef0123", Started: started, Now: now, Daemon: ds,
		Extra:    []Channel{{Name: "whatsapp", State: channel.StatePairingNeeded}},
		Plugins:  []plugin.Info{{Name: "router", Kind: "route", Calls: 3}}, // Capabilities nil
		Problems: []plugin.Problem{{Document: "sender-allowlist", Plugin: "router", Problem: "bad JSON", Since: started}},
		Usage: func(folder string) credproxy.Usage {
			return credproxy.Usage{Day: "2026-12-05", TotalTokens: int64(len(folder)), Requests: 1}
		},
		Tasks: []store.Task{
			{ID: "t-late", GroupFolder: "main", Prompt: "later", ScheduleType: "once", ScheduleValue: "x", Status: "active", NextRun: "2026-12-06T09:00:00.000Z"},
			{ID: "t-paused", GroupFolder: "family", Prompt: "paused one", ScheduleType: "cron", ScheduleValue: "0 9 * * *", Status: "paused"},
			{ID: "t-soon", GroupFolder: "work", Prompt: strings.Repeat("long prompt ", 20), ScheduleType: "interval", ScheduleValue: "3600000", Status: "active", NextRun: "2026-12-05T10:00:00.000Z"},
			{ID: "t-done", GroupFolder: "main", Prompt: "done", ScheduleType: "once", ScheduleValue: "y", Status: "completed"},
		},
	}
}

// runningOf builds a daemon.Status Running map from start times (the value type is the
// daemon's own; JSON is the way in from outside the package).
func runningOf(starts map[string]time.Time) (m daemon.Status) {
	raw := map[string]any{}
	for folder, t := range starts {
		raw[folder] = map[string]any{"jid": "local:" + folder, "started": t}
	}
	b, _ := json.Marshal(map[string]any{"running": raw})
	var s daemon.Status
	_ = json.Unmarshal(b, &s)
	return s
}

// TestJSONShape: every key camelCase, no null anywhere, lists [] when empty — for a host
// with nothing (every part nil) and one with something everywhere.
func TestJSONShape(t *testing.T) {
	for name, in := range map[string]Input{"empty": {Started: started, Now: now}, "full": full()} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(Build(in))
			if err != nil {
				t.Fatal(err)
			}
			problems, err := ShapeProblems(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) > 0 {
				t.Fatalf("status JSON breaks its conventions:\n%s\n%s", strings.Join(problems, "\n"), b)
			}
			var generic map[string]any
			_ = json.Unmarshal(b, &generic)
			for _, list := range []string{"channels", "groups", "waiting", "tasks", "plugins", "policyProblems", "recentRefusals"} {
				if _, ok := generic[list].([]any); !ok {
					t.Errorf("%s is %v, want a list", list, generic[list])
				}
			}
		})
	}
}

// TestShapeProblems: the checker catches each kind of break (so TestJSONShape can fail).
func TestShapeProblems(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want string
	}{
		{`{"okKey":[1,{"innerKey":"x"}]}`, ""},
		{`{"PascalCase":1}`, `key "PascalCase"`},
		{`{"snake_case":1}`, `key "snake_case"`},
		{`{"list":null}`, `$.list: null`},
		{`{"a":[{"b":[null]}]}`, `$.a[0].b[0]: null`},
		{`{"a":{"Folder-Name":{}}}`, `key "Folder-Name"`},
	} {
		got, err := ShapeProblems([]byte(tc.doc))
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(got, "\n")
		if (tc.want == "") != (len(got) == 0) || !strings.Contains(joined, tc.want) {
			t.Errorf("%s: problems %q, want one with %q", tc.doc, joined, tc.want)
		}
	}
}

func TestBuild(t *testing.T) {
	d := Build(full())
	if d.UptimeSeconds != 5400 || d.Version != "v1.2.3" || d.UsageDay != "2026-12-05" {
		t.Errorf("header: %+v", d)
	}
	if len(d.Channels) != 2 || d.Channels[1].Name != "whatsapp" || d.Channels[1].State != channel.StatePairingNeeded {
		t.Errorf("channels %+v", d.Channels)
	}
	var folders []string
	for _, g := range d.Groups {
		folders = append(folders, g.Folder)
	}
	if strings.Join(folders, ",") != "family,main,work" {
		t.Errorf("groups in order %v", folders)
	}
	fam, main, work := d.Groups[0], d.Groups[1], d.Groups[2]
	if main.Running == nil || !main.Running.Idle || !main.Running.Started.Equal(started.Add(time.Hour)) || fam.Running != nil {
		t.Errorf("running: main %+v, family %+v", main.Running, fam.Running)
	}
	if !fam.Queue.PendingMessages || fam.Queue.RetryCount != 2 || !work.Queue.WaitingForSlot || work.Queue.PendingTasks != 1 || main.Queue.WaitingForSlot {
		t.Errorf("queues: family %+v, work %+v, main %+v", fam.Queue, work.Queue, main.Queue)
	}
	if work.UsageToday.TotalTokens != 4 {
		t.Errorf("usage %+v", work.UsageToday)
	}
	var ids []string
	for _, task := range d.Tasks {
		ids = append(ids, task.ID)
	}
	if strings.Join(ids, ",") != "t-soon,t-late,t-paused" {
		t.Errorf("tasks (soonest first, none completed): %v", ids)
	}
	if p := d.Tasks[0].Prompt; len([]rune(p)) != maxPrompt || !strings.HasSuffix(p, "…") {
		t.Errorf("long prompt not cut: %q", p)
	}
	if d.Plugins[0].Capabilities == nil {
		t.Error("a plugin's nil capabilities stayed nil")
	}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, Build(full()), time.UTC); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"nanoclaw v1.2.3 (commit 0123456789ab), up 1h30m0s since 2026-12-05 08:00:00",
		"local     connected",
		"whatsapp  pairing needed (pair with `nanoclaw auth`)",
		"since 09:00:00 (idle)",
		"messages waiting, retry 2",
		"1 tasks waiting, waiting for a slot",
		"waiting for a container slot:",
		"t-soon    work    2026-12-05 10:00:00  interval 3600000",
		"t-paused  family  -",
		"MODEL API TODAY (2026-12-05)",
		"router",
		"policy files that cannot be used",
		"recent refused IPC requests:",
		"family message (refused): denied",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := WriteText(&b, Build(Input{Started: started, Now: now}), time.UTC); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`(?m)^scheduled tasks:\s+none$`, `(?m)^plugins:\s+none loaded$`} {
		if !regexp.MustCompile(want).MatchString(b.String()) {
			t.Errorf("empty status lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "[]") || strings.Contains(b.String(), "waiting for a container slot") {
		t.Errorf("empty status prints empty lists:\n%s", b.String())
	}
}

// FuzzShapeProblems: the checker never panics, takes exactly the valid JSON documents, and
// faults a document that is or holds a null.
func FuzzShapeProblems(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `null`, `{"a":null}`, `{"A_b":[{"c":[null]}]}`, `{"a":`, `"x"`, `1E700`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		problems, err := ShapeProblems(doc)
		if json.Valid(doc) != (err == nil) {
			t.Fatalf("valid %v, err %v", json.Valid(doc), err)
		}
		if err != nil {
			return
		}
		wrapped := []byte(`{"x":[` + string(doc) + `,null]}`)
		more, err := ShapeProblems(wrapped)
		if err != nil || len(more) != len(problems)+1 {
			t.Fatalf("wrapping %s in a list beside a null: %d problems, want %d (%v)", doc, len(more), len(problems)+1, err)
		}
	})
}
