package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/wire"
)

// codec is what every protocol type implements.
type codec interface {
	AppendJSON(dst []byte) []byte
	UnmarshalJSON(data []byte) error
}

// aliasCodec is a codec that can also decode in place.
type aliasCodec interface {
	codec
	DecodeAliased(data []byte) error
}

// awkward is a string exercising escapes, multi-byte UTF-8 and the SWAR step.
const awkward = "quote\" back\\ nl\n tab\t nul\x00 é 日本 😀 \u2028 /<>&"

// roundTripCases hold one value of every type, plain and awkward.
var roundTripCases = []struct {
	name string
	v    codec
}{
	{"mount request", &MountRequest{Group: "family", HostPath: "~/projects/x", ContainerPath: "x", ReadOnly: true}},
	{"mount request rw main", &MountRequest{Group: "main", IsMain: true, HostPath: awkward, ContainerPath: awkward}},
	{"mount request empty", &MountRequest{}},
	{"mount verdict allow", &MountVerdict{Allow: true, ReadOnly: false, HostPath: "/home/me/x", ContainerPath: "/workspace/extra/x", Reason: awkward}},
	{"mount verdict allow ro", &MountVerdict{Allow: true, ReadOnly: true, HostPath: awkward, ContainerPath: "/workspace/extra/é"}},
	{"mount verdict deny", &MountVerdict{ReadOnly: true, Reason: "not under an allowed root"}},
	{"ipc request", &IPCRequest{Group: "family", Dir: "tasks", TaskGroup: "family", Request: []byte(`{"type":"pause_task","taskId":"t1"}`)}},
	{"ipc request main", &IPCRequest{Group: awkward, IsMain: true, Dir: "messages", Request: []byte(`[1, "two", {"three": null}]`)}},
	{"ipc request scalar", &IPCRequest{Group: "g", Request: []byte(`"just a string"`)}},
	{"ipc verdict allow", &IPCVerdict{Allow: true}},
	{"ipc verdict deny", &IPCVerdict{Reason: awkward}},
	{"group", &Group{JID: "family@g.us", Folder: "family", Name: "Family", Trigger: "@Andy", RequiresTrigger: true}},
	{"group main", &Group{JID: awkward, Folder: "main", Name: awkward, IsMain: true}},
	{"route request", &RouteRequest{
		Message: Message{ID: "ABC", ChatJID: "family@g.us", Sender: "123@s.whatsapp.net", SenderName: "Ann",
			Content: "@Andy what's up?", Timestamp: "2024-05-01T10:00:00Z"},
		Group:         &Group{JID: "family@g.us", Folder: "family", Name: "Family", Trigger: "@Andy", RequiresTrigger: true},
		AssistantName: "Andy",
	}},
	{"route request unregistered", &RouteRequest{
		Message:       Message{ID: "1", ChatJID: "x@g.us", Content: awkward, IsFromMe: true, IsBotMessage: true},
		AssistantName: awkward,
	}},
	{"route request empty group", &RouteRequest{Group: &Group{}}},
	{"route verdict none", &RouteVerdict{}},
	{"route verdict ignore", &RouteVerdict{Action: ActionIgnore, Reason: awkward}},
	{"route verdict store", &RouteVerdict{Action: ActionStore}},
	{"route verdict deliver", &RouteVerdict{Action: ActionDeliver, Group: "family", Reason: "trigger"}},
	{"config doc", &ConfigDoc{Name: "mount-allowlist", Path: "/home/me/.config/nanoclaw/mount-allowlist.json",
		Exists: true, Content: []byte("{\"allowedRoots\": []}\n"), ProtectedPaths: []string{"/a", awkward}}},
	// Content decodes as an empty, not nil, slice: equal in meaning, so the case says so.
	{"config doc error", &ConfigDoc{Name: "x", Error: "permission denied", Content: []byte{}, ProtectedPaths: []string{"/p"}}},
}

// newOf returns a new zero value of v's type.
func newOf(v codec) codec { return reflect.New(reflect.TypeOf(v).Elem()).Interface().(codec) }

// TestRoundTrip: AppendJSON then UnmarshalJSON (and DecodeAliased) give back an equal value,
// and the encoding is valid JSON that encoding/json reads into the same value too.
func TestRoundTrip(t *testing.T) {
	for _, c := range roundTripCases {
		t.Run(c.name, func(t *testing.T) {
			data := c.v.AppendJSON(nil)
			if !json.Valid(data) {
				t.Fatalf("AppendJSON wrote invalid JSON: %s", data)
			}
			if _, err := wire.Parse(data); err != nil {
				t.Fatalf("wire.Parse rejects AppendJSON's output %s: %v", data, err)
			}
			got := newOf(c.v)
			if err := got.UnmarshalJSON(data); err != nil {
				t.Fatalf("UnmarshalJSON(%s): %v", data, err)
			}
			if !same(got, c.v) {
				t.Fatalf("round trip changed the value:\n got %+v\nwant %+v\nvia %s", got, c.v, data)
			}
			viaStd := newOf(c.v)
			if err := json.Unmarshal(data, viaStd); err != nil || !same(viaStd, c.v) {
				t.Fatalf("json.Unmarshal = %+v, %v", viaStd, err)
			}
			if _, ok := c.v.(aliasCodec); ok {
				aliased := newOf(c.v).(aliasCodec)
				if err := aliased.DecodeAliased(data); err != nil || !same(aliased, c.v) {
					t.Fatalf("DecodeAliased = %+v, %v", aliased, err)
				}
			}
			// Appending to a non-empty buffer keeps what it held.
			if prefixed := c.v.AppendJSON([]byte("xx")); string(prefixed) != "xx"+string(data) {
				t.Fatalf("AppendJSON with a prefix = %s", prefixed)
			}
		})
	}
}

