package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

var _ channel.Channel = (*Channel)(nil)
var _ channel.GroupSyncer = (*Channel)(nil)

func TestSendPrefix(t *testing.T) {
	for _, tc := range []struct {
		name string
		own  bool
		want string
	}{
		{"shared number gets the name prefix", false, "Andy: hello"},
		{"own number sends as is", true, "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, f, _ := newSendChannel(t, Options{HasOwnNumber: tc.own})
			online(c)
			mustSend(t, c, sendGroup, "hello")
			a := f.next(t)
			if a.text != tc.want || a.to != sendGroup {
				t.Fatalf("sent %q to %s, want %q to %s", a.text, a.to, tc.want, sendGroup)
			}
		})
	}
}

func TestSendRefusesBadJIDs(t *testing.T) {
	c, _, _ := newSendChannel(t, Options{})
	for _, jid := range []string{"", "tg:123", "local:main", "a@b@c", "1.2.3@s.whatsapp.net", "@g.us", "x@example.com"} {
		if err := c.Send(context.Background(), jid, "hi"); err == nil {
			t.Errorf("Send(%q) = nil, want an error", jid)
		}
		if err := c.SetTyping(context.Background(), jid, true); err == nil {
			t.Errorf("SetTyping(%q) = nil, want an error", jid)
		}
	}
}

func TestSendDeviceJIDGoesToTheUser(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	online(c)
	mustSend(t, c, "15551234567:3@s.whatsapp.net", "hi")
	if a := f.next(t); a.to != sendDM {
		t.Fatalf("sent to %s, want %s", a.to, sendDM)
	}
}

func TestSendOrderPreserved(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	online(c)
	for i := range 20 {
		mustSend(t, c, sendGroup, fmt.Sprint(i))
	}
	for i := range 20 {
		if a := f.next(t); a.text != fmt.Sprintf("Andy: %d", i) {
			t.Fatalf("send %d was %q", i, a.text)
		}
	}
}

func TestOutboxQueuedWhileDisconnected(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	mustSend(t, c, sendGroup, "one")
	mustSend(t, c, sendDM, "two")
	f.none(t, 50*time.Millisecond) // not connected yet
	online(c)
	if a := f.next(t); a.text != "Andy: one" || a.to != sendGroup {
		t.Fatalf("first flushed %+v", a)
	}
	if a := f.next(t); a.text != "Andy: two" || a.to != sendDM {
		t.Fatalf("second flushed %+v", a)
	}

	// Disconnected again: queued, then flushed in order on reconnect.
	c.handleEvent(&events.Disconnected{})
	mustSend(t, c, sendGroup, "three")
	mustSend(t, c, sendGroup, "four")
	f.none(t, 50*time.Millisecond)
	online(c)
	for _, want := range []string{"Andy: three", "Andy: four"} {
		if a := f.next(t); a.text != want {
			t.Fatalf("flushed %q, want %q", a.text, want)
		}
	}
}

func TestOutboxFailureRequeuesAtHead(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	f.set(func(f *sendFakeClient) { f.failSends = 1 })
	online(c)
	mustSend(t, c, sendGroup, "first")
	if a := f.next(t); a.err == nil || a.text != "Andy: first" {
		t.Fatalf("first attempt %+v, want a failure", a)
	}
	mustSend(t, c, sendGroup, "second")
	f.none(t, 50*time.Millisecond) // waits for the next connection, even when woken by Send
	c.handleEvent(&events.Disconnected{})
	online(c)
	for _, want := range []string{"Andy: first", "Andy: second"} {
		if a := f.next(t); a.err != nil || a.text != want {
			t.Fatalf("after reconnect sent %+v, want %q", a, want)
		}
	}
}

func TestOutboxDropsAfterRepeatedFailures(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	f.set(func(f *sendFakeClient) { f.failSends = maxAttempts })
	online(c)
	mustSend(t, c, sendGroup, "doomed")
	mustSend(t, c, sendGroup, "next")
	for i := range maxAttempts {
		if a := f.next(t); a.err == nil || a.text != "Andy: doomed" {
			t.Fatalf("attempt %d: %+v", i, a)
		}
		online(c)
	}
	if a := f.next(t); a.err != nil || a.text != "Andy: next" {
		t.Fatalf("after dropping, sent %+v", a)
	}
}

func TestOutboxBounded(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	for i := range maxOutbox + 5 {
		mustSend(t, c, sendGroup, fmt.Sprint(i))
	}
	c.mu.Lock()
	n, head := len(c.outbox), c.outbox[0].text
	c.mu.Unlock()
	if n != maxOutbox || head != "Andy: 5" {
		t.Fatalf("outbox has %d, head %q; want %d, head %q", n, head, maxOutbox, "Andy: 5")
	}
	online(c)
	if a := f.next(t); a.text != "Andy: 5" {
		t.Fatalf("first flushed %q", a.text)
	}
}

