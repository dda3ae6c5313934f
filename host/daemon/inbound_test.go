package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/sandbox"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

func strp(s string) *string { return &s }

// A message in the main group runs an agent with NanoClaw's XML prompt; each result goes
// back with its <internal> notes stripped, between typing on and typing off.
func TestMessageRunsAgentAndReplies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		results []*string
		want    []string
	}{
		{"internal block stripped", []*string{strp("<internal>thinking it over</internal>Hi Alice!")}, []string{"Hi Alice!"}},
		{"only internal: nothing sent", []*string{strp("<internal>nothing to say</internal>  ")}, nil},
		{"null result: nothing sent", []*string{nil}, nil},
		{"every result is sent", []*string{strp("first"), strp("<internal>x</internal>\n\nsecond\n")}, []string{"first", "second"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, options{})
			h.register(mainGroup)
			h.start()
			h.message(msg(mainJID, "m1", `hello <there> & "you"`, 0))

			r := h.nextRun()
			req := r.request(t)
			wantPrompt := "<context timezone=\"UTC\" />\n<messages>\n" +
				`<message sender="Alice" time="Jan 1, 2024, 10:00 AM">hello &lt;there&gt; &amp; &quot;you&quot;</message>` +
				"\n</messages>"
			if req.Prompt != wantPrompt {
				t.Errorf("prompt:\n%s\nwant:\n%s", req.Prompt, wantPrompt)
			}
			want := sandbox.RunRequest{Prompt: wantPrompt, GroupFolder: "main", ChatJID: mainJID, IsMain: true, AssistantName: "Andy", RunID: req.RunID}
			if req != want || !strings.HasPrefix(req.RunID, "run-") {
				t.Errorf("request %+v, want %+v", req, want)
			}
			if r.spec.Image != "x" || r.spec.Labels[sandbox.LabelGroup] != "main" || !slices.Contains(r.spec.Env, "TZ=UTC") {
				t.Errorf("spec image %q labels %v env %v", r.spec.Image, r.spec.Labels, r.spec.Env)
			}
			// While the run is in flight: the cursor is past the message, the marker remembers
			// where it was, and status shows the container.
			if c := h.cursor(mainJID); c != ts(0) {
				t.Errorf("cursor during the run %q, want %q", c, ts(0))
			}
			if want := "cursor:" + justBefore(ts(0)); h.inflight(mainJID) != want {
				t.Errorf("in-flight marker during the run %q, want %q", h.inflight(mainJID), want)
			}
			if run, ok := h.d.Status(h.ctx).Running["main"]; !ok || run.JID != mainJID {
				t.Errorf("status running %+v", h.d.Status(h.ctx).Running)
			}

			for i, res := range tc.results {
				r.output(t, sandbox.RunOutput{Status: "success", Result: res})
				if i < len(tc.want) {
					h.ch.waitSends(t, mainJID, i+1)
					if v := h.inflight(mainJID); v != "" {
						t.Errorf("in-flight marker after a reply %q, want cleared", v)
					}
				}
			}
			r.exit(0)
			h.ch.waitTypingOff(t, mainJID, 1)
			h.drain()

			var seq []string
			for _, c := range h.ch.calls.all() {
				switch {
				case c.JID != mainJID:
				case c.Kind == "typing" && c.On:
					seq = append(seq, "typing on")
				case c.Kind == "typing":
					seq = append(seq, "typing off")
				case c.Kind == "send":
					seq = append(seq, "send "+c.Text)
				}
			}
			wantSeq := []string{"typing on"}
			for _, s := range tc.want {
				wantSeq = append(wantSeq, "send "+s)
			}
			wantSeq = append(wantSeq, "typing off")
			if !slices.Equal(seq, wantSeq) {
				t.Errorf("channel calls %q, want %q", seq, wantSeq)
			}
			if c := h.cursor(mainJID); c != ts(0) {
				t.Errorf("cursor %q, want %q", c, ts(0))
			}
			if v := h.inflight(mainJID); v != "" {
				t.Errorf("in-flight marker %q after the run, want cleared", v)
			}
			if len(h.rt.runs.all()) != 1 {
				t.Errorf("%d containers, want 1", len(h.rt.runs.all()))
			}
			// The run log is the host's, outside the folder the agent writes.
			if logs, _ := filepath.Glob(filepath.Join(h.root, "data", "logs", "main", "container-*.log")); len(logs) != 1 {
				t.Errorf("run logs %v, want one in data/logs/main", logs)
			}
			if _, err := os.Lstat(filepath.Join(h.root, "groups", "main", "logs")); err == nil {
				t.Error("a logs directory in the group folder")
			}
		})
	}
}

