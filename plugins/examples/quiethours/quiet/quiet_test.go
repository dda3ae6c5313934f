package quiet

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the same zone database the plugin embeds, whatever the machine has

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// fakeFacts is a host with a settable clock, a fixed document and a log to inspect.
type fakeFacts struct {
	now  time.Time
	doc  protocol.ConfigDoc
	ok   bool
	logs []string
}

func (f *fakeFacts) Now() time.Time                     { return f.now }
func (f *fakeFacts) Config() (protocol.ConfigDoc, bool) { return f.doc, f.ok }
func (f *fakeFacts) Log(msg string)                     { f.logs = append(f.logs, msg) }

func withConfig(content string) *fakeFacts {
	return &fakeFacts{ok: true, doc: protocol.ConfigDoc{Name: ConfigName, Path: "/cfg/quiethours.json", Exists: true, Content: []byte(content)}}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

var (
	family    = protocol.Group{JID: "fam@g.us", Folder: "family", Trigger: "@Andy", RequiresTrigger: true}
	mainGroup = protocol.Group{JID: "me@s.whatsapp.net", Folder: "main", IsMain: true}
)

func req(g *protocol.Group, bot bool) *protocol.RouteRequest {
	return &protocol.RouteRequest{Message: protocol.Message{ChatJID: "fam@g.us", Sender: "alice", Content: "@Andy hi", IsBotMessage: bot}, Group: g, AssistantName: "Andy"}
}

const london = `{"start":"22:00","end":"07:00","timezone":"Europe/London","exceptMain":true}`

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		facts *fakeFacts
		now   string // UTC
		req   *protocol.RouteRequest
		quiet bool // ActionStore "quiet hours"; else ActionNone
		log   string
	}{
		{"summer 22:30 BST is quiet", withConfig(london), "2024-07-01T21:30:00Z", req(&family, false), true, ""},
		{"winter 21:30 GMT is not", withConfig(london), "2024-01-15T21:30:00Z", req(&family, false), false, ""},
		{"winter 22:00 GMT: start is inclusive", withConfig(london), "2024-01-15T22:00:00Z", req(&family, false), true, ""},
		{"06:59 still quiet", withConfig(london), "2024-01-16T06:59:59Z", req(&family, false), true, ""},
		{"07:00: end is exclusive", withConfig(london), "2024-01-16T07:00:00Z", req(&family, false), false, ""},
		{"midnight", withConfig(london), "2024-01-16T00:00:00Z", req(&family, false), true, ""},
		{"noon", withConfig(london), "2024-01-16T12:00:00Z", req(&family, false), false, ""},
		{"main is exempt", withConfig(london), "2024-01-16T00:00:00Z", req(&mainGroup, false), false, ""},
		{"exceptMain defaults to true", withConfig(`{"start":"22:00","end":"07:00"}`), "2024-01-16T00:00:00Z", req(&mainGroup, false), false, ""},
		{"exceptMain false quiets main too", withConfig(`{"start":"22:00","end":"07:00","exceptMain":false}`), "2024-01-16T00:00:00Z", req(&mainGroup, false), true, ""},
		{"a window within one day", withConfig(`{"start":"12:00","end":"13:30"}`), "2024-01-16T13:29:00Z", req(&family, false), true, ""},
		{"after a window within one day", withConfig(`{"start":"12:00","end":"13:30"}`), "2024-01-16T13:30:00Z", req(&family, false), false, ""},
		{"unregistered chat left to the router", withConfig(london), "2024-01-16T00:00:00Z", req(nil, false), false, ""},
		{"bot message left to the router", withConfig(london), "2024-01-16T00:00:00Z", req(&family, true), false, ""},
		{"no file: nothing", &fakeFacts{ok: true}, "2024-01-16T00:00:00Z", req(&family, false), false, ""},
		{"no document: nothing", &fakeFacts{}, "2024-01-16T00:00:00Z", req(&family, false), false, ""},
		{"invalid file: nothing, logged", withConfig(`{"start":"22:00","ends":"07:00"}`), "2024-01-16T00:00:00Z", req(&family, false), false,
			`/cfg/quiethours.json: invalid quiet hours config: "ends": unknown field; quiet hours are off`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.facts.now = utc(tt.now)
			v := New(tt.facts).Decide(tt.req)
			want := protocol.RouteVerdict{}
			if tt.quiet {
				want = protocol.RouteVerdict{Action: protocol.ActionStore, Reason: ReasonQuiet}
			}
			if v != want {
				t.Errorf("Decide = %+v, want %+v", v, want)
			}
			if logs := strings.Join(tt.facts.logs, "\n"); logs != tt.log {
				t.Errorf("log %q, want %q", logs, tt.log)
			}
		})
	}
}