func TestSendRateLimitSpacing(t *testing.T) {
	const gap = 40 * time.Millisecond
	c, f, _ := newSendChannel(t, Options{MinSendInterval: gap})
	online(c)
	for i := range 4 {
		mustSend(t, c, sendGroup, fmt.Sprint(i))
	}
	prev := f.next(t).at
	for i := 1; i < 4; i++ {
		a := f.next(t)
		if d := a.at.Sub(prev); d < gap {
			t.Fatalf("send %d came %v after the previous one, want >= %v", i, d, gap)
		}
		prev = a.at
	}
}

func TestSendRecordsSentIDs(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	online(c)
	mustSend(t, c, sendGroup, "a")
	a := f.next(t)
	mustSend(t, c, sendGroup, "b") // once b is attempted, a's ID is recorded
	f.next(t)
	c.mu.Lock()
	ok := c.sentIDs[a.id]
	c.mu.Unlock()
	if !ok {
		t.Fatalf("sent ID %q not recorded", a.id)
	}
}

func TestSendSentIDsBounded(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	online(c)
	const n = maxSentIDs + 10
	var first, last sendAttempt
	for i := range n + 1 {
		mustSend(t, c, sendGroup, fmt.Sprint(i))
		a := f.next(t)
		if i == 0 {
			first = a
		}
		if i == n-1 {
			last = a
		}
	}
	c.mu.Lock()
	size, hasFirst, hasLast := len(c.sentIDs), c.sentIDs[first.id], c.sentIDs[last.id]
	c.mu.Unlock()
	if size > maxSentIDs || hasFirst || !hasLast {
		t.Fatalf("sentIDs: %d entries, oldest kept %v, newest kept %v", size, hasFirst, hasLast)
	}
}

func TestTyping(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	ctx := context.Background()
	if err := c.SetTyping(ctx, sendGroup, true); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTyping(ctx, sendGroup, false); err != nil {
		t.Fatal(err)
	}
	f.set(func(f *sendFakeClient) { f.presenceErr = errors.New("not connected") })
	if err := c.SetTyping(ctx, sendDM, true); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("SetTyping error = %v", err)
	}
	f.mu.Lock()
	got := strings.Join(f.presences, "|")
	f.mu.Unlock()
	want := sendGroup + " composing |" + sendGroup + " paused |" + sendDM + " composing "
	if got != want {
		t.Fatalf("presences %q, want %q", got, want)
	}
}

func TestSendMaxMessageLen(t *testing.T) {
	for _, tc := range []struct {
		own  bool
		want int
	}{{false, 4096 - len("Andy: ")}, {true, 4096}} {
		c := New(Options{AssistantName: "Andy", HasOwnNumber: tc.own}, newSendFakeClient(), sendIdentity{})
		if got := c.MaxMessageLen(); got != tc.want {
			t.Errorf("own=%v: MaxMessageLen = %d, want %d", tc.own, got, tc.want)
		}
	}
}

func TestOwnsJID(t *testing.T) {
	c := New(Options{}, newSendFakeClient(), sendIdentity{})
	for jid, want := range map[string]bool{
		sendGroup:          true,
		sendDM:             true,
		"123456789@lid":    true,
		"tg:123":           false,
		"dc:456":           false,
		"local:main":       false,
		"":                 false,
		"status@broadcast": false,
	} {
		if got := c.OwnsJID(jid); got != want {
			t.Errorf("OwnsJID(%q) = %v, want %v", jid, got, want)
		}
	}
}

func TestSyncGroupsOnFirstConnect(t *testing.T) {
	c, f, sink := newSendChannel(t, Options{})
	f.set(func(f *sendFakeClient) {
		f.groups = []*types.GroupInfo{
			{JID: types.NewJID("1201", types.GroupServer), GroupName: types.GroupName{Name: "Family"}},
			{JID: types.NewJID("1202", types.GroupServer)}, // no subject: skipped
			{JID: types.NewJID("1203", types.GroupServer), GroupName: types.GroupName{Name: "Work"}},
		}
	})
	online(c)
	f.groupFetch(t)
	var got []channel.ChatMeta
	for range 2 {
		select {
		case m := <-sink.ch:
			got = append(got, m)
		case <-time.After(sendWait):
			t.Fatal("group names not stored")
		}
	}
	want := []channel.ChatMeta{
		{JID: "1201@g.us", Name: "Family", Channel: "whatsapp", IsGroup: true},
		{JID: "1203@g.us", Name: "Work", Channel: "whatsapp", IsGroup: true},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("stored %+v, want %+v", got, want)
		}
	}
	// lastSync is set after the names are stored; a forced sync waits on the same data.
	if err := c.SyncGroups(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	f.groupFetch(t)
	if n := len(sink.all()); n != 4 {
		t.Fatalf("%d chat metadata calls after a forced sync, want 4", n)
	}
}