// Trigger rules through the daemon: a message that does not trigger is kept as context and
// starts nothing; the triggering one runs the agent with everything pending.
func TestTriggerRules(t *testing.T) {
	t.Parallel()
	custom := familyGroup
	custom.Trigger = "@Claw"
	open := familyGroup
	open.RequiresTrigger = false
	cases := []struct {
		name     string
		group    store.Group
		contents []string
		runAt    int // index of the message that starts a run (always the last); -1: none
	}{
		{"untriggered kept, triggered runs both", familyGroup, []string{"hello everyone", "@Andy what's for dinner?"}, 1},
		{"trigger is case-insensitive", familyGroup, []string{"@andy hi"}, 0},
		{"trigger only at the start of a word", familyGroup, []string{"hey @Andy", "@Andyextra hi", "@Andy's thing"}, 2},
		{"trigger only at the start", familyGroup, []string{"hey @Andy", "@Andyextra hi"}, -1},
		{"group's own trigger", custom, []string{"@Andy hi", "@Claw hi"}, 1},
		{"trigger not required", open, []string{"hello"}, 0},
		{"main needs no trigger", mainGroup, []string{"hello"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, options{})
			h.register(tc.group)
			h.start()
			jid := tc.group.JID
			for i, c := range tc.contents {
				h.message(msg(jid, "m"+string(rune('a'+i)), c, i))
				if i != tc.runAt {
					h.assertIdle()
					stored, err := h.st.MessagesSince(h.ctx, jid, "", "Andy:", 0)
					if err != nil || len(stored) != i+1 {
						t.Fatalf("after message %d: %d stored (%v), want %d", i, len(stored), err, i+1)
					}
					continue
				}
				r := h.nextRun()
				req := r.request(t)
				for _, want := range tc.contents {
					if !strings.Contains(req.Prompt, ">"+escapeXMLForTest(want)+"</message>") {
						t.Errorf("prompt lacks %q:\n%s", want, req.Prompt)
					}
				}
				if req.GroupFolder != tc.group.Folder || req.IsMain != tc.group.IsMain {
					t.Errorf("request folder %q main %v", req.GroupFolder, req.IsMain)
				}
				r.reply(t, "ok", "")
				h.ch.waitSends(t, jid, 1)
				r.exit(0)
			}
			h.drain()
			wantRuns := 0
			if tc.runAt >= 0 {
				wantRuns = 1
			}
			if n := len(h.rt.runs.all()); n != wantRuns {
				t.Errorf("%d containers, want %d", n, wantRuns)
			}
		})
	}
}

func escapeXMLForTest(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// An unregistered chat's metadata is recorded (main may register it later), its messages
// are not stored and start nothing.
func TestUnregisteredChat(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.register(mainGroup)
	h.start()
	const jid = "test:strangers"
	if err := h.d.OnChatMetadata(h.ctx, channel.ChatMeta{JID: jid, Name: "Strangers", Channel: "test", IsGroup: true, Time: base}); err != nil {
		t.Fatal(err)
	}
	if err := h.d.OnMessage(h.ctx, msg(jid, "s1", "@Andy hello", 0)); err != nil {
		t.Fatal(err)
	}
	if h.ch.opts.Sink != channel.Sink(h.d) || h.ch.opts.AssistantName != "Andy" {
		t.Errorf("channel built with %+v", h.ch.opts)
	}
	c, ok, err := h.st.Chat(h.ctx, jid)
	if err != nil || !ok {
		t.Fatalf("chat not recorded: %v", err)
	}
	if c.Name != "Strangers" || c.LastMessageTime != ts(0) || !c.IsGroup || c.Channel != "test" {
		t.Errorf("chat %+v", c)
	}
	if got, _ := h.st.MessagesSince(h.ctx, jid, "", "", 0); len(got) != 0 {
		t.Errorf("unregistered chat's message stored: %+v", got)
	}
	h.assertIdle()
	avail, err := h.st.AvailableGroups(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(avail, func(g store.AvailableGroup) bool { return g.JID == jid && !g.IsRegistered }) {
		t.Errorf("available groups %+v lack the unregistered chat", avail)
	}
}

// A registered chat no connected channel owns keeps its messages and starts no container.
func TestChatWithoutChannelWaits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	g := store.Group{JID: "other:x", Name: "Elsewhere", Folder: "elsewhere"}
	h.register(g)
	h.start()
	h.message(msg(g.JID, "o1", "hello", 0))
	h.waitLog("no connected channel owns the chat; messages wait")
	h.drain()
	if n := len(h.rt.runs.all()); n != 0 {
		t.Errorf("%d containers for a chat no channel owns", n)
	}
	if got, _ := h.st.MessagesSince(h.ctx, g.JID, h.cursor(g.JID), "Andy:", 0); len(got) != 1 {
		t.Errorf("the message is no longer pending: %+v", got)
	}
}

// A run that fails before anything reached the user puts the cursor back, clears its
// in-flight marker and is retried; the messages are then answered together with new ones.
func TestFailedRunRollsBackCursor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		engine bool // the engine refuses to start the container
		script func(t *testing.T, r *fakeRun)
	}{
		{name: "error block, exit 1", script: func(t *testing.T, r *fakeRun) {
			r.fail(t, "API error: overloaded")
			r.logErr(t, "[agent-runner] error: API error: overloaded\n")
			r.exit(1)
		}},
		{name: "exit 1 without output", script: func(t *testing.T, r *fakeRun) { r.exit(1) }},
		{name: "killed", script: func(t *testing.T, r *fakeRun) { r.exit(137) }},
		{name: "error block, exit 0", script: func(t *testing.T, r *fakeRun) {
			r.fail(t, "API error: overloaded")
			r.exit(0)
		}},
		{name: "container does not start", engine: true},
	}
	for _, tc := range cases {
		for _, withPrev := range []bool{false, true} {
			name := tc.name
			if withPrev {
				name += ", earlier cursor"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, options{})
				h.register(mainGroup)
				prev := justBefore(ts(1)) // a first run goes back to just before its messages
				if withPrev {
					h.storeMessage(msg(mainJID, "m0", "answered long ago", 0))
					prev = ts(0)
					if err := h.st.SetAgentCursor(h.ctx, mainJID, prev); err != nil {
						t.Fatal(err)
					}
				}
				h.start()
				if tc.engine {
					h.rt.failNextStart(errBoom)
				}
				h.message(msg(mainJID, "m1", "first question", 1))
				if !tc.engine {
					r := h.nextRun()
					r.request(t)
					tc.script(t, r)
				}
				h.waitLog("message run failed, retrying")
				if c := h.cursor(mainJID); c != prev {
					t.Errorf("cursor %q after the failure, want it back at %q", c, prev)
				}
				if v := h.inflight(mainJID); v != "" {
					t.Errorf("in-flight marker %q after the failure, want cleared", v)
				}
				if s, ok := h.queueStatus(mainJID); !ok || s.RetryCount != 1 {
					t.Errorf("queue status %+v, want one retry pending", s)
				}
				if sent := h.ch.sends(mainJID); len(sent) != 0 {
					t.Errorf("sent %q", sent)
				}

				// The next run sees the failed run's message again.
				h.message(msg(mainJID, "m2", "second question", 2))
				r := h.nextRun()
				req := r.request(t)
				if !strings.Contains(req.Prompt, "first question") || !strings.Contains(req.Prompt, "second question") ||
					strings.Contains(req.Prompt, "answered long ago") {
					t.Errorf("retry prompt:\n%s", req.Prompt)
				}
				r.reply(t, "both answered", "")
				h.ch.waitSends(t, mainJID, 1)
				r.exit(0)
				h.drain()
				if c := h.cursor(mainJID); c != ts(2) {
					t.Errorf("cursor %q, want %q", c, ts(2))
				}
				if v := h.inflight(mainJID); v != "" {
					t.Errorf("in-flight marker %q, want cleared", v)
				}
			})
		}
	}
}