// The policy follows the document as it changes, parsing (and complaining) once per change.
func TestDecideFollowsConfig(t *testing.T) {
	f := withConfig(london)
	f.now = utc("2024-01-16T23:00:00Z")
	p := New(f)
	steps := []struct {
		name   string
		change func()
		quiet  bool
		logs   int // total so far
	}{
		{"quiet", func() {}, true, 0},
		{"window moved", func() { f.doc.Content = []byte(`{"start":"08:00","end":"09:00"}`) }, false, 0},
		{"broken", func() { f.doc.Content = []byte(`{"start":"8"}`) }, false, 1},
		{"still broken: logged once", func() {}, false, 1},
		{"fixed", func() { f.doc.Content = []byte(london) }, true, 1},
		{"removed", func() { f.doc = protocol.ConfigDoc{} }, false, 1},
		{"back", func() { f.doc = withConfig(london).doc }, true, 1},
	}
	for _, s := range steps {
		s.change()
		got := p.Decide(req(&family, false)).Action == protocol.ActionStore
		if got != s.quiet || len(f.logs) != s.logs {
			t.Errorf("%s: quiet %v with %d log lines, want %v with %d: %q", s.name, got, len(f.logs), s.quiet, s.logs, f.logs)
		}
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		content    string
		start, end int
		zone       string
		exceptMain bool
		err        string // substring; "" means valid
	}{
		{london, 22 * 60, 7 * 60, "Europe/London", true, ""},
		{`{"start":"7:05","end":"23:59","exceptMain":false}`, 7*60 + 5, 23*60 + 59, "UTC", false, ""},
		{`{"start":"00:00","end":"00:01","timezone":""}`, 0, 1, "UTC", true, ""},
		{`{"start":"10:00","end":"11:00","timezone":"UTC"}`, 600, 660, "UTC", true, ""},
		{`{"start":"10:00","end":"11:00","timezone":"America/New_York"}`, 600, 660, "America/New_York", true, ""},

		{``, 0, 0, "", false, "invalid quiet hours config"},
		{`[]`, 0, 0, "", false, "want a JSON object"},
		{`{"end":"07:00"}`, 0, 0, "", false, `"start" and "end" are required`},
		{`{"start":"07:00","end":"7:00"}`, 0, 0, "", false, "are equal"},
		{`{"start":"24:00","end":"07:00"}`, 0, 0, "", false, "not a time of day"},
		{`{"start":"22:60","end":"07:00"}`, 0, 0, "", false, "not a time of day"},
		{`{"start":"22:0","end":"07:00"}`, 0, 0, "", false, `want "HH:MM"`},
		{`{"start":"022:00","end":"07:00"}`, 0, 0, "", false, `want "HH:MM"`},
		{`{"start":"-1:00","end":"07:00"}`, 0, 0, "", false, "not a time of day"},
		{`{"start":2200,"end":"07:00"}`, 0, 0, "", false, `want "HH:MM"`},
		{`{"start":"22:00","end":"07:00","timezone":"Mars/Olympus"}`, 0, 0, "", false, `unknown time zone "Mars/Olympus"`},
		{`{"start":"22:00","end":"07:00","timezone":"Local"}`, 0, 0, "", false, "ambiguous"},
		{`{"start":"22:00","end":"07:00","timezone":1}`, 0, 0, "", false, "want a string"},
		{`{"start":"22:00","end":"07:00","exceptMain":"yes"}`, 0, 0, "", false, "must be true or false"},
		{`{"start":"22:00","end":"07:00","exceptmain":false}`, 0, 0, "", false, "unknown field"},
	}
	for _, tt := range tests {
		w, err := ParseConfig([]byte(tt.content))
		if tt.err != "" {
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseConfig(%s): err %v, want %q", tt.content, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseConfig(%s): %v", tt.content, err)
			continue
		}
		if w.Start != tt.start || w.End != tt.end || w.Loc.String() != tt.zone || w.ExceptMain != tt.exceptMain {
			t.Errorf("ParseConfig(%s) = %+v (zone %s)", tt.content, w, w.Loc)
		}
	}
}

// reportingFacts also keeps what the policy reported about its config document.
type reportingFacts struct {
	*fakeFacts
	problem string
	reports int
}

func (f *reportingFacts) Problem(msg string) { f.problem, f.reports = msg, f.reports+1 }

// TestConfigProblemReported: an invalid document is reported once per change, naming the
// file and saying quiet hours are off; fixing or removing it clears the report; even a call
// for an unregistered chat (the host's self-check) looks at the document.
func TestConfigProblemReported(t *testing.T) {
	f := &reportingFacts{fakeFacts: withConfig(`{"start":"25:00","end":"07:00"}`)}
	f.now = utc("2024-01-15T23:00:00Z")
	p := New(f)
	steps := []struct {
		name    string
		change  func()
		problem string
		reports int
	}{
		{"invalid", func() {}, "/cfg/quiethours.json", 1},
		{"unchanged", func() {}, "quiet hours are off", 1},
		{"fixed", func() { f.doc.Content = []byte(london) }, "", 2},
		{"broken again", func() { f.doc.Content = []byte(`{`) }, "quiet hours are off", 3},
		{"removed", func() { f.doc = protocol.ConfigDoc{} }, "", 4},
		{"still removed", func() {}, "", 4},
	}
	for _, s := range steps {
		s.change()
		p.Decide(req(nil, false))
		if f.reports != s.reports || (s.problem == "") != (f.problem == "") || !strings.Contains(f.problem, s.problem) {
			t.Fatalf("%s: %d reports, problem %q; want %d, %q", s.name, f.reports, f.problem, s.reports, s.problem)
		}
	}
}