// TestABIExamples pins the encodings to the shapes plugins/ABI.md promises guests in other
// languages: field names, order and literal forms.
func TestABIExamples(t *testing.T) {
	cases := []struct {
		v    codec
		want string
	}{
		{&MountRequest{Group: "family", HostPath: "~/projects/x", ContainerPath: "x", ReadOnly: true},
			`{"group":"family","isMain":false,"hostPath":"~/projects/x","containerPath":"x","readonly":true}`},
		{&MountVerdict{Allow: true, ReadOnly: true, HostPath: "/home/me/projects/x", ContainerPath: "/workspace/extra/x", Reason: "..."},
			`{"allow":true,"readonly":true,"hostPath":"/home/me/projects/x","containerPath":"/workspace/extra/x","reason":"..."}`},
		{&IPCRequest{Group: "family", Dir: "tasks", TaskGroup: "family", Request: []byte(`{}`)},
			`{"group":"family","isMain":false,"dir":"tasks","taskGroup":"family","request":{}}`},
		{&IPCRequest{Group: "family"},
			`{"group":"family","isMain":false,"dir":"","taskGroup":"","request":null}`},
		{&IPCVerdict{Reason: "..."}, `{"allow":false,"reason":"..."}`},
		{&RouteVerdict{Action: ActionDeliver, Group: "family", Reason: "..."}, `{"action":"deliver","group":"family","reason":"..."}`},
		{&RouteRequest{Message: Message{ID: "i"}, AssistantName: "Andy"},
			`{"message":{"id":"i","chatJid":"","sender":"","senderName":"","content":"","timestamp":"","isFromMe":false,"isBotMessage":false},"group":null,"assistantName":"Andy"}`},
		{&RouteRequest{Group: &Group{JID: "j", Folder: "f", Name: "n", Trigger: "@Andy", RequiresTrigger: true}},
			`{"message":{"id":"","chatJid":"","sender":"","senderName":"","content":"","timestamp":"","isFromMe":false,"isBotMessage":false},"group":{"jid":"j","folder":"f","name":"n","trigger":"@Andy","requiresTrigger":true,"isMain":false},"assistantName":""}`},
	}
	for _, c := range cases {
		if got := string(c.v.AppendJSON(nil)); got != c.want {
			t.Errorf("%T encodes as\n%s\nwant\n%s", c.v, got, c.want)
		}
	}
}