// A run that fails after it answered everything it was given keeps its cursor: there is
// nothing to retry, and retrying would repeat the answer.
func TestErrorAfterOutputIsNotRetried(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		end  func(t *testing.T, r *fakeRun)
	}{
		{"error block, exit 1", func(t *testing.T, r *fakeRun) {
			r.fail(t, "turn 2 failed")
			r.logErr(t, "turn 2 failed\n")
			r.exit(1)
		}},
		{"exit 1", func(t *testing.T, r *fakeRun) { r.exit(1) }},
		{"killed", func(t *testing.T, r *fakeRun) { r.exit(137) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, options{})
			h.register(mainGroup)
			h.start()
			h.message(msg(mainJID, "m1", "question", 0))
			r := h.nextRun()
			r.request(t)
			r.reply(t, "partial answer", "")
			h.ch.waitSends(t, mainJID, 1)
			tc.end(t, r)
			h.ch.waitTypingOff(t, mainJID, 1)
			h.drain()
			if sent := h.ch.sends(mainJID); !slices.Equal(sent, []string{"partial answer"}) {
				t.Errorf("sent %q", sent)
			}
			if c := h.cursor(mainJID); c != ts(0) {
				t.Errorf("cursor %q, want %q (no rollback)", c, ts(0))
			}
			if v := h.inflight(mainJID); v != "" {
				t.Errorf("in-flight marker %q", v)
			}
			if h.logged("message run failed, retrying") {
				t.Error("the run was retried")
			}
			if !h.logged("agent failed after answering everything it was given; nothing to retry") {
				t.Error("the failure after the reply was not noticed")
			}
			if s, ok := h.queueStatus(mainJID); ok && s.RetryCount != 0 {
				t.Errorf("queue status %+v", s)
			}
		})
	}
}

// A host killed mid-run leaves the cursor advanced and an in-flight marker; the next host
// puts the cursor back and answers the messages, once.
func TestInflightRecovery(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		marker     *string
		wantPrompt []string // contents expected in the recovered run; nil: no run
		notPrompt  []string
	}{
		{"interrupted run is answered again", strp("cursor:" + ts(0)), []string{"question one", "question two"}, []string{"old question"}},
		{"interrupted first run", strp("cursor:"), []string{"old question", "question one", "question two"}, nil},
		{"finished run is not repeated", strp(""), nil, nil},
		{"no marker", nil, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, options{})
			h.register(mainGroup)
			h.storeMessage(msg(mainJID, "m0", "old question", 0))
			h.storeMessage(msg(mainJID, "m1", "question one", 1))
			h.storeMessage(msg(mainJID, "m2", "question two", 2))
			if err := h.st.SetAgentCursor(h.ctx, mainJID, ts(2)); err != nil {
				t.Fatal(err)
			}
			if tc.marker != nil {
				if err := h.st.SetState(h.ctx, inflightKey(mainJID), *tc.marker); err != nil {
					t.Fatal(err)
				}
			}
			h.start()
			if tc.wantPrompt == nil {
				h.assertIdle()
				if c := h.cursor(mainJID); c != ts(2) {
					t.Errorf("cursor %q, want %q", c, ts(2))
				}
				return
			}
			r := h.nextRun()
			req := r.request(t)
			for _, s := range tc.wantPrompt {
				if !strings.Contains(req.Prompt, s) {
					t.Errorf("recovered prompt lacks %q:\n%s", s, req.Prompt)
				}
			}
			for _, s := range tc.notPrompt {
				if strings.Contains(req.Prompt, s) {
					t.Errorf("recovered prompt repeats %q:\n%s", s, req.Prompt)
				}
			}
			r.reply(t, "sorry for the wait", "")
			h.ch.waitSends(t, mainJID, 1)
			r.exit(0)
			h.ch.waitTypingOff(t, mainJID, 1)
			h.drain()
			if n := len(h.rt.runs.all()); n != 1 {
				t.Errorf("%d containers, want 1", n)
			}
			if sent := h.ch.sends(mainJID); len(sent) != 1 {
				t.Errorf("sent %q", sent)
			}
			if c := h.cursor(mainJID); c != ts(2) {
				t.Errorf("cursor %q, want %q", c, ts(2))
			}
			if v := h.inflight(mainJID); v != "" {
				t.Errorf("in-flight marker %q", v)
			}
		})
	}
}

