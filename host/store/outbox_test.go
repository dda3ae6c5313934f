package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestOutbox: messages and the state they settle are stored together; unsent ones are
// listed in order until marked sent; failures are counted; old sent ones are pruned.
func TestOutbox(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if err := s.SetState(ctx, "inflight:a", "cursor:1"); err != nil {
		t.Fatal(err)
	}
	ids, err := s.QueueOutgoing(ctx, []Outgoing{
		{ChatJID: "a", Text: "one", Origin: "reply", CreatedAt: "2026-01-01T00:00:00.000Z"},
		{ChatJID: "b", Text: "two", Origin: "ipc:main", CreatedAt: "2026-01-01T00:00:01.000Z"},
	}, map[string]string{"inflight:a": ""})
	if err != nil || len(ids) != 2 || ids[1] <= ids[0] {
		t.Fatalf("ids %v, %v", ids, err)
	}
	if v, _, _ := s.State(ctx, "inflight:a"); v != "" {
		t.Fatalf("state not settled with the messages: %q", v)
	}
	if err := s.MarkOutgoingFailed(ctx, ids[0], "no channel"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkOutgoingSent(ctx, ids[1], "2026-01-01T00:00:02.000Z"); err != nil {
		t.Fatal(err)
	}
	unsent, err := s.UnsentOutgoing(ctx)
	if err != nil || len(unsent) != 1 || unsent[0].Text != "one" || unsent[0].Attempts != 1 || unsent[0].LastError != "no channel" {
		t.Fatalf("unsent %+v %v", unsent, err)
	}
	if n, err := s.PruneOutgoing(ctx, "2026-01-02T00:00:00.000Z"); err != nil || n != 1 {
		t.Fatalf("pruned %d %v", n, err)
	}
	all, _ := s.OutgoingFor(ctx, "a")
	if len(all) != 1 || all[0].SentAt != "" {
		t.Fatalf("chat a: %+v", all)
	}
}

// TestOutboxAllOrNothing: a message without a chat fails the whole transaction, and the
// state is not changed either.
func TestOutboxAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	_, err := s.QueueOutgoing(ctx, []Outgoing{{ChatJID: "a", Text: "x"}, {Text: "no chat"}}, map[string]string{"k": "v"})
	if err == nil {
		t.Fatal("a message without a chat was queued")
	}
	if unsent, _ := s.UnsentOutgoing(ctx); len(unsent) != 0 {
		t.Fatalf("half a transaction stored: %+v", unsent)
	}
	if _, ok, _ := s.State(ctx, "k"); ok {
		t.Fatal("state set by a failed transaction")
	}
}

// TestIPCRefusals: refusals are kept newest-last, the request cut to its bound, and the
// table holds at most keepRefusals.
func TestIPCRefusals(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	big := strings.Repeat("x", MaxRefusalRequest+100)
	for i := range keepRefusals + 5 {
		if err := s.RecordIPCRefusal(ctx, IPCRefusal{At: fmt.Sprint(i), Group: "g", Type: "message", Code: "refused", Reason: fmt.Sprint("r", i), Request: big}); err != nil {
			t.Fatal(err)
		}
	}
	recent, err := s.RecentIPCRefusals(ctx, 3)
	if err != nil || len(recent) != 3 || recent[2].Reason != fmt.Sprint("r", keepRefusals+4) || len(recent[0].Request) != MaxRefusalRequest {
		t.Fatalf("recent %v %v", len(recent), err)
	}
	var n int
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM ipc_refusals`).Scan(&n); err != nil || n != keepRefusals {
		t.Fatalf("kept %d %v", n, err)
	}
}
