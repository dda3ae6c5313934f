package plugin

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// minimalManifest is the smallest manifest that loads.
const minimalManifest = `{"name":"quiethours","kind":"route","abi":1}`

// withField returns the minimal manifest with one more top-level member.
func withField(member string) string {
	return strings.TrimSuffix(minimalManifest, "}") + "," + member + "}"
}

// TestParseManifest checks defaults and that every kind of mistake is refused with an error
// naming it: a manifest the host misreads would run a plugin with limits nobody chose.
func TestParseManifest(t *testing.T) {
	defaults := Limits{MemoryMiB: 32, DeadlineMs: 250, MaxRequestBytes: 65536, MaxVerdictBytes: 16384}
	cases := []struct {
		name string
		doc  string
		want *Manifest // nil when an error is expected
		err  string    // text the error must contain
	}{
		{"minimal gets defaults", minimalManifest,
			&Manifest{Name: "quiethours", Kind: protocol.KindRoute, ABI: 1, Limits: defaults, Order: 100}, ""},
		{"ABI.md example", `{
			"name": "quiethours", "kind": "route", "abi": 1, "capabilities": ["log", "clock"],
			"limits": {"memoryMiB": 32, "deadlineMs": 250, "maxRequestBytes": 65536, "maxVerdictBytes": 16384, "instances": 0},
			"order": 100, "config": "mount-allowlist", "description": "free text"}`,
			&Manifest{Name: "quiethours", Kind: protocol.KindRoute, ABI: 1, Capabilities: []string{"log", "clock"},
				Limits: defaults, Order: 100, Config: "mount-allowlist", Description: "free text"}, ""},
		{"explicit limits kept", withField(`"limits":{"memoryMiB":256,"deadlineMs":5000,"maxRequestBytes":1,"maxVerdictBytes":2,"instances":16},"order":1000`),
			&Manifest{Name: "quiethours", Kind: protocol.KindRoute, ABI: 1,
				Limits: Limits{MemoryMiB: 256, DeadlineMs: 5000, MaxRequestBytes: 1, MaxVerdictBytes: 2, Instances: 16}, Order: 1000}, ""},
		{"every capability", withField(`"capabilities":["log","clock","path","groups","kv","config"]`),
			&Manifest{Name: "quiethours", Kind: protocol.KindRoute, ABI: 1, Capabilities: abi.Capabilities(), Limits: defaults, Order: 100}, ""},
		{"mount kind", `{"name":"m","kind":"mount","abi":1}`,
			&Manifest{Name: "m", Kind: protocol.KindMount, ABI: 1, Limits: defaults, Order: 100}, ""},
		{"ipc kind, longest name", `{"name":"` + strings.Repeat("a", 64) + `","kind":"ipc","abi":1}`,
			&Manifest{Name: strings.Repeat("a", 64), Kind: protocol.KindIPC, ABI: 1, Limits: defaults, Order: 100}, ""},
		{"name with digits dash underscore", `{"name":"0a_b-c","kind":"ipc","abi":1}`,
			&Manifest{Name: "0a_b-c", Kind: protocol.KindIPC, ABI: 1, Limits: defaults, Order: 100}, ""},
		{"surrounding space", "\n " + minimalManifest + " \n\t",
			&Manifest{Name: "quiethours", Kind: protocol.KindRoute, ABI: 1, Limits: defaults, Order: 100}, ""},

		{"missing name", `{"kind":"route","abi":1}`, nil, `name ""`},
		{"upper-case name", `{"name":"Quiet","kind":"route","abi":1}`, nil, `name "Quiet"`},
		{"name starting with dash", `{"name":"-q","kind":"route","abi":1}`, nil, `name "-q"`},
		{"name with slash", `{"name":"../etc","kind":"route","abi":1}`, nil, `name "../etc"`},
		{"name with space", `{"name":"a b","kind":"route","abi":1}`, nil, `name "a b"`},
		{"name too long", `{"name":"` + strings.Repeat("a", 65) + `","kind":"route","abi":1}`, nil, "name"},
		{"name with newline", `{"name":"a\n","kind":"route","abi":1}`, nil, "name"},
		{"unknown kind", `{"name":"q","kind":"web","abi":1}`, nil, `kind "web"`},
		{"missing kind", `{"name":"q","abi":1}`, nil, `kind ""`},
		{"kind case matters", `{"name":"q","kind":"Route","abi":1}`, nil, `kind "Route"`},
		{"wrong abi", `{"name":"q","kind":"route","abi":2}`, nil, "abi 2 is not supported"},
		{"missing abi", `{"name":"q","kind":"route"}`, nil, "abi 0 is not supported"},
		{"abi as string", `{"name":"q","kind":"route","abi":"1"}`, nil, "abi"},
		{"unknown capability", withField(`"capabilities":["log","net"]`), nil, `unknown capability "net"`},
		{"capability case matters", withField(`"capabilities":["Log"]`), nil, `unknown capability "Log"`},
		{"misspelt limit", withField(`"limits":{"memoryMB":64}`), nil, `unknown field "memoryMB"`},
		{"unknown top-level field", withField(`"version":2`), nil, `unknown field "version"`},
		{"memory too big", withField(`"limits":{"memoryMiB":257}`), nil, "limits.memoryMiB 257"},
		{"memory negative", withField(`"limits":{"memoryMiB":-1}`), nil, "limits.memoryMiB -1"},
		{"deadline too long", withField(`"limits":{"deadlineMs":5001}`), nil, "limits.deadlineMs 5001"},
		{"deadline negative", withField(`"limits":{"deadlineMs":-1}`), nil, "limits.deadlineMs -1"},
		{"deadline fraction", withField(`"limits":{"deadlineMs":1.5}`), nil, "deadlineMs"},
		{"request size negative", withField(`"limits":{"maxRequestBytes":-1}`), nil, "must be positive"},
		{"verdict size negative", withField(`"limits":{"maxVerdictBytes":-1}`), nil, "must be positive"},
		{"too many instances", withField(`"limits":{"instances":17}`), nil, "limits.instances 17"},
		{"negative instances", withField(`"limits":{"instances":-1}`), nil, "limits.instances -1"},
		{"limit out of int range", withField(`"limits":{"memoryMiB":1e30}`), nil, "memoryMiB"},
		{"delivery grant", withField(`"deliverTo":["*","main","Work_2"]`),
			&Manifest{Name: "quiethours", Kind: protocol.KindRoute, ABI: 1, Limits: defaults, Order: 100, DeliverTo: []string{"*", "main", "Work_2"}}, ""},
		{"delivery grant on a mount plugin", `{"name":"m","kind":"mount","abi":1,"deliverTo":["main"]}`, nil, "deliverTo is for route plugins"},
		{"delivery grant on an ipc plugin", `{"name":"m","kind":"ipc","abi":1,"deliverTo":["*"]}`, nil, "deliverTo is for route plugins"},
		{"delivery grant to a path", withField(`"deliverTo":["../main"]`), nil, `deliverTo "../main"`},
		{"delivery grant empty name", withField(`"deliverTo":[""]`), nil, `deliverTo ""`},
		{"delivery grant pattern", withField(`"deliverTo":["ma*"]`), nil, `deliverTo "ma*"`},
		{"repeated key", withField(`"capabilities":["log"],"capabilities":["log","path"]`), nil, `repeats the key "capabilities"`},
		{"repeated delivery grant", withField(`"deliverTo":["work"],"deliverTo":["main"]`), nil, `repeats the key "deliverTo"`},
		{"repeated limit", withField(`"limits":{"deadlineMs":100,"deadlineMs":5000}`), nil, `repeats the key "deadlineMs"`},
		{"repeated name", `{"name":"q","kind":"ipc","abi":1,"name":"r"}`, nil, `repeats the key "name"`},
		{"bad config name", withField(`"config":"Mount Allowlist"`), nil, `config "Mount Allowlist"`},
		{"config path", withField(`"config":"../secrets"`), nil, `config "../secrets"`},
		{"capabilities not a list", withField(`"capabilities":"log"`), nil, "capabilities"},
		{"trailing object", minimalManifest + `{}`, nil, "data after the JSON object"},
		{"trailing garbage", minimalManifest + ` x`, nil, "data after the JSON object"},
		{"trailing value", minimalManifest + ` 1`, nil, "data after the JSON object"},
		{"empty", ``, nil, "EOF"},
		{"null", `null`, nil, `name ""`},
		{"array", `[]`, nil, "cannot unmarshal array"},
		{"truncated", `{"name":"q","kind":"route"`, nil, "EOF"},
		{"comment", "// route\n" + minimalManifest, nil, "invalid character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := ParseManifest([]byte(c.doc))
			if c.want == nil {
				if err == nil {
					t.Fatalf("accepted: %+v", m)
				}
				if !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error = %v, want ErrManifest mentioning %q", err, c.err)
				}
				if m != nil {
					t.Fatalf("returned a manifest with the error: %+v", m)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !reflect.DeepEqual(m, c.want) {
				t.Fatalf("manifest = %+v, want %+v", m, c.want)
			}
		})
	}
}