// Messages stored while no host ran are answered at start, if the route policy would have
// delivered one of them.
func TestStartupRecovery(t *testing.T) {
	t.Parallel()
	type m struct {
		content string
		bot     bool
	}
	cases := []struct {
		name       string
		group      store.Group
		msgs       []m
		wantPrompt []string // nil: no run
		notPrompt  []string
		wantCursor string
	}{
		{"main: pending message", mainGroup, []m{{"hello", false}}, []string{"hello"}, nil, ts(0)},
		{"trigger group: nothing triggered", familyGroup, []m{{"hello", false}, {"how are you", false}}, nil, nil, ""},
		{"trigger group: one triggered", familyGroup, []m{{"hello", false}, {"@Andy how are you", false}},
			[]string{"hello", "@Andy how are you"}, nil, ts(1)},
		{"no cursor: resume after the assistant's last message", mainGroup,
			[]m{{"old question", false}, {"Andy: old answer", true}, {"new question", false}},
			[]string{"new question"}, []string{"old question", "old answer"}, ts(2)},
		{"no cursor: assistant recognised by its prefix", mainGroup,
			[]m{{"old question", false}, {"Andy: old answer", false}, {"new question", false}},
			[]string{"new question"}, []string{"old question", "old answer"}, ts(2)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, options{})
			h.register(tc.group)
			jid := tc.group.JID
			for i, x := range tc.msgs {
				sm := msg(jid, "m"+string(rune('a'+i)), x.content, i)
				sm.IsBotMessage = x.bot
				h.storeMessage(sm)
			}
			h.start()
			if tc.wantPrompt == nil {
				h.assertIdle()
				return
			}
			r := h.nextRun()
			req := r.request(t)
			for _, s := range tc.wantPrompt {
				if !strings.Contains(req.Prompt, s) {
					t.Errorf("prompt lacks %q:\n%s", s, req.Prompt)
				}
			}
			for _, s := range tc.notPrompt {
				if strings.Contains(req.Prompt, s) {
					t.Errorf("prompt has %q:\n%s", s, req.Prompt)
				}
			}
			r.reply(t, "hi", "")
			h.ch.waitSends(t, jid, 1)
			r.exit(0)
			h.drain()
			if c := h.cursor(jid); c != tc.wantCursor {
				t.Errorf("cursor %q, want %q", c, tc.wantCursor)
			}
			if n := len(h.rt.runs.all()); n != 1 {
				t.Errorf("%d containers, want 1", n)
			}
		})
	}
}

// A message for a group whose container is running goes to that container's run over the
// agent socket as a follow-up: no second container, and the cursor moves past it at once.
func TestFollowUpIsPipedToRunningContainer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.register(mainGroup)
	h.start()
	h.message(msg(mainJID, "m1", "first", 0))
	r := h.nextRun()
	r.request(t)
	if want := h.root + "/data/agents/main/agent.sock"; r.sock != want {
		t.Fatalf("container socket %s, want %s", r.sock, want)
	}

	h.message(msg(mainJID, "m2", "and another thing", 1))
	if c := h.cursor(mainJID); c != ts(1) {
		t.Errorf("cursor %q after the follow-up, want %q", c, ts(1))
	}
	in := r.waitInputs(t, 1)
	want := "<context timezone=\"UTC\" />\n<messages>\n" +
		`<message sender="Alice" time="Jan 1, 2024, 10:01 AM">and another thing</message>` + "\n</messages>"
	if in[0] != want {
		t.Errorf("follow-up input:\n%s\nwant:\n%s", in[0], want)
	}
	h.message(msg(mainJID, "m3", "one more", 2))
	in = r.waitInputs(t, 2)
	if !strings.Contains(in[1], "one more") || strings.Contains(in[1], "and another thing") {
		t.Errorf("second follow-up %q", in[1])
	}
	if c := h.cursor(mainJID); c != ts(2) {
		t.Errorf("cursor %q, want %q", c, ts(2))
	}
	if n := len(h.rt.runs.all()); n != 1 {
		t.Fatalf("%d containers, want 1", n)
	}
	typingOn := 0
	for _, c := range h.ch.calls.all() {
		if c.Kind == "typing" && c.On {
			typingOn++
		}
	}
	if typingOn != 3 {
		t.Errorf("typing switched on %d times, want 3 (the run and each follow-up)", typingOn)
	}

	r.reply(t, "all answered", "")
	h.ch.waitSends(t, mainJID, 1)
	r.waitClose(t) // the idle timeout winds the container down
	r.exit(0)
	h.ch.waitTypingOff(t, mainJID, 1)
	h.drain()
	if n := len(h.rt.runs.all()); n != 1 {
		t.Errorf("%d containers, want 1", n)
	}
	if c := h.cursor(mainJID); c != ts(2) {
		t.Errorf("cursor %q, want %q", c, ts(2))
	}
}

// A follow-up piped to a container that is already on its way out, and so never read, is
// taken back when the container exits and answered by a new run.
func TestUnreadFollowUpGetsNewRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.register(mainGroup)
	h.start()
	h.message(msg(mainJID, "m1", "first", 0))
	r := h.nextRun()
	r.request(t)
	r.stopReading()
	h.message(msg(mainJID, "m2", "too late", 1))
	if c := h.cursor(mainJID); c != ts(1) {
		t.Fatalf("cursor %q, want %q: the follow-up was not piped", c, ts(1))
	}
	if n := h.d.answers.pending(mainJID); n != 2 {
		t.Fatalf("%d inputs in flight, want the prompt and the follow-up", n)
	}
	r.reply(t, "answer to the first", "")
	h.ch.waitSends(t, mainJID, 1)
	r.exit(0)

	r2 := h.nextRun()
	req := r2.request(t)
	if !strings.Contains(req.Prompt, ">too late</message>") || strings.Contains(req.Prompt, ">first</message>") {
		t.Errorf("second run's prompt:\n%s", req.Prompt)
	}
	if len(r2.inputs.all()) != 0 {
		t.Errorf("the unread follow-up was left for the next container too: %q", r2.inputs.all())
	}
	r2.reply(t, "answer to the second", "")
	h.ch.waitSends(t, mainJID, 2)
	r2.exit(0)
	h.drain()
	if sent := h.ch.sends(mainJID); !slices.Equal(sent, []string{"answer to the first", "answer to the second"}) {
		t.Errorf("sent %q", sent)
	}
	if c := h.cursor(mainJID); c != ts(1) {
		t.Errorf("cursor %q, want %q", c, ts(1))
	}
	if n := len(h.rt.runs.all()); n != 2 {
		t.Errorf("%d containers, want 2", n)
	}
}