func TestSyncGroupsSkippedWithin24h(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c, f, _ := newSendChannel(t, Options{Now: clock})
	ctx := context.Background()
	c.mu.Lock()
	c.lastSync = now.Add(-23 * time.Hour)
	c.mu.Unlock()
	if err := c.SyncGroups(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.counts(); n != 0 {
		t.Fatalf("synced %d times within 24 h", n)
	}
	if err := c.SyncGroups(ctx, true); err != nil { // forced
		t.Fatal(err)
	}
	if n, _ := f.counts(); n != 1 {
		t.Fatalf("forced sync fetched %d times", n)
	}
	c.mu.Lock()
	c.lastSync = now.Add(-25 * time.Hour)
	c.mu.Unlock()
	if err := c.SyncGroups(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.counts(); n != 2 {
		t.Fatalf("stale sync fetched %d times in all, want 2", n)
	}
	c.mu.Lock()
	last := c.lastSync
	c.mu.Unlock()
	if !last.Equal(now) {
		t.Fatalf("lastSync %v, want %v", last, now)
	}
}

func TestSyncGroupsRecentSyncNotRepeatedOnConnect(t *testing.T) {
	now := time.Now()
	c, f, _ := newSendChannel(t, Options{Now: func() time.Time { return now }})
	c.mu.Lock()
	c.lastSync = now.Add(-time.Hour)
	c.mu.Unlock()
	online(c)
	mustSend(t, c, sendGroup, "hi") // the sender has seen the connection once this is sent
	f.next(t)
	select {
	case <-f.groupCh:
		t.Fatal("synced although the last sync is an hour old")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestSyncGroupsFailureTolerated(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	f.set(func(f *sendFakeClient) { f.groupsErr = errors.New("rate-overlimit") })
	online(c)
	f.groupFetch(t)
	err := c.SyncGroups(context.Background(), true)
	if err == nil || !strings.Contains(err.Error(), "rate-overlimit") {
		t.Fatalf("SyncGroups = %v", err)
	}
	c.mu.Lock()
	last := c.lastSync
	c.mu.Unlock()
	if !last.IsZero() {
		t.Fatal("a failed sync must not count as the last sync")
	}
	// Sending still works.
	mustSend(t, c, sendGroup, "still here")
	if a := f.next(t); a.err != nil {
		t.Fatal(a.err)
	}
	// The next connection tries again.
	f.set(func(f *sendFakeClient) { f.groupsErr = nil })
	c.handleEvent(&events.Disconnected{})
	if err := c.SyncGroups(context.Background(), false); err != nil {
		t.Fatal(err)
	}
}

func TestSyncGroupsSinkErrorTolerated(t *testing.T) {
	c, f, sink := newSendChannel(t, Options{})
	sink.err = errors.New("disk full")
	f.set(func(f *sendFakeClient) {
		f.groups = []*types.GroupInfo{{JID: types.NewJID("1", types.GroupServer), GroupName: types.GroupName{Name: "A"}}}
	})
	if err := c.SyncGroups(context.Background(), true); err != nil {
		t.Fatalf("SyncGroups = %v, want nil (sink errors are logged)", err)
	}
}

func TestSyncGroupNameEvents(t *testing.T) {
	c, _, sink := newSendChannel(t, Options{})
	jid := types.NewJID("1209", types.GroupServer)
	c.handleEvent(&events.GroupInfo{JID: jid, Name: &types.GroupName{Name: "Renamed"}})
	c.handleEvent(&events.GroupInfo{JID: jid}) // no name change: nothing stored
	c.handleEvent(&events.JoinedGroup{GroupInfo: types.GroupInfo{JID: types.NewJID("1210", types.GroupServer), GroupName: types.GroupName{Name: "New"}}})
	got := sink.all()
	want := []channel.ChatMeta{
		{JID: "1209@g.us", Name: "Renamed", Channel: "whatsapp", IsGroup: true},
		{JID: "1210@g.us", Name: "New", Channel: "whatsapp", IsGroup: true},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("stored %+v, want %+v", got, want)
	}
}

func TestConnectFailure(t *testing.T) {
	f := newSendFakeClient()
	f.connectErr = errors.New("dial tcp: no route")
	c := New(Options{Sink: newSendSink()}, f, sendIdentity{})
	err := c.Connect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no route") {
		t.Fatalf("Connect = %v", err)
	}
	select {
	case <-c.done:
	case <-time.After(sendWait):
		t.Fatal("background work still running after a failed Connect")
	}
	if err := c.Send(context.Background(), sendGroup, "x"); !errors.Is(err, ErrStopped) {
		t.Fatalf("Send after a failed Connect = %v", err)
	}
}

func TestConnectCallsClient(t *testing.T) {
	_, f, _ := newSendChannel(t, Options{})
	f.mu.Lock()
	n := f.connects
	f.mu.Unlock()
	if n != 1 {
		t.Fatalf("client.Connect called %d times", n)
	}
}

func TestLoggedOutIsFatal(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	online(c)
	c.handleEvent(&events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureLoggedOut})
	select {
	case err := <-c.Fatal():
		if !errors.Is(err, ErrLoggedOut) || !strings.Contains(err.Error(), "nanoclaw auth") {
			t.Fatalf("fatal %v", err)
		}
	case <-time.After(sendWait):
		t.Fatal("no fatal error")
	}
	if err := c.Send(context.Background(), sendGroup, "x"); !errors.Is(err, ErrStopped) {
		t.Fatalf("Send after logout = %v", err)
	}
	online(c) // a stray Connected does not revive it
	f.none(t, 50*time.Millisecond)
}

func TestLoggedOutStopsQueuedSends(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	mustSend(t, c, sendGroup, "queued")
	c.handleEvent(&events.LoggedOut{})
	online(c)
	f.none(t, 50*time.Millisecond)
	if err := <-c.Fatal(); !errors.Is(err, ErrLoggedOut) {
		t.Fatal(err)
	}
}

func TestReplacedIsFatalAndDisconnects(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	online(c)
	c.handleEvent(&events.StreamReplaced{})
	select {
	case err := <-c.Fatal():
		if !errors.Is(err, ErrReplaced) {
			t.Fatalf("fatal %v", err)
		}
	case <-time.After(sendWait):
		t.Fatal("no fatal error")
	}
	if _, n := f.counts(); n != 1 {
		t.Fatalf("client.Disconnect called %d times, want 1", n)
	}
	// A second fatal reason does not block.
	c.handleEvent(&events.LoggedOut{})
}

func TestConnClientOutdatedIsFatal(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	f.dispatch(&events.ClientOutdated{})
	f.dispatch(&events.KeepAliveTimeout{ErrorCount: 2})
	f.dispatch(&events.TemporaryBan{Code: events.TempBanSentToTooManyPeople, Expire: time.Hour})
	if err := <-c.Fatal(); !errors.Is(err, ErrOutdated) {
		t.Fatal(err)
	}
}

func TestDisconnectIdempotent(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	online(c)
	mustSend(t, c, sendGroup, "a")
	f.next(t)
	ctx := context.Background()
	for range 3 {
		if err := c.Disconnect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, n := f.counts(); n != 1 {
		t.Fatalf("client.Disconnect called %d times, want 1", n)
	}
	if err := c.Send(ctx, sendGroup, "late"); !errors.Is(err, ErrStopped) {
		t.Fatalf("Send after Disconnect = %v", err)
	}
	if err := c.Connect(ctx); !errors.Is(err, ErrStopped) {
		t.Fatalf("Connect after Disconnect = %v", err)
	}
	online(c)
	f.none(t, 20*time.Millisecond)
}

func TestDisconnectWhileSending(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{MinSendInterval: time.Hour})
	online(c)
	mustSend(t, c, sendGroup, "a")
	mustSend(t, c, sendGroup, "b") // waits an hour for its slot
	f.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), sendWait)
	defer cancel()
	if err := c.Disconnect(ctx); err != nil {
		t.Fatalf("Disconnect during the rate-limit wait: %v", err)
	}
}

func TestSyncGroupsPeriodic(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{GroupSyncEvery: 20 * time.Millisecond})
	online(c)
	for range 3 { // the sync on connect, then the ticker's
		f.groupFetch(t)
	}
	if err := c.Disconnect(context.Background()); err != nil {
		t.Fatal(err)
	}
	for len(f.groupCh) > 0 { // fetches that finished before Disconnect returned
		<-f.groupCh
	}
	select {
	case <-f.groupCh:
		t.Fatal("group sync ran after Disconnect")
	case <-time.After(60 * time.Millisecond):
	}
}

func TestSyncGroupsPeriodicOnlyWhileConnected(t *testing.T) {
	_, f, _ := newSendChannel(t, Options{GroupSyncEvery: 10 * time.Millisecond})
	select { // never connected: the ticker does not fetch
	case <-f.groupCh:
		t.Fatal("synced while not connected")
	case <-time.After(60 * time.Millisecond):
	}
}
