package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/status"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// TestStatusLive: a real host's `status --json` holds its conventions (every key camelCase,
// no null, [] for empty lists) and says what the issue asked for: version and uptime, the
// local channel connected and WhatsApp needing pairing, the group's running container,
// the scheduled task with its next run; the text view shows the same.
func TestStatusLive(t *testing.T) {
	d := requireDocker(t)
	work := workDir(t, d)
	api, url := newMockAPI(t)
	vars := hostEnv(work, url)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, filepath.Join(work, "store", "nanoclaw.db"))
	if err != nil {
		t.Fatal(err)
	}
	next := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	if err := st.CreateTask(ctx, store.Task{ID: "daily-news", GroupFolder: "main", ChatJID: "local:main", Prompt: "the news",
		ScheduleType: "cron", ScheduleValue: "0 9 * * *", NextRun: store.Timestamp(next)}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	startHost(t, work, vars)
	chat := dialChat(t, ctx, work, "local:main")
	chat.say("hold-me while I look")
	api.next(t, 2*time.Minute)

	out, code := cli(t, work, vars, "status", "--json")
	if code != 0 {
		t.Fatalf("status --json exited %d:\n%s", code, out)
	}
	problems, err := status.ShapeProblems([]byte(out))
	if err != nil || len(problems) > 0 {
		t.Fatalf("status --json breaks its conventions (%v):\n%s\n%s", err, strings.Join(problems, "\n"), out)
	}
	var doc status.Doc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version == "" || doc.StartedAt.IsZero() || doc.UptimeSeconds < 0 {
		t.Errorf("version %q, started %v, uptime %d", doc.Version, doc.StartedAt, doc.UptimeSeconds)
	}
	states := map[string]channel.State{}
	for _, c := range doc.Channels {
		states[c.Name] = c.State
	}
	if states["local"] != channel.StateConnected || states["whatsapp"] != channel.StatePairingNeeded {
		t.Errorf("channel states %v", states)
	}
	var main *status.Group
	for i := range doc.Groups {
		if doc.Groups[i].Folder == "main" {
			main = &doc.Groups[i]
		}
	}
	if main == nil || main.Running == nil {
		t.Fatalf("main's running container missing: %+v", doc.Groups)
	}
	if len(doc.Tasks) != 1 || doc.Tasks[0].ID != "daily-news" || doc.Tasks[0].NextRun == "" {
		t.Errorf("tasks %+v", doc.Tasks)
	}
	text, code := cli(t, work, vars, "status")
	for _, want := range []string{"nanoclaw " + doc.Version, "pairing needed", "daily-news", "since "} {
		if code != 0 || !strings.Contains(text, want) {
			t.Errorf("status (%d) lacks %q:\n%s", code, want, text)
		}
	}
	api.Release()
	chat.reply(time.Minute)
}