// Sessions: a reported session is saved as soon as it arrives and resumed by the next run;
// an error saying the session cannot be resumed forgets it.
func TestSessions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		stored string
		script func(t *testing.T, h *harness, r *fakeRun)
		want   string
	}{
		{"new session saved", "", func(t *testing.T, h *harness, r *fakeRun) {
			r.reply(t, "hi", "sess-1")
			h.ch.waitSends(t, mainJID, 1)
			if s := h.session("main"); s != "sess-1" {
				t.Errorf("session %q right after the output, want sess-1", s)
			}
			r.exit(0)
		}, "sess-1"},
		{"stored session resumed", "sess-0", func(t *testing.T, h *harness, r *fakeRun) {
			r.reply(t, "hi", "sess-0")
			r.exit(0)
		}, "sess-0"},
		{"no conversation found clears it", "sess-0", func(t *testing.T, h *harness, r *fakeRun) {
			r.fail(t, "Claude Code process exited with code 1")
			r.logErr(t, "Error: No conversation found with session ID: sess-0\n")
			r.exit(1)
		}, ""},
		{"missing transcript clears it", "sess-0", func(t *testing.T, h *harness, r *fakeRun) {
			r.logErr(t, "ENOENT: no such file or directory, open '/home/node/.claude/projects/-workspace-group/sess-0.jsonl'\n")
			r.exit(1)
		}, ""},
		{"other errors keep it", "sess-0", func(t *testing.T, h *harness, r *fakeRun) {
			r.logErr(t, "Error: rate limited\n")
			r.exit(1)
		}, "sess-0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, options{})
			h.register(mainGroup)
			if tc.stored != "" {
				if err := h.st.SetSession(h.ctx, "main", tc.stored); err != nil {
					t.Fatal(err)
				}
			}
			h.start()
			h.message(msg(mainJID, "m1", "hello", 0))
			r := h.nextRun()
			if req := r.request(t); req.SessionID != tc.stored {
				t.Errorf("request session %q, want %q", req.SessionID, tc.stored)
			}
			tc.script(t, h, r)
			h.ch.waitTypingOff(t, mainJID, 1)
			h.drain()
			if s := h.session("main"); s != tc.want {
				t.Errorf("session %q, want %q", s, tc.want)
			}
		})
	}
}

// routeTo is a route policy that decides some messages itself.
type routeTo struct {
	Policy
	decide func(req *protocol.RouteRequest) (plugin.RouteDecision, bool)
}

func (p routeTo) DecideRoute(ctx context.Context, req *protocol.RouteRequest) plugin.RouteDecision {
	if d, ok := p.decide(req); ok {
		return d
	}
	return p.Policy.DecideRoute(ctx, req)
}