// TestMountVerdictValidation: a mount verdict is a security decision, so anything short of
// an explicit, complete allow is an error, and an error leaves the deny value.
func TestMountVerdictValidation(t *testing.T) {
	deny := MountVerdict{ReadOnly: true}
	cases := []struct {
		name string
		doc  string
		want MountVerdict
		ok   bool
	}{
		{"deny", `{"allow":false}`, deny, true},
		{"deny with reason", `{"allow":false,"reason":"no"}`, MountVerdict{ReadOnly: true, Reason: "no"}, true},
		{"unknown field refused", `{"allow":false,"reason":"no","extra":[1,{"x":2}]}`, deny, false},
		{"unknown field refused on allow", `{"allow":true,"hostPath":"/h","containerPath":"/c","expires":0}`, deny, false},
		{"escaped key is its name", `{"\u0061llow":true,"hostPath":"/h","containerPath":"/c"}`,
			MountVerdict{Allow: true, ReadOnly: true, HostPath: "/h", ContainerPath: "/c"}, true},
		{"repeated allow, deny first", `{"allow":false,"allow":true,"hostPath":"/h","containerPath":"/c"}`, deny, false},
		{"repeated allow, allow first", `{"allow":true,"allow":false,"hostPath":"/h","containerPath":"/c"}`, deny, false},
		{"repeated allow, escaped", `{"allow":false,"\u0061llow":true,"hostPath":"/h","containerPath":"/c"}`, deny, false},
		{"repeated hostPath", `{"allow":true,"hostPath":"/h","hostPath":"/etc","containerPath":"/c"}`, deny, false},
		{"repeated readonly", `{"allow":true,"readonly":true,"readonly":false,"hostPath":"/h","containerPath":"/c"}`, deny, false},
		{"repeated reason", `{"allow":false,"reason":"a","reason":"b"}`, deny, false},
		{"allow", `{"allow":true,"hostPath":"/h","containerPath":"/workspace/extra/h"}`,
			MountVerdict{Allow: true, ReadOnly: true, HostPath: "/h", ContainerPath: "/workspace/extra/h"}, true},
		{"allow rw", `{"allow":true,"readonly":false,"hostPath":"/h","containerPath":"/c"}`,
			MountVerdict{Allow: true, HostPath: "/h", ContainerPath: "/c"}, true},
		{"readonly null keeps true", `{"allow":true,"readonly":null,"hostPath":"/h","containerPath":"/c"}`,
			MountVerdict{Allow: true, ReadOnly: true, HostPath: "/h", ContainerPath: "/c"}, true},
		{"missing allow", `{}`, deny, false},
		{"missing allow with paths", `{"hostPath":"/h","containerPath":"/c","readonly":false}`, deny, false},
		{"allow without paths", `{"allow":true}`, deny, false},
		{"allow without hostPath", `{"allow":true,"containerPath":"/c"}`, deny, false},
		{"allow with empty hostPath", `{"allow":true,"hostPath":"","containerPath":"/c"}`, deny, false},
		{"allow without containerPath", `{"allow":true,"hostPath":"/h"}`, deny, false},
		{"allow as string", `{"allow":"true","hostPath":"/h","containerPath":"/c"}`, deny, false},
		{"allow as number", `{"allow":1,"hostPath":"/h","containerPath":"/c"}`, deny, false},
		{"readonly as string", `{"allow":true,"readonly":"no","hostPath":"/h","containerPath":"/c"}`, deny, false},
		{"path as number", `{"allow":true,"hostPath":1,"containerPath":"/c"}`, deny, false},
		{"error after allow", `{"allow":true,"hostPath":"/h","containerPath":"/c","reason":5}`, deny, false},
		{"trailing data", `{"allow":true,"hostPath":"/h","containerPath":"/c"} {}`, deny, false},
		{"bad utf8", "{\"allow\":true,\"hostPath\":\"/h\xff\",\"containerPath\":\"/c\"}", deny, false},
		{"array", `[]`, deny, false},
		{"null", `null`, deny, false},
		{"empty", ``, deny, false},
		{"truncated", `{"allow":true,"hostPath":"/h","containerPath":"/c"`, deny, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, alias := range []bool{false, true} {
				// Start from an allow so a decoder that forgets to reset shows it.
				v := MountVerdict{Allow: true, HostPath: "/stale", ContainerPath: "/stale"}
				err := decodeEither(&v, []byte(c.doc), alias)
				checkVerdictErr(t, err, c.ok)
				if v != c.want {
					t.Fatalf("alias=%v: verdict = %+v, want %+v", alias, v, c.want)
				}
			}
		})
	}
}

