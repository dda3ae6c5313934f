package routepolicy

import (
	"errors"
	"maps"
	"slices"
	"testing"
)

// NanoClaw's loadSenderAllowlist tests (src/sender-allowlist.test.ts), as v1.2.53 behaves:
// an invalid per-chat entry is skipped rather than failing the whole file.
func TestParseAllowlist(t *testing.T) {
	type want struct {
		allowAll  bool
		allow     []string // sorted; nil with allowAll
		mode      Mode
		chats     []string // sorted chat JIDs kept
		skipped   []string
		logDenied bool
	}
	tests := []struct {
		name    string
		content string
		err     bool // invalid: the caller falls back to DenyAll
		want    want
	}{
		{"allow all", `{"default":{"allow":"*","mode":"trigger"},"chats":{},"logDenied":false}`, false,
			want{allowAll: true, mode: ModeTrigger}},
		{"empty list denies everyone", `{"default":{"allow":[],"mode":"trigger"},"chats":{}}`, false,
			want{allow: []string{}, mode: ModeTrigger, logDenied: true}},
		{"list, drop mode", `{"default":{"allow":["alice","bob"],"mode":"drop"},"chats":{}}`, false,
			want{allow: []string{"alice", "bob"}, mode: ModeDrop, logDenied: true}},
		{"per-chat override", `{"default":{"allow":"*","mode":"trigger"},"chats":{"group-a":{"allow":["alice"],"mode":"drop"}}}`, false,
			want{allowAll: true, chats: []string{"group-a"}, logDenied: true}},
		{"chats may be absent", `{"default":{"allow":"*","mode":"drop"}}`, false,
			want{allowAll: true, mode: ModeDrop, logDenied: true}},
		{"chats not an object is no chats", `{"default":{"allow":"*","mode":"trigger"},"chats":[1]}`, false,
			want{allowAll: true, logDenied: true}},
		{"invalid chat entries closed", `{"default":{"allow":"*","mode":"trigger"},"chats":{"good":{"allow":["alice"],"mode":"trigger"},"bad":{"allow":123},"worse":"x","nomode":{"allow":"*"}}}`, false,
			want{allowAll: true, chats: []string{"bad", "good", "nomode", "worse"}, skipped: []string{"bad", "nomode", "worse"}, logDenied: true}},
		{"chat entry with non-string items closed", `{"default":{"allow":"*","mode":"trigger"},"chats":{"c":{"allow":["a",1],"mode":"trigger"}}}`, false,
			want{allowAll: true, chats: []string{"c"}, skipped: []string{"c"}, logDenied: true}},
		{"logDenied only off when false", `{"default":{"allow":"*","mode":"trigger"},"logDenied":"no"}`, false,
			want{allowAll: true, logDenied: true}},
		{"repeated key: the last wins", `{"default":{"allow":"*","mode":"trigger"},"default":{"allow":["x"],"mode":"drop","mode":"trigger"}}`, false,
			want{allow: []string{"x"}, mode: ModeTrigger, logDenied: true}},
		{"later invalid duplicate chat replaces a valid one", `{"default":{"allow":"*","mode":"trigger"},"chats":{"c":{"allow":"*","mode":"drop"},"c":{}}}`, false,
			want{allowAll: true, chats: []string{"c"}, skipped: []string{"c"}, logDenied: true}},
		{"escaped keys are decoded", `{"def\u0061ult":{"allow":["a\u0040s"],"mode":"trigger"},"chats":{"g\u0040g.us":{"allow":"*","mode":"drop"}}}`, false,
			want{allow: []string{"a@s"}, chats: []string{"g@g.us"}, logDenied: true}},
		{"unknown fields ignored", `{"default":{"allow":"*","mode":"trigger","note":1},"extra":true}`, false,
			want{allowAll: true, logDenied: true}},

		{"invalid JSON", `{ not valid json }}}`, true, want{}},
		{"empty file", ``, true, want{}},
		{"not an object", `[{"allow":"*","mode":"trigger"}]`, true, want{}},
		{"null", `null`, true, want{}},
		{"no default", `{"chats":{}}`, true, want{}},
		{"invalid default schema", `{"default":{"oops":true}}`, true, want{}},
		{"non-string allow items", `{"default":{"allow":[123,null,true],"mode":"trigger"},"chats":{}}`, true, want{}},
		{"allow a bare name", `{"default":{"allow":"alice","mode":"trigger"}}`, true, want{}},
		{"no mode", `{"default":{"allow":"*"}}`, true, want{}},
		{"unknown mode", `{"default":{"allow":"*","mode":"block"}}`, true, want{}},
		{"mode not a string", `{"default":{"allow":"*","mode":1}}`, true, want{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAllowlist([]byte(tt.content))
			if tt.err {
				if !errors.Is(err, ErrInvalidAllowlist) {
					t.Fatalf("err = %v, want ErrInvalidAllowlist", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var allow []string
			if a.Default.Allow != nil {
				allow = slices.Sorted(maps.Keys(a.Default.Allow))
				if allow == nil {
					allow = []string{}
				}
			}
			got := want{
				allowAll:  a.Default.AllowAll,
				allow:     allow,
				mode:      a.Default.Mode,
				chats:     slices.Sorted(maps.Keys(a.Chats)),
				skipped:   slices.Sorted(slices.Values(a.Skipped)),
				logDenied: a.LogDenied,
			}
			if got.allowAll != tt.want.allowAll || !equalNilable(got.allow, tt.want.allow) || got.mode != tt.want.mode ||
				!slices.Equal(got.chats, tt.want.chats) || !slices.Equal(got.skipped, tt.want.skipped) || got.logDenied != tt.want.logDenied {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// equalNilable tells nil (no list: allow "*") from empty (allow []).
func equalNilable(a, b []string) bool {
	return (a == nil) == (b == nil) && slices.Equal(a, b)
}

// isSenderAllowed and shouldDropMessage from sender-allowlist.test.ts.
func TestAllowlistEntry(t *testing.T) {
	a, err := ParseAllowlist([]byte(`{"default":{"allow":["alice","bob"],"mode":"trigger"},"chats":{"g1":{"allow":["alice"],"mode":"drop"},"g3":{"allow":[],"mode":"trigger"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		chat, sender string
		allowed      bool
		mode         Mode
	}{
		{"g2", "alice", true, ModeTrigger},
		{"g2", "bob", true, ModeTrigger},
		{"g2", "eve", false, ModeTrigger},
		{"g2", "Alice", false, ModeTrigger}, // exact match only
		{"g2", "", false, ModeTrigger},
		{"g1", "alice", true, ModeDrop},
		{"g1", "bob", false, ModeDrop}, // the chat's entry replaces the default, not adds to it
		{"g3", "alice", false, ModeTrigger},
	}
	for _, tt := range tests {
		e := a.Entry(tt.chat)
		if got := e.Allows(tt.sender); got != tt.allowed || e.Mode != tt.mode {
			t.Errorf("chat %s sender %q: allowed %v mode %v, want %v %v", tt.chat, tt.sender, got, e.Mode, tt.allowed, tt.mode)
		}
	}
	if none := DenyAll().Entry("any"); none.Allows("anyone") || none.Allows("") || none.Mode != ModeTrigger {
		t.Errorf("DenyAll: %+v", none)
	}
	closed, err := ParseAllowlist([]byte(`{"default":{"allow":"*","mode":"trigger"},"chats":{"c":{"allow":"*","mode":"drop"},"c":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if e := closed.Entry("c"); e.Allows("anyone") || e.Mode != ModeTrigger {
		t.Errorf("an invalid chat entry: %+v, want nobody allowed, trigger mode", e)
	}
	if all := AllowAll().Entry("any"); !all.Allows("anyone") || all.Mode != ModeTrigger {
		t.Errorf("AllowAll: %+v", all)
	}
}