// A route plugin may deliver a message to another group: it joins that group's chat and
// runs there, and is consumed for its own chat (kept, never pending there). Its other
// verdicts: unknown group, no decision, ignore.
func TestRouteDecisions(t *testing.T) {
	t.Parallel()
	const lobbyJID = "test:lobby"
	lobby := store.Group{JID: lobbyJID, Name: "Lobby", Folder: "lobby", RequiresTrigger: true}
	const strangerJID = "test:stranger"
	cases := []struct {
		name       string
		from       string
		verdict    protocol.RouteVerdict
		storedIn   []string // chats where the message is pending for the agent afterwards
		wantRunJID string   // "" for no run
		unseen     bool     // family is registered, but its chat never had a message
	}{
		{"deliver to another group", lobbyJID, protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: "family"}, []string{famJID}, famJID, false},
		{"deliver to a group whose chat was never seen", lobbyJID, protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: "family"}, []string{famJID}, famJID, true},
		{"deliver to the group itself", lobbyJID, protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: "lobby"}, []string{lobbyJID}, lobbyJID, false},
		{"deliver to an unknown group", lobbyJID, protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: "ghost"}, []string{lobbyJID}, "", false},
		{"no decision, registered chat", lobbyJID, protocol.RouteVerdict{}, []string{lobbyJID}, "", false},
		{"no decision, unregistered chat", strangerJID, protocol.RouteVerdict{}, nil, "", false},
		{"ignore", lobbyJID, protocol.RouteVerdict{Action: protocol.ActionIgnore}, nil, "", false},
		{"store", lobbyJID, protocol.RouteVerdict{Action: protocol.ActionStore}, []string{lobbyJID}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, options{policy: func(base Policy) Policy {
				return routeTo{Policy: base, decide: func(req *protocol.RouteRequest) (plugin.RouteDecision, bool) {
					if req.Message.ChatJID != tc.from || req.Message.ID != "x1" {
						return plugin.RouteDecision{}, false
					}
					return plugin.RouteDecision{RouteVerdict: tc.verdict, DecidedBy: "test"}, true
				}}
			}})
			h.register(lobby)
			if tc.unseen {
				h.registerUnseen(familyGroup)
			} else {
				h.register(familyGroup)
			}
			h.start()
			h.message(msg(tc.from, "x1", "what's the plan", 0))
			for _, jid := range []string{lobbyJID, famJID, strangerJID} {
				got, err := h.st.MessagesSince(h.ctx, jid, "", "Andy:", 0)
				if err != nil {
					t.Fatal(err)
				}
				want := slices.Contains(tc.storedIn, jid)
				if (len(got) == 1) != want || len(got) > 1 {
					t.Errorf("%s holds %+v, want the message: %v", jid, got, want)
				}
				if jid == famJID && want && (got[0].ID != "routed:test:lobby:x1" || got[0].Content != "what's the plan") {
					t.Errorf("routed copy %+v", got[0])
				}
			}
			if tc.wantRunJID == "" {
				h.assertIdle()
				return
			}
			r := h.nextRun()
			req := r.request(t)
			if g, _ := h.d.groups.ByJID(tc.wantRunJID); req.ChatJID != tc.wantRunJID || req.GroupFolder != g.Folder {
				t.Errorf("run for %s/%s, want %s", req.ChatJID, req.GroupFolder, tc.wantRunJID)
			}
			if !strings.Contains(req.Prompt, ">what's the plan</message>") {
				t.Errorf("prompt:\n%s", req.Prompt)
			}
			r.reply(t, "at noon", "")
			h.ch.waitSends(t, tc.wantRunJID, 1)
			r.exit(0)
			h.drain()
			for _, jid := range []string{lobbyJID, famJID} {
				want := 0
				if jid == tc.wantRunJID {
					want = 1
				}
				if n := len(h.ch.sends(jid)); n != want {
					t.Errorf("%d replies in %s, want %d", n, jid, want)
				}
			}
			if c := h.cursor(tc.wantRunJID); c != ts(0) {
				t.Errorf("cursor of %s %q, want %q", tc.wantRunJID, c, ts(0))
			}
			if tc.wantRunJID == famJID {
				// Routed once: the lobby's next triggered message does not bring it along.
				h.message(msg(lobbyJID, "x2", "@Andy anything new?", 1))
				if got, _ := h.st.MessagesSince(h.ctx, lobbyJID, "", "Andy:", 0); len(got) != 1 || got[0].ID != "x2" {
					t.Errorf("lobby's pending messages %+v, want only x2", got)
				}
			}
		})
	}
}

// /new (or /reset) in a chat starts a fresh conversation: the session is forgotten, a
// running container is closed, the chat is told, and the command is not part of any prompt.
func TestNewConversationCommand(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{settings: func(s *config.Settings) { s.IdleTimeout = time.Hour }})
	h.register(mainGroup)
	h.start()
	h.message(msg(mainJID, "m1", "remember 42", 0))
	r := h.nextRun()
	r.request(t)
	r.reply(t, "noted", "sess-1")
	h.ch.waitSends(t, mainJID, 1)
	if s := h.session("main"); s != "sess-1" {
		t.Fatalf("session %q", s)
	}
	h.message(msg(mainJID, "m2", "  @andy /NEW ", 1))
	r.waitClose(t)
	if s := h.session("main"); s != "" {
		t.Errorf("session %q after /new, want none", s)
	}
	if sent := h.ch.waitSends(t, mainJID, 2); !strings.HasPrefix(sent[1], "Starting a new conversation") {
		t.Errorf("confirmation %q", sent[1])
	}
	// The closing container's last word does not bring the old session back.
	r.reply(t, "late", "sess-1")
	r.exit(0)
	h.message(msg(mainJID, "m3", "what number?", 2))
	r2 := h.nextRun()
	req := r2.request(t)
	if req.SessionID != "" || strings.Contains(req.Prompt, "/NEW") || strings.Contains(req.Prompt, "remember 42") {
		t.Errorf("request after /new: session %q prompt\n%s", req.SessionID, req.Prompt)
	}
	r2.reply(t, "which number?", "sess-2")
	r2.exit(0)
	h.drain()
	if err := h.d.ResetConversation(h.ctx, "ghost", "test"); err == nil {
		t.Error("a reset of an unknown folder succeeded")
	}
}

// At MaxConcurrentContainers, a further group waits for a free slot and runs as soon as
// one frees up.
func TestConcurrencyCap(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	jids := []string{"test:a", "test:b", "test:c"}
	for _, j := range jids {
		h.register(store.Group{JID: j, Name: j, Folder: strings.TrimPrefix(j, "test:")})
	}
	h.start()
	for i, j := range jids {
		h.message(msg(j, "m", "hello "+j, i))
	}
	if n := h.d.queue.ActiveCount(); n != 2 {
		t.Errorf("%d runs active, want 2", n)
	}
	if w := h.d.queue.Waiting(); !slices.Equal(w, []string{"test:c"}) {
		t.Errorf("waiting %v, want [test:c]", w)
	}
	byJID := map[string]*fakeRun{}
	for range 2 {
		r := h.nextRun()
		byJID[r.request(t).ChatJID] = r
	}
	if byJID["test:a"] == nil || byJID["test:b"] == nil {
		t.Fatalf("first runs %v", byJID)
	}
	byJID["test:a"].reply(t, "done", "")
	byJID["test:a"].exit(0)
	r := h.nextRun()
	if req := r.request(t); req.ChatJID != "test:c" {
		t.Errorf("third run for %s, want test:c", req.ChatJID)
	}
	for _, x := range []*fakeRun{byJID["test:b"], r} {
		x.reply(t, "done", "")
		x.exit(0)
	}
	h.drain()
	for _, j := range jids {
		if sent := h.ch.sends(j); len(sent) != 1 {
			t.Errorf("%s got %q", j, sent)
		}
	}
}