// TestParseManifestTrailingBracket documents a bug: ParseManifest detects data after the
// object with json.Decoder.More, which reports false when the next byte is '}' or ']', so a
// manifest with a stray closing bracket is accepted.
func TestParseManifestTrailingBracket(t *testing.T) {
	for _, doc := range []string{minimalManifest + "}", minimalManifest + "]", minimalManifest + " }}"} {
		if m, err := ParseManifest([]byte(doc)); err == nil {
			t.Errorf("ParseManifest(%q) accepted trailing data: %+v", doc, m)
		}
	}
}

// TestManifestDeadlineOverflow documents a bug: the deadline check multiplies deadlineMs by
// time.Millisecond before comparing with MaxDeadline, and the product overflows int64 for
// deadlineMs >= 9223372036855, wrapping to a value that passes the check. The manifest is
// accepted and Limits.Deadline() returns a negative (or tiny) duration.
func TestManifestDeadlineOverflow(t *testing.T) {
	for _, ms := range []string{"9223372036855", "18446744073710"} {
		m, err := ParseManifest([]byte(withField(`"limits":{"deadlineMs":` + ms + `}`)))
		if err == nil {
			t.Errorf("deadlineMs %s accepted; Deadline() = %v", ms, m.Limits.Deadline())
		}
	}
}

