package store

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

func TestRouterState(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if v, ok, err := s.State(ctx, KeyLastTimestamp); ok || err != nil || v != "" {
		t.Errorf("unset key: %q %v %v", v, ok, err)
	}
	for _, v := range []string{"2024-01-01T00:00:00.000Z", "it's '); DROP TABLE router_state; --", ""} {
		if err := s.SetState(ctx, KeyLastTimestamp, v); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := s.State(ctx, KeyLastTimestamp); !ok || err != nil || got != v {
			t.Errorf("State = %q %v %v, want %q", got, ok, err, v)
		}
	}
}

func TestAgentCursors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		stored  string // raw router_state value, "" for none
		set     [][2]string
		want    map[string]string
		wantRaw string
	}{
		{name: "none", want: map[string]string{}},
		{
			name:    "stored as NanoClaw's JSON object",
			set:     [][2]string{{"b@g.us", "2024-01-02T00:00:00.000Z"}, {"a@g.us", "2024-01-01T00:00:00.000Z"}},
			want:    map[string]string{"a@g.us": "2024-01-01T00:00:00.000Z", "b@g.us": "2024-01-02T00:00:00.000Z"},
			wantRaw: `{"a@g.us":"2024-01-01T00:00:00.000Z","b@g.us":"2024-01-02T00:00:00.000Z"}`,
		},
		{
			name:   "existing NanoClaw value kept",
			stored: `{"x@g.us":"2023-01-01T00:00:00.000Z"}`,
			set:    [][2]string{{"y@g.us", "2024-01-01T00:00:00.000Z"}},
			want:   map[string]string{"x@g.us": "2023-01-01T00:00:00.000Z", "y@g.us": "2024-01-01T00:00:00.000Z"},
		},
		{name: "corrupt JSON reads as empty", stored: `{not json`, want: map[string]string{}},
		{
			name:   "corrupt JSON is replaced on write",
			stored: `[1,2`,
			set:    [][2]string{{"a@g.us", "2024-01-01T00:00:00.000Z"}},
			want:   map[string]string{"a@g.us": "2024-01-01T00:00:00.000Z"},
		},
		{name: "null reads as empty", stored: `null`, want: map[string]string{}},
		{name: "non-string values dropped", stored: `{"a":5,"b":"t"}`, want: map[string]string{"b": "t"}},
		{
			name: "overwrite moves a cursor",
			set:  [][2]string{{"a@g.us", "1"}, {"a@g.us", "2"}},
			want: map[string]string{"a@g.us": "2"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			if c.stored != "" {
				if err := s.SetState(ctx, KeyLastAgentTimestamp, c.stored); err != nil {
					t.Fatal(err)
				}
			}
			for _, kv := range c.set {
				if err := s.SetAgentCursor(ctx, kv[0], kv[1]); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.AgentCursors(ctx)
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("AgentCursors = %v %v, want %v", got, err, c.want)
			}
			for jid, ts := range c.want {
				if cur, err := s.AgentCursor(ctx, jid); err != nil || cur != ts {
					t.Errorf("AgentCursor(%s) = %q %v", jid, cur, err)
				}
			}
			if cur, err := s.AgentCursor(ctx, "absent@g.us"); err != nil || cur != "" {
				t.Errorf("absent cursor %q %v", cur, err)
			}
			if c.wantRaw != "" {
				if raw, _, _ := s.State(ctx, KeyLastAgentTimestamp); raw != c.wantRaw {
					t.Errorf("raw = %s, want %s", raw, c.wantRaw)
				}
			}
		})
	}
}

// Concurrent cursor updates for different chats must not overwrite each other's entries.
func TestSetAgentCursorConcurrent(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const n = 16
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := s.SetAgentCursor(ctx, fmt.Sprintf("c%d", i), fmt.Sprint(i)); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	got, err := s.AgentCursors(ctx)
	if err != nil || len(got) != n {
		t.Errorf("%d cursors (%v), want %d", len(got), err, n)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if id, err := s.Session(ctx, "main"); err != nil || id != "" {
		t.Errorf("no session: %q %v", id, err)
	}
	steps := []struct {
		op, folder, id string
		want           map[string]string
	}{
		{"set", "main", "s1", map[string]string{"main": "s1"}},
		{"set", "family", "s2", map[string]string{"main": "s1", "family": "s2"}},
		{"set", "main", "s3", map[string]string{"main": "s3", "family": "s2"}},
		{"delete", "family", "", map[string]string{"main": "s3"}},
		{"delete", "missing", "", map[string]string{"main": "s3"}},
	}
	for _, st := range steps {
		var err error
		if st.op == "set" {
			err = s.SetSession(ctx, st.folder, st.id)
		} else {
			err = s.DeleteSession(ctx, st.folder)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Sessions(ctx)
		if err != nil || !reflect.DeepEqual(got, st.want) {
			t.Errorf("after %s %s: %v %v, want %v", st.op, st.folder, got, err, st.want)
		}
		for f, id := range st.want {
			if got, _ := s.Session(ctx, f); got != id {
				t.Errorf("Session(%s) = %q, want %q", f, got, id)
			}
		}
	}
}