// At the cap, a group that waits gets its slot from the longest-idle container of another
// group, which is closed at once rather than at its idle timeout; a working one keeps going.
func TestIdleContainerYieldsItsSlot(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{settings: func(s *config.Settings) { s.IdleTimeout = time.Hour }})
	jids := []string{"test:a", "test:b", "test:c"}
	for _, j := range jids {
		h.register(store.Group{JID: j, Name: j, Folder: strings.TrimPrefix(j, "test:")})
	}
	h.start()
	runs := map[string]*fakeRun{}
	for i, j := range jids[:2] {
		h.message(msg(j, "m", "hello "+j, i))
		runs[j] = h.nextRun()
		runs[j].request(t)
		runs[j].reply(t, "answered", "")
		h.ch.waitSends(t, j, 1)
	}
	h.message(msg("test:c", "m", "hello c", 2))
	runs["test:a"].waitClose(t) // a went idle first
	select {
	case <-runs["test:b"].closeReq:
		t.Fatal("b was closed too")
	default:
	}
	runs["test:a"].exit(0)
	rc := h.nextRun()
	if req := rc.request(t); req.ChatJID != "test:c" {
		t.Fatalf("the freed slot went to %s", req.ChatJID)
	}
	rc.reply(t, "answered", "")
	h.ch.waitSends(t, "test:c", 1)
	for _, r := range []*fakeRun{runs["test:b"], rc} {
		r.exit(0)
	}
	h.drain()
}