// TestVerdictDuplicateAllow is the attack {"allow":false,"allow":true}, which decoded as an
// allow: every verdict that repeats a key, or (security kinds) carries an unknown field, is
// refused with an error naming the key, so the host's deny says what was wrong.
func TestVerdictDuplicateAllow(t *testing.T) {
	cases := []struct {
		name string
		v    aliasCodec
		doc  string
		want string
	}{
		{"mount", &MountVerdict{}, `{"allow":false,"allow":true,"hostPath":"/h","containerPath":"/c"}`, `repeats the key "allow"`},
		{"ipc", &IPCVerdict{}, `{"allow":false,"allow":true}`, `repeats the key "allow"`},
		{"route", &RouteVerdict{}, `{"action":"ignore","action":"deliver","group":"main"}`, `repeats the key "action"`},
		{"mount unknown", &MountVerdict{}, `{"allow":true,"hostPath":"/h","containerPath":"/c","note":1}`, `unknown field "note"`},
		{"ipc unknown", &IPCVerdict{}, `{"allow":true,"also":"x"}`, `unknown field "also"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, alias := range []bool{false, true} {
				err := decodeEither(c.v, []byte(c.doc), alias)
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("alias=%v: error %v, want one naming %s", alias, err, c.want)
				}
			}
		})
	}
}

// TestMountVerdictAllowNull: "allow":null must never allow, whatever else the verdict says.
func TestMountVerdictAllowNull(t *testing.T) {
	var v MountVerdict
	_ = v.UnmarshalJSON([]byte(`{"allow":null,"hostPath":"/h","containerPath":"/c"}`))
	if v.Allow {
		t.Fatal(`"allow":null decoded as an allow`)
	}
	var iv IPCVerdict
	_ = iv.UnmarshalJSON([]byte(`{"allow":null}`))
	if iv.Allow {
		t.Fatal(`ipc "allow":null decoded as an allow`)
	}
}

// TestIPCVerdictValidation: "allow" is required and must be a boolean.
func TestIPCVerdictValidation(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want IPCVerdict
		ok   bool
	}{
		{"allow", `{"allow":true}`, IPCVerdict{Allow: true}, true},
		{"deny", `{"reason":"r","allow":false}`, IPCVerdict{Reason: "r"}, true},
		{"unknown field refused", `{"allow":true,"why":{"a":[]}}`, IPCVerdict{}, false},
		{"repeated allow", `{"allow":false,"allow":true}`, IPCVerdict{}, false},
		{"repeated allow, allow first", `{"allow":true,"allow":false}`, IPCVerdict{}, false},
		{"repeated allow, escaped", `{"allow":false,"\u0061llow":true}`, IPCVerdict{}, false},
		{"repeated reason", `{"allow":false,"reason":"a","reason":"b"}`, IPCVerdict{}, false},
		{"missing allow", `{"reason":"r"}`, IPCVerdict{}, false},
		{"allow as string", `{"allow":"yes"}`, IPCVerdict{}, false},
		{"error after allow", `{"allow":true,"reason":false}`, IPCVerdict{}, false},
		{"trailing", `{"allow":true}x`, IPCVerdict{}, false},
		{"not an object", `true`, IPCVerdict{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, alias := range []bool{false, true} {
				v := IPCVerdict{Allow: true, Reason: "stale"}
				err := decodeEither(&v, []byte(c.doc), alias)
				checkVerdictErr(t, err, c.ok)
				if v != c.want {
					t.Fatalf("alias=%v: verdict = %+v, want %+v", alias, v, c.want)
				}
			}
		})
	}
}

// TestRouteVerdictValidation: only the four actions exist, deliver needs a group, and an
// error leaves no decision.
func TestRouteVerdictValidation(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want RouteVerdict
		ok   bool
	}{
		{"empty is no decision", `{}`, RouteVerdict{}, true},
		{"explicit none", `{"action":"","reason":"r"}`, RouteVerdict{Reason: "r"}, true},
		{"null action", `{"action":null}`, RouteVerdict{}, true},
		{"ignore", `{"action":"ignore"}`, RouteVerdict{Action: ActionIgnore}, true},
		{"store", `{"action":"store","group":"g"}`, RouteVerdict{Action: ActionStore, Group: "g"}, true},
		{"deliver", `{"action":"deliver","group":"family"}`, RouteVerdict{Action: ActionDeliver, Group: "family"}, true},
		{"escaped deliver", `{"action":"d\u0065liver","group":"family"}`, RouteVerdict{Action: ActionDeliver, Group: "family"}, true},
		{"unknown fields ignored", `{"action":"ignore","priority":[1],"priority":2}`, RouteVerdict{Action: ActionIgnore}, true},
		{"repeated action", `{"action":"store","action":"deliver","group":"main"}`, RouteVerdict{}, false},
		{"repeated action, escaped", `{"action":"store","\u0061ction":"deliver","group":"main"}`, RouteVerdict{}, false},
		{"repeated group", `{"action":"deliver","group":"family","group":"main"}`, RouteVerdict{}, false},
		{"deliver without group", `{"action":"deliver"}`, RouteVerdict{}, false},
		{"deliver with empty group", `{"action":"deliver","group":""}`, RouteVerdict{}, false},
		{"unknown action", `{"action":"forward","group":"g"}`, RouteVerdict{}, false},
		{"action case matters", `{"action":"DELIVER","group":"g"}`, RouteVerdict{}, false},
		{"action as number", `{"action":1}`, RouteVerdict{}, false},
		{"error after action", `{"action":"deliver","group":"g","reason":[]}`, RouteVerdict{}, false},
		{"trailing", `{"action":"ignore"}]`, RouteVerdict{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, alias := range []bool{false, true} {
				v := RouteVerdict{Action: ActionDeliver, Group: "stale"}
				err := decodeEither(&v, []byte(c.doc), alias)
				checkVerdictErr(t, err, c.ok)
				if v != c.want {
					t.Fatalf("alias=%v: verdict = %+v, want %+v", alias, v, c.want)
				}
			}
		})
	}
}

func decodeEither(v aliasCodec, data []byte, alias bool) error {
	if alias {
		return v.DecodeAliased(data)
	}
	return v.UnmarshalJSON(data)
}

// checkVerdictErr checks success or failure, and that every failure is ErrMalformed, which
// is what the host's chains turn into a fault.
func checkVerdictErr(t *testing.T, err error, ok bool) {
	t.Helper()
	if ok && err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if !ok && !errors.Is(err, ErrMalformed) {
		t.Fatalf("error = %v, want one wrapping ErrMalformed", err)
	}
}

// TestMountRequestReadOnlyDefault: NanoClaw's default for a mount is read-only, so a missing
// or null readonly must mean true; only an explicit false asks for read-write.
func TestMountRequestReadOnlyDefault(t *testing.T) {
	cases := []struct {
		doc  string
		want bool
		ok   bool
	}{
		{`{"group":"g","hostPath":"/h"}`, true, true},
		{`{"group":"g","readonly":null}`, true, true},
		{`{"readonly":true}`, true, true},
		{`{"readonly":false}`, false, true},
		{`{}`, true, true},
		{`{"readonly":"false"}`, false, false},
		{`{"readonly":0}`, false, false},
	}
	for _, c := range cases {
		for _, alias := range []bool{false, true} {
			r := MountRequest{ReadOnly: !c.want}
			err := decodeEither(&r, []byte(c.doc), alias)
			if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrMalformed)) {
				t.Fatalf("%s: error = %v, want ok=%v", c.doc, err, c.ok)
			}
			if c.ok && r.ReadOnly != c.want {
				t.Errorf("%s (alias=%v): ReadOnly = %v, want %v", c.doc, alias, r.ReadOnly, c.want)
			}
		}
	}
}

// TestRequestShapes covers request decoding details: unknown fields are skipped, a null or
// missing group is an unregistered chat, and wrong shapes are ErrMalformed.
func TestRequestShapes(t *testing.T) {
	var rr RouteRequest
	if err := rr.UnmarshalJSON([]byte(`{"message":{"id":"1","new":{"a":[1]}},"group":null,"future":true}`)); err != nil || rr.Group != nil || rr.Message.ID != "1" {
		t.Fatalf("route request = %+v, %v", rr, err)
	}
	rr = RouteRequest{Group: &Group{Folder: "stale"}}
	if err := rr.UnmarshalJSON([]byte(`{"assistantName":"A"}`)); err != nil || rr.Group != nil || rr.AssistantName != "A" {
		t.Fatalf("route request without group = %+v, %v", rr, err)
	}
	var ir IPCRequest
	if err := ir.UnmarshalJSON([]byte(`{"group":"g","request":{"type":"message","text":"hi"}}`)); err != nil ||
		string(ir.Request) != `{"type":"message","text":"hi"}` {
		t.Fatalf("ipc request = %+v, %v", ir, err)
	}
	bad := []struct {
		v   codec
		doc string
	}{
		{&RouteRequest{}, `{"group":"family"}`},
		{&RouteRequest{}, `{"message":[]}`},
		{&RouteRequest{}, `{"message":{"isFromMe":"yes"}}`},
		{&IPCRequest{}, `{"request":{"unclosed":1}`},
		{&IPCRequest{}, `{"isMain":1}`},
		{&MountRequest{}, `{"group":["g"]}`},
		{&Group{}, `{"requiresTrigger":"true"}`},
		{&MountRequest{}, `{"group":"g"}{}`},
		{&ConfigDoc{}, `{"exists":"yes"}`},
	}
	for _, b := range bad {
		if err := b.v.UnmarshalJSON([]byte(b.doc)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%T.UnmarshalJSON(%s) = %v, want ErrMalformed", b.v, b.doc, err)
		}
	}
}

// inside reports whether s's bytes lie within data.
func inside(s string, data []byte) bool {
	if len(s) == 0 || len(data) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	base := uintptr(unsafe.Pointer(&data[0]))
	return p >= base && p < base+uintptr(len(data))
}

// TestUnmarshalCopies: UnmarshalJSON's contract is the usual one, so a caller may reuse the
// input buffer; DecodeAliased's strings point into it, which is why it allocates nothing.
func TestUnmarshalCopies(t *testing.T) {
	for _, c := range roundTripCases {
		t.Run(c.name, func(t *testing.T) {
			data := c.v.AppendJSON(nil)
			copied := newOf(c.v)
			if err := copied.UnmarshalJSON(data); err != nil {
				t.Fatal(err)
			}
			for _, f := range fieldsOf(copied) {
				if inside(f.s, data) {
					t.Fatalf("UnmarshalJSON kept %q aliasing the input", f.s)
				}
			}
			clobber(data)
			if !same(copied, c.v) {
				t.Fatalf("value changed after the input was overwritten:\n got %+v\nwant %+v", copied, c.v)
			}

			if _, ok := c.v.(aliasCodec); !ok {
				return
			}
			data = c.v.AppendJSON(nil)
			aliased := newOf(c.v).(aliasCodec)
			if err := aliased.DecodeAliased(data); err != nil {
				t.Fatal(err)
			}
			aliases := 0
			for _, f := range fieldsOf(aliased) {
				// Raw JSON, and strings written without escapes, are read in place.
				if f.s != "" && (f.raw || string(wire.AppendString(nil, f.s)) == `"`+f.s+`"`) {
					if !inside(f.s, data) {
						t.Fatalf("DecodeAliased copied %q", f.s)
					}
					aliases++
				}
			}
			clobber(data)
			if changed := !same(aliased, c.v); changed != (aliases > 0) {
				t.Fatalf("DecodeAliased value changed with its input = %v, but it has %d aliasing fields", changed, aliases)
			}
		})
	}
}

func clobber(b []byte) {
	for i := range b {
		b[i] = 'X'
	}
}

type field struct {
	s   string
	raw bool // a []byte field
}

// fieldsOf lists the string and []byte fields of v, following pointers, nested structs and
// slices. A []byte field is returned as a string sharing its bytes.
func fieldsOf(v any) []field {
	var out []field
	var visit func(reflect.Value)
	visit = func(rv reflect.Value) {
		switch rv.Kind() {
		case reflect.Pointer:
			if !rv.IsNil() {
				visit(rv.Elem())
			}
		case reflect.Struct:
			for i := 0; i < rv.NumField(); i++ {
				visit(rv.Field(i))
			}
		case reflect.String:
			out = append(out, field{s: rv.String()})
		case reflect.Slice:
			if rv.Type().Elem().Kind() != reflect.Uint8 {
				for i := 0; i < rv.Len(); i++ {
					visit(rv.Index(i))
				}
			} else if rv.Len() > 0 {
				out = append(out, field{s: unsafe.String(&rv.Bytes()[0], rv.Len()), raw: true})
			}
		}
	}
	visit(reflect.ValueOf(v))
	return out
}

// typicalRoute is a route request as the host sends it for a message in a registered group.
var typicalRoute = &RouteRequest{
	Message: Message{ID: "3EB0C767D097B7C6A8A1", ChatJID: "120363041234567890@g.us", Sender: "4915112345678@s.whatsapp.net",
		SenderName: "Ann", Content: "@Andy can you check the calendar for tomorrow?", Timestamp: "2024-05-01T10:00:00Z"},
	Group:         &Group{JID: "120363041234567890@g.us", Folder: "family", Name: "Family", Trigger: "@Andy", RequiresTrigger: true},
	AssistantName: "Andy",
}

// TestDecodeAliasedAllocs: inside a guest, decoding the request and the host decoding the
// verdict must allocate nothing; that is what DecodeAliased is for.
func TestDecodeAliasedAllocs(t *testing.T) {
	unregistered := *typicalRoute
	unregistered.Group = nil
	cases := []struct {
		name string
		v    aliasCodec
	}{
		{"route request unregistered", &unregistered},
		{"mount request", &MountRequest{Group: "family", HostPath: "~/projects/x", ContainerPath: "x", ReadOnly: true}},
		{"ipc request", &IPCRequest{Group: "family", Dir: "tasks", TaskGroup: "family", Request: []byte(`{"type":"pause_task","taskId":"t1"}`)}},
		{"mount verdict", &MountVerdict{Allow: true, ReadOnly: true, HostPath: "/home/me/x", ContainerPath: "/workspace/extra/x", Reason: "under ~/projects"}},
		{"ipc verdict", &IPCVerdict{Allow: true, Reason: "own group"}},
		{"route verdict", &RouteVerdict{Action: ActionDeliver, Group: "family", Reason: "trigger"}},
		{"group", typicalRoute.Group},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.v.AppendJSON(nil)
			into := newOf(c.v).(aliasCodec)
			allocs := testing.AllocsPerRun(200, func() {
				if err := into.DecodeAliased(data); err != nil {
					panic(err)
				}
			})
			if allocs != 0 {
				t.Fatalf("DecodeAliased allocated %v times per call, want 0", allocs)
			}
			buf := make([]byte, 0, 1024)
			allocs = testing.AllocsPerRun(200, func() { buf = c.v.AppendJSON(buf[:0]) })
			if allocs != 0 {
				t.Fatalf("AppendJSON allocated %v times per call, want 0", allocs)
			}
		})
	}
}

// TestRouteRequestDecodeAliasedAllocs documents a bug: decoding a route request whose chat
// is registered (the typical case: group is an object) allocates the *Group with new(Group),
// so DecodeAliased does not "allocate nothing" as the package documentation promises.
func TestRouteRequestDecodeAliasedAllocs(t *testing.T) {
	data := typicalRoute.AppendJSON(nil)
	var r RouteRequest
	allocs := testing.AllocsPerRun(200, func() {
		if err := r.DecodeAliased(data); err != nil {
			panic(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("RouteRequest.DecodeAliased allocated %v times per call, want 0", allocs)
	}
}

// TestKinds covers the kind helpers the host and manifests rely on.
func TestKinds(t *testing.T) {
	cases := []struct {
		k        Kind
		hook     abi.Hook
		security bool
	}{
		{KindMount, abi.HookMount, true},
		{KindIPC, abi.HookIPC, true},
		{KindRoute, abi.HookRoute, false},
		{"web", 0, false},
		{"", 0, false},
		{"Mount", 0, false},
	}
	for _, c := range cases {
		if c.k.Hook() != c.hook || c.k.Security() != c.security || c.k.Valid() != (c.hook != 0) {
			t.Errorf("%q: Hook=%d Security=%v Valid=%v", c.k, c.k.Hook(), c.k.Security(), c.k.Valid())
		}
	}
	if got := Kinds(); !reflect.DeepEqual(got, []Kind{KindMount, KindIPC, KindRoute}) {
		t.Errorf("Kinds() = %v", got)
	}
}

// requestSeeds are realistic and hostile documents for the request fuzzers.
func requestSeeds(f *testing.F) {
	for _, c := range roundTripCases {
		f.Add(c.v.AppendJSON(nil))
	}
	for _, s := range []string{
		`{}`, `null`, `[]`, ``, `{"readonly":null}`, `{"group":null,"message":{}}`,
		`{"request":null}`, `{"request":  {"a" : [1 ,2]} }`, `{"hostPath":"\ud800","group":"\u0000"}`,
		`{"message":{"content":"a\"b"},"group":{"jid":"j"},"group":null}`,
		"{\"group\":\"\xff\"}", `{"isMain":tru}`, `{"a":1,}`, `{"group":"g"} x`,
		`{"gr\u006fup":"escaped key"}`,
	} {
		f.Add([]byte(s))
	}
}

// fuzzCodec decodes data into a fresh value of v's type both ways. If decoding succeeds the
// two must agree, and re-encoding then decoding must give an equal value and the same bytes.
// It returns the decoded value, or nil.
func fuzzCodec(t *testing.T, v aliasCodec, data []byte, normalize func(codec)) codec {
	t.Helper()
	copied := newOf(v).(aliasCodec)
	errCopy := copied.UnmarshalJSON(data)
	aliased := newOf(v).(aliasCodec)
	errAlias := aliased.DecodeAliased(bytes.Clone(data))
	if (errCopy == nil) != (errAlias == nil) {
		t.Fatalf("UnmarshalJSON error %v, DecodeAliased error %v", errCopy, errAlias)
	}
	if errCopy != nil {
		if !errors.Is(errCopy, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", errCopy)
		}
		return nil
	}
	if !same(copied, aliased) {
		t.Fatalf("UnmarshalJSON = %+v, DecodeAliased = %+v", copied, aliased)
	}
	if _, err := wire.Parse(data); err != nil {
		t.Fatalf("decoder accepted %q, which wire.Parse rejects: %v", data, err)
	}
	if normalize != nil {
		normalize(copied)
	}
	enc := copied.AppendJSON(nil)
	again := newOf(v).(aliasCodec)
	if err := again.UnmarshalJSON(enc); err != nil {
		t.Fatalf("re-decoding %s: %v", enc, err)
	}
	if !same(again, copied) {
		t.Fatalf("re-encoding changed the value:\n got %+v\nwant %+v\nvia %s", again, copied, enc)
	}
	if enc2 := again.AppendJSON(nil); !bytes.Equal(enc, enc2) {
		t.Fatalf("encoding is not stable: %s then %s", enc, enc2)
	}
	return copied
}

// FuzzMountRequest: decoding never panics; success round-trips.
func FuzzMountRequest(f *testing.F) {
	requestSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCodec(t, &MountRequest{}, data, nil)
	})
}

// FuzzRouteRequest: decoding never panics; success round-trips, and so does a bare group.
func FuzzRouteRequest(f *testing.F) {
	requestSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCodec(t, &RouteRequest{}, data, nil)
		fuzzCodec(t, &Group{}, data, nil)
	})
}

// FuzzIPCRequest: decoding never panics; success round-trips. An absent request is encoded
// as null (documented), which decodes as the raw bytes "null", so nil is compared as that.
func FuzzIPCRequest(f *testing.F) {
	requestSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCodec(t, &IPCRequest{}, data, func(v codec) {
			if r := v.(*IPCRequest); len(r.Request) == 0 {
				r.Request = []byte("null")
			}
		})
	})
}

// verdictSeeds are realistic and hostile verdicts for the verdict fuzzers: duplicates
// (plain and escaped), unknown fields, nulls, wrong types, trailing data.
func verdictSeeds(f *testing.F) {
	for _, s := range []string{
		`{"allow":true,"readonly":false,"hostPath":"/h","containerPath":"/workspace/extra/h","reason":"ok"}`,
		`{"allow":false}`, `{"allow":true}`, `{"allow":null}`, `{"readonly":null,"allow":true,"hostPath":"a","containerPath":"b"}`,
		`{"allow":false,"allow":true}`, `{"allow":true,"allow":false}`, `{"allow":false,"\u0061llow":true}`,
		`{"\u0061llow":true,"hostPath":"/h","containerPath":"/c"}`, `{"allow":true,"reason":"a","reason":"b"}`,
		`{"allow":true,"hostPath":"/h","containerPath":"/c","extra":1}`, `{"allow":false,"x":{"y":[{"z":null}]}}`,
		`{"action":"deliver","group":"family"}`, `{"action":"deliver"}`, `{"action":"ignore","reason":"\ud800"}`,
		`{"action":"store","action":"deliver","group":"main"}`, `{"action":"store","\u0061ction":"deliver","group":"m"}`,
		`{"action":"ignore","priority":1,"priority":2}`, `{"action":"deliver","group":"a","group":"b"}`,
		`{"action":"store"}`, `{"action":"bogus"}`, `{}`, `[]`, `null`, ``, `{"allow":true} `, `{"allow":true}}`,
		"{\"reason\":\"\xff\",\"allow\":false}", `{"allow":1}`, `{"action":null,"group":null,"reason":null}`,
	} {
		f.Add([]byte(s))
	}
}

// refFields reads a verdict object the slow, obvious way, as the fuzzers' reference: the
// whole document parsed first, each key unescaped, a known key (one of known) at most once,
// an unknown key refused when strict. set takes each known member and reports whether its
// value has the right type.
func refFields(data []byte, known []string, strict bool, set func(name string, val wire.Value) bool) bool {
	v, err := wire.Parse(data)
	if err != nil || v.Kind != wire.Object {
		return false
	}
	seen := map[string]bool{}
	ok := true
	v.EachField(func(k []byte, val wire.Value) bool {
		name := string(wire.UnescapeKey(k))
		switch {
		case !slices.Contains(known, name):
			ok = !strict
		case seen[name]:
			ok = false
		default:
			seen[name] = true
			ok = set(name, val)
		}
		return ok
	})
	return ok
}

// refBool and refString read a member as the decoders do: null is false or "".
func refBool(v wire.Value) (bool, bool) {
	if v.Kind == wire.Null {
		return false, true
	}
	return v.Bool()
}

func refString(v wire.Value) (string, bool) {
	if v.Kind == wire.Null {
		return "", true
	}
	return v.Str()
}

func refMount(data []byte) (MountVerdict, bool) {
	out, seen := MountVerdict{ReadOnly: true}, false
	ok := refFields(data, []string{"allow", "readonly", "hostPath", "containerPath", "reason"}, true, func(name string, v wire.Value) (ok bool) {
		switch name {
		case "allow":
			seen = true
			out.Allow, ok = refBool(v)
		case "readonly":
			if v.Kind == wire.Null {
				return true
			}
			out.ReadOnly, ok = v.Bool()
		case "hostPath":
			out.HostPath, ok = refString(v)
		case "containerPath":
			out.ContainerPath, ok = refString(v)
		case "reason":
			out.Reason, ok = refString(v)
		}
		return ok
	})
	if !ok || !seen || (out.Allow && (out.HostPath == "" || out.ContainerPath == "")) {
		return MountVerdict{ReadOnly: true}, false
	}
	return out, true
}

func refIPC(data []byte) (IPCVerdict, bool) {
	var out IPCVerdict
	seen := false
	ok := refFields(data, []string{"allow", "reason"}, true, func(name string, v wire.Value) (ok bool) {
		if name == "allow" {
			seen = true
			out.Allow, ok = refBool(v)
			return ok
		}
		out.Reason, ok = refString(v)
		return ok
	})
	if !ok || !seen {
		return IPCVerdict{}, false
	}
	return out, true
}

func refRoute(data []byte) (RouteVerdict, bool) {
	var out RouteVerdict
	ok := refFields(data, []string{"action", "group", "reason"}, false, func(name string, v wire.Value) (ok bool) {
		switch name {
		case "action":
			out.Action, ok = refString(v)
		case "group":
			out.Group, ok = refString(v)
		case "reason":
			out.Reason, ok = refString(v)
		}
		return ok
	})
	switch {
	case !ok:
	case out.Action == ActionNone || out.Action == ActionIgnore || out.Action == ActionStore:
		return out, true
	case out.Action == ActionDeliver && out.Group != "":
		return out, true
	}
	return RouteVerdict{}, false
}

// FuzzMountVerdict decodes any bytes as a mount verdict. It agrees with the reference
// decoder on what is accepted and what it means (so a repeated or unknown key is always
// refused), a refusal leaves the deny value, an accepted allow carries both paths, and an
// accepted verdict round-trips.
func FuzzMountVerdict(f *testing.F) {
	verdictSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantOK := refMount(data)
		for _, alias := range []bool{false, true} {
			v := MountVerdict{Allow: true, HostPath: "/stale", ContainerPath: "/stale"}
			err := decodeEither(&v, bytes.Clone(data), alias)
			if (err == nil) != wantOK || v != want {
				t.Fatalf("alias=%v: decoded %+v (err %v); the reference says %+v (ok %v)\ninput %q", alias, v, err, want, wantOK, data)
			}
		}
		fuzzCodec(t, &MountVerdict{}, data, nil)
	})
}

// FuzzIPCVerdict: as FuzzMountVerdict, for IPC verdicts.
func FuzzIPCVerdict(f *testing.F) {
	verdictSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantOK := refIPC(data)
		for _, alias := range []bool{false, true} {
			v := IPCVerdict{Allow: true, Reason: "stale"}
			err := decodeEither(&v, bytes.Clone(data), alias)
			if (err == nil) != wantOK || v != want {
				t.Fatalf("alias=%v: decoded %+v (err %v); the reference says %+v (ok %v)\ninput %q", alias, v, err, want, wantOK, data)
			}
		}
		fuzzCodec(t, &IPCVerdict{}, data, nil)
	})
}

// FuzzRouteVerdict: as FuzzMountVerdict, for route verdicts, whose unknown fields are
// ignored but whose known keys may not repeat; only the four actions exist.
func FuzzRouteVerdict(f *testing.F) {
	verdictSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantOK := refRoute(data)
		for _, alias := range []bool{false, true} {
			v := RouteVerdict{Action: ActionDeliver, Group: "stale"}
			err := decodeEither(&v, bytes.Clone(data), alias)
			if (err == nil) != wantOK || v != want {
				t.Fatalf("alias=%v: decoded %+v (err %v); the reference says %+v (ok %v)\ninput %q", alias, v, err, want, wantOK, data)
			}
		}
		fuzzCodec(t, &RouteVerdict{}, data, nil)
	})
}

// same compares two decoded values. A RouteRequest keeps its decoded group in internal
// storage (so decoding allocates nothing), which plain DeepEqual would compare too; what
// matters is the group it points to.
func same(a, b any) bool {
	ra, okA := a.(*RouteRequest)
	rb, okB := b.(*RouteRequest)
	if okA && okB {
		if (ra.Group == nil) != (rb.Group == nil) || (ra.Group != nil && *ra.Group != *rb.Group) {
			return false
		}
		return ra.Message == rb.Message && ra.AssistantName == rb.AssistantName
	}
	return reflect.DeepEqual(a, b)
}