// TestManifestLimitsDeadline: the default applies to zero and to anything not positive.
func TestManifestLimitsDeadline(t *testing.T) {
	cases := []struct {
		ms   int
		want time.Duration
	}{
		{0, DefaultDeadline},
		{-5, DefaultDeadline},
		{1, time.Millisecond},
		{5000, 5 * time.Second},
	}
	for _, c := range cases {
		if got := (Limits{DeadlineMs: c.ms}).Deadline(); got != c.want {
			t.Errorf("Limits{DeadlineMs: %d}.Deadline() = %v, want %v", c.ms, got, c.want)
		}
	}
}

// FuzzParseManifest: parsing never panics; an accepted manifest satisfies every rule the
// loader relies on, and writing it back out parses to the same manifest.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(minimalManifest))
	f.Add([]byte(`{"name":"mountguard","kind":"mount","abi":1,"capabilities":["log","path","config"],` +
		`"limits":{"memoryMiB":64,"deadlineMs":100,"maxRequestBytes":4096,"maxVerdictBytes":1024,"instances":4},` +
		`"order":10,"config":"mount-allowlist","description":"guards mounts"}`))
	f.Add([]byte(withField(`"limits":{"memoryMB":64}`)))
	f.Add([]byte(withField(`"capabilities":["net"]`)))
	f.Add([]byte(minimalManifest + "}"))
	f.Add([]byte(`{"NAME":"q","Kind":"ipc","ABI":1}`))
	f.Add([]byte(`{"name":"q","kind":"ipc","abi":1,"name":"r"}`))
	f.Add([]byte("{\"name\":\"q\",\"kind\":\"ipc\",\"abi\":1,\"description\":\"\xff\"}"))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"limits":null,"capabilities":null,"name":"x","kind":"mount","abi":1}`))
	f.Add([]byte(withField(`"deliverTo":["*","main"]`)))
	f.Add([]byte(withField(`"deliverTo":[]`)))
	f.Add([]byte(`{"name":"m","kind":"mount","abi":1,"deliverTo":["main"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if m != nil || !errors.Is(err, ErrManifest) {
				t.Fatalf("ParseManifest = %+v, %v", m, err)
			}
			return
		}
		l := m.Limits
		switch {
		case !nameRule.MatchString(m.Name):
			t.Fatalf("accepted name %q", m.Name)
		case !m.Kind.Valid():
			t.Fatalf("accepted kind %q", m.Kind)
		case m.ABI != abi.Version:
			t.Fatalf("accepted abi %d", m.ABI)
		case m.Config != "" && !nameRule.MatchString(m.Config):
			t.Fatalf("accepted config %q", m.Config)
		case l.MemoryMiB < 1 || l.MemoryMiB > MaxMemoryMiB:
			t.Fatalf("accepted memoryMiB %d", l.MemoryMiB)
		case l.MaxRequestBytes < 1 || l.MaxVerdictBytes < 1:
			t.Fatalf("accepted sizes %d, %d", l.MaxRequestBytes, l.MaxVerdictBytes)
		case l.Instances < 0 || l.Instances > MaxInstances:
			t.Fatalf("accepted instances %d", l.Instances)
		case m.Order == 0:
			t.Fatal("order 0 survived the default")
		// Deadlines past the overflow are TestManifestDeadlineOverflow's bug; check the rest.
		case l.DeadlineMs <= int(MaxDeadline/time.Millisecond) && (l.DeadlineMs < 1 || l.Deadline() > MaxDeadline):
			t.Fatalf("accepted deadlineMs %d", l.DeadlineMs)
		}
		for _, c := range m.Capabilities {
			if abi.CapabilityFunctions(c) == nil {
				t.Fatalf("accepted capability %q", c)
			}
		}
		for _, g := range m.DeliverTo {
			if m.Kind != protocol.KindRoute || (g != AnyGroup && !folderRule.MatchString(g)) {
				t.Fatalf("accepted deliverTo %q on a %s plugin", g, m.Kind)
			}
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseManifest(out)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", out, err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("re-parsing changed the manifest:\n got %+v\nwant %+v", again, m)
		}
	})
}

