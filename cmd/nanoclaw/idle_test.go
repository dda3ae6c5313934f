package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestHostAnswersAfterIdleRelease: the host releases its idle plugins, `plugin list` says
// so, and the next message is still routed and answered: the route plugin resumes on it.
func TestHostAnswersAfterIdleRelease(t *testing.T) {
	d := requireDocker(t)
	work := workDir(t, d)
	api, url := newMockAPI(t)
	vars := hostEnv(work, url)
	vars["LOG_LEVEL"] = "debug"
	vars["NANOCLAW_PLUGIN_IDLE"] = "200ms"
	_, logs := startHost(t, work, vars)
	logs.waitCount(t, "plugin idle: released", 3, 2*time.Minute)
	out, code := cli(t, work, vars, "plugin", "list")
	if code != 0 || strings.Count(out, " idle") != 3 {
		t.Fatalf("plugin list (exit %d) does not show the three plugins idle:\n%s", code, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	main := dialChat(t, ctx, work, "local:main")
	main.say("are you awake")
	if req := api.next(t, 2*time.Minute); !strings.Contains(req.Last, "are you awake") {
		t.Fatalf("prompt: %q", req.Last)
	}
	if got := main.reply(time.Minute); got != "reply: are you awake" {
		t.Fatalf("reply %q", got)
	}
	if !strings.Contains(logs.String(), "plugin resumed after being idle") {
		t.Fatal("no plugin resumed for the message")
	}
}