// A follow-up piped after the container's last reply is covered by the in-flight marker
// until the container answers it: a host killed in between gives it again on restart.
func TestFollowUpInFlightUntilAnswered(t *testing.T) {
	t.Parallel()
	// An idle timeout that cannot fire mid-test: under load the harness's 300 ms one closed
	// the container between the first reply and the follow-up (a new run, not a piped input).
	h := newHarness(t, options{settings: func(s *config.Settings) { s.IdleTimeout = time.Hour }})
	h.register(mainGroup)
	h.start()
	marker := func() string {
		t.Helper()
		v, _, err := h.st.State(h.ctx, inflightKey(mainJID))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	h.message(msg(mainJID, "m1", "first", 0))
	r := h.nextRun()
	r.request(t)
	r.reply(t, "first answer", "")
	h.ch.waitSends(t, mainJID, 1)
	if m := marker(); m != "" {
		t.Fatalf("marker %q after the first reply, want none", m)
	}
	h.message(msg(mainJID, "m2", "a follow-up", 1))
	r.waitInputs(t, 1)
	if m := marker(); m != inflightPrefix+ts(0) {
		t.Fatalf("marker %q after the follow-up, want the cursor before it (%q)", m, ts(0))
	}
	r.reply(t, "second answer", "")
	h.ch.waitSends(t, mainJID, 2)
	if m := marker(); m != "" {
		t.Fatalf("marker %q after the follow-up was answered, want none", m)
	}
	r.exit(0)
	h.drain()
}

// A backlog longer than one prompt is worked through a batch at a time, oldest first, with
// nothing skipped: the first batch starts the container, the rest follow as follow-ups.
// Context alone starts nothing; a trigger brings the context just before it.
func TestBacklogInBatches(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{settings: func(s *config.Settings) { s.IdleTimeout = time.Hour }})
	h.register(mainGroup)
	h.register(familyGroup)
	for i := range 25 {
		h.storeMessage(msg(mainJID, fmt.Sprint("b", i), fmt.Sprintf("backlog %d", i), i+1))
	}
	for i := range 15 {
		h.storeMessage(msg(famJID, fmt.Sprint("c", i), fmt.Sprintf("chatter %d", i), i+1))
	}
	for _, jid := range []string{mainJID, famJID} {
		if err := h.st.SetAgentCursor(h.ctx, jid, ts(0)); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	r := h.nextRun()
	req := r.request(t)
	if req.ChatJID != mainJID || !strings.Contains(req.Prompt, ">backlog 0<") || !strings.Contains(req.Prompt, ">backlog 9<") || strings.Contains(req.Prompt, ">backlog 10<") {
		t.Fatalf("first batch for %s:\n%s", req.ChatJID, req.Prompt)
	}
	r.reply(t, "first ten", "")
	in := r.waitInputs(t, 1)
	if !strings.Contains(in[0], ">backlog 10<") || !strings.Contains(in[0], ">backlog 19<") || strings.Contains(in[0], ">backlog 20<") {
		t.Fatalf("second batch:\n%s", in[0])
	}
	r.reply(t, "next ten", "")
	in = r.waitInputs(t, 2)
	if !strings.Contains(in[1], ">backlog 20<") || !strings.Contains(in[1], ">backlog 24<") {
		t.Fatalf("third batch:\n%s", in[1])
	}
	r.reply(t, "last five", "")
	h.ch.waitSends(t, mainJID, 3)
	if len(h.rt.runs.all()) != 1 {
		t.Fatalf("the family's chatter started a run")
	}
	// The trigger brings the context just before it (ten messages in all).
	h.message(msg(famJID, "f1", "@Andy what was that about?", 20))
	rf := h.nextRun()
	req = rf.request(t)
	if !strings.Contains(req.Prompt, ">chatter 6<") || strings.Contains(req.Prompt, ">chatter 5<") || !strings.Contains(req.Prompt, "what was that about?") {
		t.Fatalf("family's prompt:\n%s", req.Prompt)
	}
	rf.reply(t, "it was about plans", "")
	h.ch.waitSends(t, famJID, 1)
	for _, x := range []*fakeRun{r, rf} {
		x.exit(0)
	}
	h.drain()
	if c := h.cursor(mainJID); c != ts(25) {
		t.Errorf("main's cursor %q, want %q", c, ts(25))
	}
}

// Failures reach the chat once and plainly: a failure retrying cannot mend is not retried
// on a timer and is told once (again only after an answer); a transient one is retried and
// told when the retries are spent; an overlong conversation is replaced by a new one.
func TestFailuresAreTold(t *testing.T) {
	t.Parallel()
	fail := func(kind string) func(t *testing.T, r *fakeRun) {
		return func(t *testing.T, r *fakeRun) {
			r.output(t, sandbox.RunOutput{Status: "error", Error: "API error: " + kind, ErrorKind: kind})
			r.exit(1)
		}
	}
	t.Run("permanent", func(t *testing.T) {
		for _, tc := range []struct{ kind, says string }{
			{runproto.ErrorAuth, "refused the host's credentials"},
			{runproto.ErrorBudget, "daily token budget"},
			{runproto.ErrorConfig, "rejected the request"},
		} {
			t.Run(tc.kind, func(t *testing.T) {
				h := newHarness(t, options{})
				h.register(mainGroup)
				h.start()
				for i := range 2 {
					h.message(msg(mainJID, fmt.Sprint("m", i), "question", i))
					fail(tc.kind)(t, h.nextRun())
					h.waitLog("agent failed in a way retrying cannot mend; the messages wait for the next one")
				}
				h.drain()
				sent := h.ch.sends(mainJID)
				if len(sent) != 1 || !strings.Contains(sent[0], tc.says) {
					t.Fatalf("told %q, want once about %q", sent, tc.says)
				}
				if h.logged("message run failed, retrying") {
					t.Error("retried on a timer")
				}
				if c := h.cursor(mainJID); c != justBefore(ts(0)) {
					t.Errorf("cursor %q: the messages should wait", c)
				}
			})
		}
	})
	t.Run("transient until the retries are spent", func(t *testing.T) {
		h := newHarness(t, options{retryBase: time.Millisecond})
		h.register(mainGroup)
		h.start()
		h.message(msg(mainJID, "m0", "question", 0))
		for range 6 { // the run and five retries
			fail(runproto.ErrorTransient)(t, h.nextRun())
		}
		sent := h.ch.waitSends(t, mainJID, 1)
		if !strings.Contains(sent[0], "couldn't reach the model after several tries") || !strings.Contains(sent[0], "API error: transient") {
			t.Fatalf("told %q", sent)
		}
		h.message(msg(mainJID, "m1", "again", 1)) // the next message retries, and is answered
		r := h.nextRun()
		if req := r.request(t); !strings.Contains(req.Prompt, ">question<") {
			t.Fatalf("the waiting message was not retried:\n%s", req.Prompt)
		}
		r.reply(t, "answered both", "")
		r.exit(0)
		h.drain()
	})
	t.Run("an overlong conversation starts afresh", func(t *testing.T) {
		h := newHarness(t, options{})
		h.register(mainGroup)
		if err := h.st.SetSession(h.ctx, "main", "sess-long"); err != nil {
			t.Fatal(err)
		}
		h.start()
		h.message(msg(mainJID, "m0", "question", 0))
		r := h.nextRun()
		if req := r.request(t); req.SessionID != "sess-long" {
			t.Fatalf("session %q", req.SessionID)
		}
		fail(runproto.ErrorContext)(t, r)
		r2 := h.nextRun()
		if req := r2.request(t); req.SessionID != "" || !strings.Contains(req.Prompt, ">question<") {
			t.Fatalf("the retry: session %q prompt\n%s", req.SessionID, req.Prompt)
		}
		r2.reply(t, "answered afresh", "")
		r2.exit(0)
		h.drain()
		if sent := h.ch.sends(mainJID); len(sent) != 2 || !strings.Contains(sent[0], "got too long for the model") {
			t.Fatalf("told %q", sent)
		}
	})
	t.Run("a session that cannot be loaded is told in one line", func(t *testing.T) {
		h := newHarness(t, options{})
		h.register(mainGroup)
		h.start()
		h.message(msg(mainJID, "m0", "question", 0))
		r := h.nextRun()
		// An agent's notice is hostile text: one line, capped, answering nothing.
		r.output(t, sandbox.RunOutput{Status: runproto.StatusNotice, Notice: "fresh start" + strings.Repeat("x", 400) + "\nsecond line"})
		sent := h.ch.waitSends(t, mainJID, 1)
		if !strings.HasPrefix(sent[0], "fresh start") || len(sent[0]) > 300 || strings.Contains(sent[0], "second line") {
			t.Fatalf("told %q", sent[0])
		}
		if want := "cursor:" + justBefore(ts(0)); h.inflight(mainJID) != want {
			t.Errorf("a notice answered the message: in-flight marker %q", h.inflight(mainJID))
		}
		r.reply(t, "the answer", "")
		r.exit(0)
		h.drain()
		if sent := h.ch.sends(mainJID); len(sent) != 2 || sent[1] != "the answer" {
			t.Fatalf("sent %q", sent)
		}
	})
	t.Run("missing image", func(t *testing.T) {
		h := newHarness(t, options{})
		h.register(mainGroup)
		h.start()
		h.rt.failNextStart(fmt.Errorf("create container x: %w: nanoclaw-agent:latest", sandbox.ErrNoImage))
		h.message(msg(mainJID, "m0", "question", 0))
		h.waitLog("agent failed in a way retrying cannot mend; the messages wait for the next one")
		h.drain()
		if sent := h.ch.sends(mainJID); len(sent) != 1 || !strings.Contains(sent[0], "make image") {
			t.Fatalf("told %q", sent)
		}
	})
}
