package credproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// TestRestartDoesNotResetBudget: usage was kept in memory, so a restart reset both
// `nanoclaw status` and the budget. Now each group's day is in the store: a new proxy on
// the same store (a restarted host) starts from today's counts, refuses a group that had
// used its budget, and starts afresh the next day in the host's zone.
func TestRestartDoesNotResetBudget(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "store", "nanoclaw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, tokyo)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	up, _ := mockUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"usage":{"input_tokens":60,"output_tokens":50,"cache_read_input_tokens":7,"cache_creation_input_tokens":3}}`)
	})
	cfg := Config{Upstream: up, APIKey: realKey, MaxTokensPerDay: 100, Store: st, Location: tokyo, Clock: clock}

	first := newHarness(t, cfg)
	c, _ := first.listen("main")
	if a := first.do(c, post("/v1/messages", msgBody, nil)); a.status != 200 {
		t.Fatalf("first request: %d", a.status)
	}
	if a := first.do(c, post("/v1/messages", msgBody, nil)); a.status != 429 {
		t.Fatalf("over budget: %d", a.status)
	}
	first.do(c, post("/v1/files", "", nil)) // a refusal of another kind
	before := first.p.Usage("main")
	if err := first.p.Close(); err != nil { // the host stops
		t.Fatal(err)
	}

	restarted := newHarness(t, cfg)
	after := restarted.p.Usage("main")
	want := Usage{Day: "2026-03-01", Tokens: Tokens{Input: 60, Output: 50, CacheRead: 7, CacheWrite: 3}, TotalTokens: 120,
		Requests: 1, Refusals: 2, Budget: 100}
	if before != want || after != want {
		t.Errorf("before the restart %+v\nafter %+v\nwant %+v", before, after, want)
	}
	c, _ = restarted.listen("main")
	if a := restarted.do(c, post("/v1/messages", msgBody, nil)); a.status != 429 {
		t.Errorf("after the restart the budget was reset: %d", a.status)
	}
	mu.Lock()
	now = now.Add(14 * time.Hour) // midnight in Tokyo
	mu.Unlock()
	if a := restarted.do(c, post("/v1/messages", msgBody, nil)); a.status != 200 {
		t.Errorf("the next day: %d", a.status)
	}
	if err := restarted.p.Close(); err != nil {
		t.Fatal(err)
	}
	for day, want := range map[string]store.APIUsage{
		"2026-03-01": {Group: "main", Day: "2026-03-01", InputTokens: 60, OutputTokens: 50, CacheReadTokens: 7, CacheWriteTokens: 3, Requests: 1, Refusals: 3},
		"2026-03-02": {Group: "main", Day: "2026-03-02", InputTokens: 60, OutputTokens: 50, CacheReadTokens: 7, CacheWriteTokens: 3, Requests: 1},
	} {
		got, err := st.APIUsageOn(ctx, day)
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("stored for %s: %+v, %v; want %+v", day, got, err, want)
		}
	}
}

// slowStore is a UsageStore whose writes wait until the test lets them through, or fail.
type slowStore struct {
	mu      sync.Mutex
	gate    chan struct{} // a write waits for it to be closed
	writes  int
	fail    int // this many writes fail first
	written []store.APIUsage
	entered chan struct{}
}

func (s *slowStore) AddAPIUsage(ctx context.Context, deltas ...store.APIUsage) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	select {
	case <-s.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.fail > 0 {
		s.fail--
		return errors.New("disk full")
	}
	s.written = append(s.written, deltas...)
	return nil
}

func (s *slowStore) APIUsageOn(context.Context, string) ([]store.APIUsage, error) { return nil, nil }

// total adds up what was written for group.
func (s *slowStore) total(group string) (u store.APIUsage, writes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.written {
		if d.Group == group {
			u.InputTokens += d.InputTokens
			u.OutputTokens += d.OutputTokens
			u.Requests += d.Requests
			u.Refusals += d.Refusals
		}
	}
	return u, s.writes
}

// TestStoreDoesNotSlowRequests: the store is written off the request path. While a write
// is stuck, requests are still answered and settled; what piles up meanwhile is merged
// into one write per group and day; a failed write is retried, not lost; Close writes the
// rest.
func TestStoreDoesNotSlowRequests(t *testing.T) {
	st := &slowStore{gate: make(chan struct{}), fail: 1, entered: make(chan struct{}, 1)}
	up, _ := mockUpstream(t, nil) // input 3, output 4
	h := newHarness(t, Config{Upstream: up, APIKey: realKey, Store: st})
	c, _ := h.listen("main")
	h.do(c, post("/v1/messages", msgBody, nil))
	select { // the first write is under way, and stuck
	case <-st.entered:
	case <-time.After(deadline):
		t.Fatal("no store write started")
	}
	for range 9 {
		if a := h.do(c, post("/v1/messages", msgBody, nil)); a.status != 200 {
			t.Fatalf("status %d", a.status)
		}
	}
	h.do(c, post("/v1/models", "", nil))
	if u := h.p.Usage("main"); u.Requests != 10 || u.Refusals != 1 {
		t.Errorf("usage %+v", u)
	}
	close(st.gate) // the first write fails; the retry carries everything
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	got, writes := st.total("main")
	if got.Requests != 10 || got.Refusals != 1 || got.InputTokens != 30 || got.OutputTokens != 40 {
		t.Errorf("stored %+v", got)
	}
	if writes > 3 {
		t.Errorf("%d writes for 11 requests: deltas were not merged while a write was under way", writes)
	}
}