// TestReadGrants: no file means the defaults; a file overrides only the kinds it names; an
// unknown kind or capability, or a malformed file, is refused rather than half-applied.
func TestReadGrants(t *testing.T) {
	withDefaults := func(k protocol.Kind, caps []string) Grants {
		g := DefaultGrants()
		g[k] = caps
		return g
	}
	cases := []struct {
		name string
		file string // "" means no file
		want Grants
		err  string
	}{
		{"missing file", "", DefaultGrants(), ""},
		{"empty object", `{}`, DefaultGrants(), ""},
		{"null", `null`, DefaultGrants(), ""},
		{"override one kind", `{"route":["log"]}`, withDefaults(protocol.KindRoute, []string{"log"}), ""},
		{"grant path to ipc", `{"ipc":["path","kv"]}`, withDefaults(protocol.KindIPC, []string{"path", "kv"}), ""},
		{"revoke everything", `{"mount":[]}`, withDefaults(protocol.KindMount, []string{}), ""},
		{"all kinds", `{"mount":["log"],"ipc":["clock"],"route":["groups"]}`,
			Grants{protocol.KindMount: {"log"}, protocol.KindIPC: {"clock"}, protocol.KindRoute: {"groups"}}, ""},
		{"unknown kind", `{"web":["log"]}`, nil, `unknown kind "web"`},
		{"repeated kind", `{"route":["log"],"route":["log","path"]}`, nil, `repeats the key "route"`},
		{"kind case matters", `{"Mount":["log"]}`, nil, `unknown kind "Mount"`},
		{"unknown capability", `{"mount":["log","exec"]}`, nil, `unknown capability "exec" for mount`},
		{"capability case matters", `{"route":["LOG"]}`, nil, `unknown capability "LOG"`},
		{"not an object", `["log"]`, nil, "cannot unmarshal"},
		{"capabilities not a list", `{"mount":"log"}`, nil, "cannot unmarshal"},
		{"malformed", `{"mount":["log"]`, nil, "unexpected end"},
		{"trailing", `{} {}`, nil, "invalid character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plugin-grants.json")
			if c.file != "" {
				if err := os.WriteFile(path, []byte(c.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			g, err := ReadGrants(path)
			if c.want == nil {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("ReadGrants = %v, %v; want an error mentioning %q", g, err, c.err)
				}
				if c.file != "" && !strings.Contains(err.Error(), path) {
					t.Fatalf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, c.want) {
				t.Fatalf("grants = %v, want %v", g, c.want)
			}
		})
	}
}

// TestReadGrantsUnreadable: a grants file that exists but cannot be read is an error, not a
// silent fall-back to the defaults (which might grant more than the operator meant).
func TestReadGrantsUnreadable(t *testing.T) {
	dir := t.TempDir() // a directory where the file should be
	if g, err := ReadGrants(dir); err == nil {
		t.Fatalf("ReadGrants(directory) = %v, want an error", g)
	}
}

// TestDefaultGrants: only mount plugins may inspect host paths; only ipc and route may look
// up groups; every capability granted exists.
func TestDefaultGrants(t *testing.T) {
	g := DefaultGrants()
	for _, k := range protocol.Kinds() {
		caps, ok := g[k]
		if !ok {
			t.Fatalf("no default grants for %s", k)
		}
		for _, c := range caps {
			if abi.CapabilityFunctions(c) == nil {
				t.Errorf("%s granted unknown capability %q", k, c)
			}
		}
		if has(caps, abi.CapPath) != (k == protocol.KindMount) {
			t.Errorf("%s: path granted = %v", k, has(caps, abi.CapPath))
		}
		if has(caps, abi.CapGroups) == (k == protocol.KindMount) {
			t.Errorf("%s: groups granted = %v", k, has(caps, abi.CapGroups))
		}
	}
	g[protocol.KindMount] = nil
	if len(DefaultGrants()[protocol.KindMount]) == 0 {
		t.Fatal("DefaultGrants returns shared state")
	}
}

// TestGrantsGranted: a plugin gets what it asks for only if its kind is granted all of it.
func TestGrantsGranted(t *testing.T) {
	g := DefaultGrants()
	cases := []struct {
		kind protocol.Kind
		caps []string
		err  string
	}{
		{protocol.KindMount, []string{"path", "log"}, ""},
		{protocol.KindMount, nil, ""},
		{protocol.KindRoute, []string{"groups"}, ""},
		{protocol.KindRoute, []string{"log", "path"}, `capability "path" is not granted to route plugins`},
		{protocol.KindMount, []string{"groups"}, `capability "groups" is not granted to mount plugins`},
	}
	for _, c := range cases {
		m := &Manifest{Name: "p", Kind: c.kind, ABI: abi.Version, Capabilities: c.caps}
		caps, err := g.granted(m)
		if c.err == "" {
			if err != nil || !reflect.DeepEqual(caps, c.caps) {
				t.Errorf("%s %v: granted = %v, %v", c.kind, c.caps, caps, err)
			}
			continue
		}
		if !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s %v: error = %v, want %q", c.kind, c.caps, err, c.err)
		}
	}
	if _, err := (Grants{}).granted(&Manifest{Kind: protocol.KindIPC, Capabilities: []string{"log"}}); err == nil {
		t.Error("a kind with no grants entry was granted a capability")
	}
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
