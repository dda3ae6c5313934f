package routepolicy

import (
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// fakeFacts is a host with a fixed allowlist document, and a log and the last reported
// problem to inspect.
type fakeFacts struct {
	doc     protocol.ConfigDoc
	ok      bool
	logs    []string
	problem string
	reports int
}

func (f *fakeFacts) Config() (protocol.ConfigDoc, bool) { return f.doc, f.ok }
func (f *fakeFacts) Log(msg string)                     { f.logs = append(f.logs, msg) }
func (f *fakeFacts) Problem(msg string)                 { f.problem, f.reports = msg, f.reports+1 }

// withList is a host whose allowlist file holds content.
func withList(content string) *fakeFacts {
	return &fakeFacts{ok: true, doc: protocol.ConfigDoc{Name: ConfigName, Path: "/cfg/sender-allowlist.json", Exists: true, Content: []byte(content)}}
}

var (
	family    = protocol.Group{JID: "fam@g.us", Folder: "family", Name: "Family", Trigger: "@Andy", RequiresTrigger: true}
	mainGroup = protocol.Group{JID: "main@s.whatsapp.net", Folder: "main", Name: "Main", Trigger: "@Andy", RequiresTrigger: true, IsMain: true}
	chatty    = protocol.Group{JID: "chat@g.us", Folder: "chatty", Name: "Chatty", Trigger: "@Andy", RequiresTrigger: false}
	claw      = protocol.Group{JID: "claw@g.us", Folder: "claw", Name: "Claw", Trigger: "  @Claw ", RequiresTrigger: true}
	noTrigger = protocol.Group{JID: "def@g.us", Folder: "def", Name: "Default", RequiresTrigger: true}
)

// req builds a request in group g (nil: unregistered) from sender saying content.
func req(g *protocol.Group, sender, content string, opts ...func(*protocol.RouteRequest)) *protocol.RouteRequest {
	r := &protocol.RouteRequest{
		Message:       protocol.Message{ID: "m1", ChatJID: "unknown@g.us", Sender: sender, SenderName: sender, Content: content, Timestamp: "2024-01-01T00:00:00Z"},
		AssistantName: "Andy",
	}
	if g != nil {
		gc := *g
		r.Group = &gc
		r.Message.ChatJID = g.JID
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func fromMe(r *protocol.RouteRequest) { r.Message.IsFromMe = true }
func bot(r *protocol.RouteRequest)    { r.Message.IsBotMessage = true }

const (
	aliceOnly      = `{"default":{"allow":["alice"],"mode":"trigger"},"chats":{},"logDenied":true}`
	aliceOnlyQuiet = `{"default":{"allow":["alice"],"mode":"trigger"},"logDenied":false}`
	aliceDrop      = `{"default":{"allow":["alice"],"mode":"drop"}}`
	denyAll        = `{"default":{"allow":[],"mode":"trigger"}}`
	perChat        = `{"default":{"allow":"*","mode":"trigger"},"chats":{"fam@g.us":{"allow":["alice"],"mode":"drop"}}}`
	badChatEntry   = `{"default":{"allow":["alice"],"mode":"trigger"},"chats":{"fam@g.us":{"allow":123}}}`
	openBadChat    = `{"default":{"allow":"*","mode":"trigger"},"chats":{"fam@g.us":{"allow":["alice"],"mode":"dorp"}}}`
)

func TestDecide(t *testing.T) {
	noFile := &fakeFacts{ok: true, doc: protocol.ConfigDoc{Name: ConfigName, Exists: false}}
	tests := []struct {
		name   string
		facts  *fakeFacts
		req    *protocol.RouteRequest
		action string
		group  string
		reason string
		log    string // a substring the log must contain; "" means nothing logged
	}{
		// Registration and the assistant's own messages.
		{"unregistered chat", noFile, req(nil, "alice", "@Andy hi"), protocol.ActionIgnore, "", ReasonUnregistered, ""},
		{"bot message in main", noFile, req(&mainGroup, "me", "hello", bot), protocol.ActionStore, "", ReasonBotMessage, ""},
		{"bot message with trigger", noFile, req(&family, "me", "@Andy hi", bot), protocol.ActionStore, "", ReasonBotMessage, ""},

		// formatting.test.ts: trigger gating matrix.
		{"main needs no trigger", noFile, req(&mainGroup, "alice", "hello no trigger"), protocol.ActionDeliver, "main", ReasonMain, ""},
		{"requiresTrigger true, no trigger", noFile, req(&family, "alice", "hello no trigger"), protocol.ActionStore, "", ReasonNoTrigger, ""},
		{"requiresTrigger true, trigger", noFile, req(&family, "alice", "@Andy do something"), protocol.ActionDeliver, "family", "trigger @Andy", ""},
		{"requiresTrigger false", noFile, req(&chatty, "alice", "hello no trigger"), protocol.ActionDeliver, "chatty", ReasonNotRequired, ""},
		{"trigger not at start", noFile, req(&family, "alice", "hello @Andy"), protocol.ActionStore, "", ReasonNoTrigger, ""},
		{"trigger prefix of a word", noFile, req(&family, "alice", "@Andyextra hi"), protocol.ActionStore, "", ReasonNoTrigger, ""},
		{"trigger lower case, padded", noFile, req(&family, "alice", "  @andy's list"), protocol.ActionDeliver, "family", "trigger @Andy", ""},
		{"custom trigger replaces the default", noFile, req(&claw, "alice", "@Claw hi"), protocol.ActionDeliver, "claw", "trigger @Claw", ""},
		{"default trigger not valid for custom", noFile, req(&claw, "alice", "@Andy hi"), protocol.ActionStore, "", ReasonNoTrigger, ""},
		{"empty trigger means @assistant", noFile, req(&noTrigger, "alice", "@Andy hi"), protocol.ActionDeliver, "def", "trigger @Andy", ""},
		{"empty trigger, other assistant name", noFile, req(&noTrigger, "alice", "@Bob hi", func(r *protocol.RouteRequest) { r.AssistantName = "Bob" }), protocol.ActionDeliver, "def", "trigger @Bob", ""},

		// sender-allowlist.test.ts and index.ts: trigger mode.
		{"allowed sender triggers", withList(aliceOnly), req(&family, "alice", "@Andy hi"), protocol.ActionDeliver, "family", "trigger @Andy", ""},
		{"denied trigger is stored and logged", withList(aliceOnly), req(&family, "eve", "@Andy hi"), protocol.ActionStore, "", ReasonDenied, "trigger denied for sender eve in fam@g.us"},
		{"denied trigger, logDenied false", withList(aliceOnlyQuiet), req(&family, "eve", "@Andy hi"), protocol.ActionStore, "", ReasonDenied, ""},
		{"denied sender without trigger: stored, not logged", withList(aliceOnly), req(&family, "eve", "hello"), protocol.ActionStore, "", ReasonNoTrigger, ""},
		{"from me always may trigger", withList(denyAll), req(&family, "me", "@Andy hi", fromMe), protocol.ActionDeliver, "family", "trigger @Andy", ""},
		{"[] denies everyone", withList(denyAll), req(&family, "alice", "@Andy hi"), protocol.ActionStore, "", ReasonDenied, "trigger denied"},
		{"trigger mode does not gate main", withList(denyAll), req(&mainGroup, "eve", "hello"), protocol.ActionDeliver, "main", ReasonMain, ""},
		{"trigger mode does not gate requiresTrigger false", withList(denyAll), req(&chatty, "eve", "hello"), protocol.ActionDeliver, "chatty", ReasonNotRequired, ""},

		// Drop mode.
		{"drop: denied sender ignored", withList(aliceDrop), req(&family, "eve", "@Andy hi"), protocol.ActionIgnore, "", ReasonDropped, "dropping message from denied sender eve"},
		{"drop: applies to main too", withList(aliceDrop), req(&mainGroup, "eve", "hello"), protocol.ActionIgnore, "", ReasonDropped, "dropping"},
		{"drop: allowed sender triggers", withList(aliceDrop), req(&family, "alice", "@Andy hi"), protocol.ActionDeliver, "family", "trigger @Andy", ""},
		{"drop: allowed sender without trigger stored", withList(aliceDrop), req(&family, "alice", "hi"), protocol.ActionStore, "", ReasonNoTrigger, ""},
		{"drop: from me kept", withList(aliceDrop), req(&family, "me", "@Andy hi", fromMe), protocol.ActionDeliver, "family", "trigger @Andy", ""},
		{"drop: bot message kept", withList(aliceDrop), req(&family, "bot", "hi", bot), protocol.ActionStore, "", ReasonBotMessage, ""},

		// Per-chat overrides.
		{"chat entry overrides default", withList(perChat), req(&family, "eve", "@Andy hi"), protocol.ActionIgnore, "", ReasonDropped, "dropping"},
		{"other chats keep the default", withList(perChat), req(&claw, "eve", "@Claw hi"), protocol.ActionDeliver, "claw", "trigger @Claw", ""},
		{"invalid chat entry closes the chat", withList(badChatEntry), req(&family, "alice", "@Andy hi"), protocol.ActionStore, "", ReasonDenied, "invalid entry for chat fam@g.us"},
		{"invalid chat entry under an open default", withList(openBadChat), req(&family, "eve", "@Andy hi"), protocol.ActionStore, "", ReasonDenied, "no sender may trigger there"},
		{"other chats keep an open default", withList(openBadChat), req(&claw, "eve", "@Claw hi"), protocol.ActionDeliver, "claw", "trigger @Claw", "invalid entry for chat fam@g.us"},

		// No file: no allowlist. A file that cannot be used: no sender may trigger.
		{"no file: everyone allowed", noFile, req(&family, "eve", "@Andy hi"), protocol.ActionDeliver, "family", "trigger @Andy", ""},
		{"no document at all", &fakeFacts{}, req(&family, "eve", "@Andy hi"), protocol.ActionDeliver, "family", "trigger @Andy", ""},
		{"invalid JSON", withList(`{ not valid json }}}`), req(&family, "eve", "@Andy hi"), protocol.ActionStore, "", ReasonDenied, "invalid sender allowlist: not JSON"},
		{"invalid default", withList(`{"default":{"oops":true}}`), req(&family, "eve", "@Andy hi"), protocol.ActionStore, "", ReasonDenied, "no sender may trigger until it is fixed"},
		{"non-string items", withList(`{"default":{"allow":[123,null,true],"mode":"drop"}}`), req(&family, "eve", "@Andy hi"), protocol.ActionStore, "", ReasonDenied, "only strings"},
		{"empty file", withList(``), req(&family, "alice", "@Andy hi"), protocol.ActionStore, "", ReasonDenied, "/cfg/sender-allowlist.json: invalid sender allowlist"},
		{"unreadable file", &fakeFacts{ok: true, doc: protocol.ConfigDoc{Path: "/cfg/sender-allowlist.json", Error: "permission denied"}}, req(&family, "eve", "@Andy hi"), protocol.ActionStore, "", ReasonDenied, "cannot read /cfg/sender-allowlist.json: permission denied"},
		{"invalid file: the account itself still triggers", withList(`{`), req(&family, "me", "@Andy hi", fromMe), protocol.ActionDeliver, "family", "trigger @Andy", "not JSON"},
		{"invalid file: main still gets messages", withList(`{`), req(&mainGroup, "eve", "hello"), protocol.ActionDeliver, "main", ReasonMain, "not JSON"},
		{"invalid file: messages without a trigger are stored", withList(`{`), req(&family, "eve", "hello"), protocol.ActionStore, "", ReasonNoTrigger, "not JSON"},

		// A group without a folder cannot be delivered to.
		{"no folder", noFile, req(&protocol.Group{JID: "x@g.us", IsMain: true}, "alice", "hi"), protocol.ActionStore, "", ReasonNoFolder, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.facts.logs = nil
			v := New(tt.facts).Decide(tt.req)
			if v.Action != tt.action || v.Group != tt.group || v.Reason != tt.reason {
				t.Errorf("Decide = %+v, want {Action:%s Group:%s Reason:%s}", v, tt.action, tt.group, tt.reason)
			}
			logs := strings.Join(tt.facts.logs, "\n")
			if tt.log == "" && logs != "" {
				t.Errorf("unexpected log: %s", logs)
			}
			if !strings.Contains(logs, tt.log) {
				t.Errorf("log %q does not contain %q", logs, tt.log)
			}
			// Every verdict must be one the host accepts.
			var back protocol.RouteVerdict
			if err := back.UnmarshalJSON(v.AppendJSON(nil)); err != nil {
				t.Errorf("verdict %+v is malformed: %v", v, err)
			}
		})
	}
}

// The router parses again when, and only when, the document's bytes change, even if the
// host reuses the same buffer.
func TestRouterFollowsConfigChanges(t *testing.T) {
	f := withList(aliceOnly)
	r := New(f)
	eve := req(&family, "eve", "@Andy hi")
	steps := []struct {
		name    string
		change  func()
		action  string
		newLogs int
	}{
		{"alice only", func() {}, protocol.ActionStore, 1},
		{"same bytes: same answer", func() {}, protocol.ActionStore, 1},
		{"bytes rewritten in place", func() { copy(f.doc.Content, strings.Replace(aliceOnly, `["alice"]`, `"*"      `, 1)) }, protocol.ActionDeliver, 0},
		{"broken file logged once", func() { f.doc.Content = []byte(`{`) }, protocol.ActionStore, 1},
		{"still broken: no new log", func() {}, protocol.ActionStore, 0},
		{"drop mode", func() { f.doc.Content = []byte(aliceDrop) }, protocol.ActionIgnore, 1},
		{"file removed", func() { f.doc = protocol.ConfigDoc{} }, protocol.ActionDeliver, 0},
		{"file back", func() { f.doc = withList(aliceDrop).doc }, protocol.ActionIgnore, 1},
		{"no document", func() { f.ok = false }, protocol.ActionDeliver, 0},
	}
	for _, s := range steps {
		s.change()
		before := len(f.logs)
		if v := r.Decide(eve); v.Action != s.action {
			t.Errorf("%s: action %q, want %q (%s)", s.name, v.Action, s.action, v.Reason)
		}
		if got := len(f.logs) - before; got != s.newLogs {
			t.Errorf("%s: %d new log lines, want %d: %q", s.name, got, s.newLogs, f.logs[before:])
		}
	}
}

// TestTruncatedAllowlistFailsClosed is the attack of a truncated sender allowlist, which
// made the router allow every sender: every prefix of a valid file that is not itself a
// valid file lets no sender trigger, and the router reports the file as a problem (naming
// it), which it clears once the file is whole again.
func TestTruncatedAllowlistFailsClosed(t *testing.T) {
	full := `{"default":{"allow":["alice"],"mode":"trigger"},"chats":{"claw@g.us":{"allow":"*","mode":"trigger"}},"logDenied":true}`
	for n := range len(full) {
		content := full[:n]
		if _, err := ParseAllowlist([]byte(content)); err == nil {
			continue // a prefix that is a valid file on its own (none here, but say so)
		}
		f := withList(content)
		r := New(f)
		for _, g := range []*protocol.Group{&family, &claw, &noTrigger} {
			for _, sender := range []string{"alice", "eve"} {
				q := req(g, sender, "@Andy hi @Claw hi")
				q.Message.Content = jsTrim(g.Trigger) + " hi"
				if jsTrim(g.Trigger) == "" {
					q.Message.Content = "@Andy hi"
				}
				if v := r.Decide(q); v.Action == protocol.ActionDeliver {
					t.Fatalf("file truncated to %q: %s in %s triggered: %+v", content, sender, g.Folder, v)
				}
			}
		}
		if !strings.Contains(f.problem, "/cfg/sender-allowlist.json") || !strings.Contains(f.problem, "no sender may trigger") {
			t.Fatalf("file truncated to %q: reported problem %q", content, f.problem)
		}
		f.doc.Content = []byte(full)
		if v := r.Decide(req(&family, "alice", "@Andy hi")); v.Action != protocol.ActionDeliver || f.problem != "" {
			t.Fatalf("after the file was fixed: %+v, problem %q", v, f.problem)
		}
	}
}

// TestProblemReportedOncePerChange: the router tells the host about the file only when
// the document changes, and says it is fine when it is.
func TestProblemReportedOncePerChange(t *testing.T) {
	f := withList(`{`)
	r := New(f)
	for range 3 {
		r.Decide(req(nil, "eve", "hi")) // an unregistered chat is enough to look at the file
	}
	if f.reports != 1 || !strings.Contains(f.problem, "not JSON") {
		t.Fatalf("%d reports, last %q", f.reports, f.problem)
	}
	f.doc.Content = []byte(aliceOnly)
	r.Decide(req(nil, "eve", "hi"))
	if f.reports != 2 || f.problem != "" {
		t.Fatalf("after the fix: %d reports, last %q", f.reports, f.problem)
	}
	f.doc = protocol.ConfigDoc{Name: ConfigName, Path: "/cfg/sender-allowlist.json"}
	r.Decide(req(nil, "eve", "hi"))
	if f.reports != 3 || f.problem != "" {
		t.Fatalf("a missing file is no problem: %d reports, last %q", f.reports, f.problem)
	}
}

// A decision on the usual paths allocates nothing once the allowlist is parsed: inside the
// guest every allocation is paid in a call with a deadline.
func TestDecideAllocs(t *testing.T) {
	r := New(withList(`{"default":{"allow":["alice","bob"],"mode":"trigger"},"chats":{"x@g.us":{"allow":"*","mode":"drop"}}}`))
	reqs := []*protocol.RouteRequest{
		req(&family, "alice", "@Andy hi"),
		req(&noTrigger, "alice", "@Andy hi"),
		req(&family, "alice", "hello"),
		req(&mainGroup, "bob", "hello"),
		req(nil, "bob", "hello"),
	}
	for _, q := range reqs {
		r.Decide(q) // warm the caches
		if n := testing.AllocsPerRun(100, func() { r.Decide(q) }); n != 0 {
			t.Errorf("%q in %v: %v allocations per decision", q.Message.Content, q.Group, n)
		}
	}
}

// FuzzDecide checks the invariants no configuration or message may break: never deliver for
// an unregistered chat or a bot message, deliver only to the request's group folder, give a
// verdict the host accepts, gate triggered delivery on a trigger match, and never panic.
func FuzzDecide(f *testing.F) {
	f.Add(aliceOnly, "eve", "@Andy hi", "@Andy", "Andy", "family", uint8(0b000111))
	f.Add(aliceDrop, "eve", "hi", "", "Andy", "family", uint8(0b100111))
	f.Add(perChat, "alice", "@Claw x", "@Claw", "Andy", "claw", uint8(0b000011))
	f.Add(`{`, "", "", "", "", "", uint8(0))
	f.Add(denyAll, "x", "@A", "", "A", "f", uint8(0xff))
	f.Fuzz(func(t *testing.T, list, sender, content, trigger, assistant, folder string, flags uint8) {
		facts := &fakeFacts{ok: flags&0b1 != 0, doc: protocol.ConfigDoc{Exists: flags&0b10000000 == 0, Content: []byte(list)}}
		q := &protocol.RouteRequest{
			Message: protocol.Message{ChatJID: "fam@g.us", Sender: sender, Content: content,
				IsFromMe: flags&0b1000 != 0, IsBotMessage: flags&0b10000 != 0},
			AssistantName: assistant,
		}
		if flags&0b10 != 0 {
			q.Group = &protocol.Group{JID: "fam@g.us", Folder: folder, Trigger: trigger,
				RequiresTrigger: flags&0b100 != 0, IsMain: flags&0b100000 != 0}
		}
		r := New(facts)
		v := r.Decide(q)
		if again := r.Decide(q); again != v {
			t.Fatalf("not deterministic: %+v then %+v", v, again)
		}
		var back protocol.RouteVerdict
		if err := back.UnmarshalJSON(v.AppendJSON(nil)); err != nil {
			t.Fatalf("malformed verdict %+v: %v", v, err)
		}
		if v.Action == protocol.ActionNone {
			t.Fatalf("the default router must always decide: %+v", v)
		}
		if v.Action != protocol.ActionDeliver {
			return
		}
		switch {
		case q.Group == nil:
			t.Fatalf("delivered for an unregistered chat: %+v", v)
		case q.Message.IsBotMessage:
			t.Fatalf("delivered a bot message: %+v", v)
		case v.Group != q.Group.Folder || v.Group == "":
			t.Fatalf("delivered to %q, group folder is %q", v.Group, q.Group.Folder)
		}
		_, parseErr := ParseAllowlist([]byte(list))
		unusable := facts.ok && facts.doc.Exists && parseErr != nil
		if g := q.Group; unusable && !g.IsMain && g.RequiresTrigger && !q.Message.IsFromMe {
			t.Fatalf("the allowlist %q is invalid, yet %q triggered: %+v", list, sender, v)
		}
		if g := q.Group; !g.IsMain && g.RequiresTrigger {
			want := jsTrim(g.Trigger)
			if want == "" {
				want = "@" + assistant
			}
			if !MatchTrigger(content, want) {
				t.Fatalf("delivered without the trigger %q: %+v", want, v)
			}
		}
	})
}
