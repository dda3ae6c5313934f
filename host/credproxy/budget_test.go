package credproxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// maxTokensOf reads max_tokens from a request body the proxy forwarded.
func maxTokensOf(body []byte) int64 {
	var v struct {
		MaxTokens int64 `json:"max_tokens"`
	}
	_ = json.Unmarshal(body, &v)
	return v.MaxTokens
}

// TestConcurrentRequestsCannotOverrunBudget: with NANOCLAW_MAX_TOKENS_PER_DAY=5000, 30
// concurrent requests all got 200 and spent 64,000 tokens: the budget was checked against
// reported usage only, which none of them had yet. Now each request reserves before it is
// forwarded, so 50 concurrent requests (half streamed) against an upstream that bills every
// request its whole max_tokens end the day at most one reservation over the budget.
func TestConcurrentRequestsCannotOverrunBudget(t *testing.T) {
	const (
		budget   = 5000
		requests = 50
	)
	var inflight, peak, billed, arrivals atomic.Int64
	// The first DefaultMaxConcurrency requests are held until all of them are upstream, so
	// the first wave really is concurrent, as it is against a slow model.
	wave := make(chan struct{})
	up, _ := mockUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		switch a := arrivals.Add(1); {
		case a < DefaultMaxConcurrency:
			select {
			case <-wave:
			case <-time.After(deadline):
				t.Error("the first wave never filled the concurrency cap")
			}
		case a == DefaultMaxConcurrency:
			close(wave)
		}
		body, _ := io.ReadAll(r.Body)
		in, out := int64(len(body))/4, maxTokensOf(body) // the worst case: every token allowed
		billed.Add(in + out)
		if strings.Contains(string(body), `"stream":true`) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, sse("message_start", fmt.Sprintf(`{"type":"message_start","message":{"usage":{"input_tokens":%d,"output_tokens":1}}}`, in)))
			w.(http.Flusher).Flush()
			io.WriteString(w, sse("message_delta", fmt.Sprintf(`{"type":"message_delta","usage":{"output_tokens":%d}}`, out)))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"type":"message","usage":{"input_tokens":%d,"output_tokens":%d}}`, in, out)
	})
	h := newHarness(t, Config{Upstream: up, APIKey: realKey, MaxTokensPerDay: budget, MaxQueued: requests})
	c, _ := h.listen("main")

	body := func(i int) string {
		stream := `"stream":false,`
		if i%2 == 0 {
			stream = `"stream":true, `
		}
		return fmt.Sprintf(`{"model":"m",%s"max_tokens":1000,"messages":[{"role":"user","content":"request %02d"}]}`, stream, i)
	}
	oneReservation := reservation(1000, len(body(0)))
	start := make(chan struct{})
	statuses := make([]int, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := c.Do(post("/v1/messages", body(i), nil))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	for range requests {
		h.waitDone()
	}
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	u := h.p.Usage("main")
	t.Logf("%d concurrent requests: %d forwarded, %d refused; spent %d tokens against a budget of %d, one reservation %d (peak %d upstream at once)",
		requests, counts[200], counts[429], u.TotalTokens, budget, oneReservation, peak.Load())
	if counts[200]+counts[429] != requests {
		t.Errorf("statuses %v", counts)
	}
	if u.TotalTokens != billed.Load() {
		t.Errorf("the proxy counted %d tokens, the upstream billed %d", u.TotalTokens, billed.Load())
	}
	if u.TotalTokens > budget+oneReservation {
		t.Errorf("spent %d: more than one reservation (%d) over the budget %d", u.TotalTokens, oneReservation, budget)
	}
	if u.TotalTokens < budget {
		t.Errorf("spent %d: the budget %d was not used", u.TotalTokens, budget)
	}
	if u.Requests != int64(counts[200]) || u.Refusals != int64(counts[429]) || u.Reserved != 0 || u.InFlight != 0 || u.Waiting != 0 {
		t.Errorf("usage at the end %+v", u)
	}
	if peak.Load() != DefaultMaxConcurrency {
		t.Errorf("%d requests upstream at once, want the cap, %d", peak.Load(), DefaultMaxConcurrency)
	}
}

// heldUpstream holds each request until the test answers it, and reports each arrival.
type heldUpstream struct{ arrived chan *heldRequest }

// heldRequest is one request held by the upstream; send its usage object on answer.
type heldRequest struct {
	body   string
	answer chan string
}

func newHeldUpstream(t *testing.T) (*heldUpstream, *url.URL) {
	hu := &heldUpstream{arrived: make(chan *heldRequest, 64)}
	up, _ := mockUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hr := &heldRequest{body: string(body), answer: make(chan string, 1)}
		hu.arrived <- hr
		var usage string
		select {
		case usage = <-hr.answer:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"type":"message","usage":%s}`, usage)
	})
	return hu, up
}

// next is the next request to arrive, which must have body want.
func (hu *heldUpstream) next(t *testing.T, want string) *heldRequest {
	t.Helper()
	select {
	case hr := <-hu.arrived:
		if hr.body != want {
			t.Fatalf("upstream got %s, want %s", hr.body, want)
		}
		return hr
	case <-time.After(deadline):
		t.Fatalf("%s never reached the upstream", want)
		return nil
	}
}

func (hu *heldUpstream) none(t *testing.T) {
	t.Helper()
	select {
	case hr := <-hu.arrived:
		t.Fatalf("a request reached the upstream out of turn: %s", hr.body)
	default:
	}
}

func (h *harness) waitQueued(group string) {
	h.t.Helper()
	select {
	case g := <-h.queued:
		if g != group {
			h.t.Fatalf("a request of %s waits, want %s", g, group)
		}
	case <-time.After(deadline):
		h.t.Fatal("no request started waiting")
	}
}

// async sends req and delivers its status (0 on a transport error) on the returned channel.
func async(c *http.Client, req *http.Request) chan int {
	ch := make(chan int, 1)
	go func() {
		resp, err := c.Do(req)
		if err != nil {
			ch <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ch <- resp.StatusCode
	}()
	return ch
}

func waitStatus(t *testing.T, ch chan int) int {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(deadline):
		t.Fatal("no answer")
		return 0
	}
}

func numbered(i int) string { return fmt.Sprintf(`{"max_tokens":10,"n":%d}`, i) }

const smallUsage = `{"input_tokens":1,"output_tokens":1}`

// TestAgentCannotFloodUpstream: one group's requests in flight are capped; the others wait
// their turn in arrival order, and another group's requests are not held up by them.
func TestAgentCannotFloodUpstream(t *testing.T) {
	hu, up := newHeldUpstream(t)
	h := newHarness(t, Config{Upstream: up, APIKey: realKey, MaxConcurrency: 2})
	c, _ := h.listen("main")
	other, _ := h.listen("other")
	var answers []chan int
	held := map[int]*heldRequest{}
	for i := range 5 {
		answers = append(answers, async(c, post("/v1/messages", numbered(i), nil)))
		if i < 2 {
			held[i] = hu.next(t, numbered(i))
		} else {
			h.waitQueued("main")
		}
	}
	hu.none(t)
	if u := h.p.Usage("main"); u.InFlight != 2 || u.Waiting != 3 {
		t.Errorf("usage %+v, want 2 in flight and 3 waiting", u)
	}
	answers = append(answers, async(other, post("/v1/messages", numbered(99), nil)))
	hu.next(t, numbered(99)).answer <- smallUsage
	// Each answer lets exactly the next waiter in, in order.
	for i := 2; i < 5; i++ {
		held[i-2].answer <- smallUsage
		held[i] = hu.next(t, numbered(i))
		hu.none(t)
	}
	held[3].answer <- smallUsage
	held[4].answer <- smallUsage
	for _, a := range answers {
		if s := waitStatus(t, a); s != 200 {
			t.Errorf("status %d", s)
		}
	}
	for range 6 {
		h.waitDone()
	}
	if u := h.p.Usage("main"); u.Requests != 5 || u.InFlight != 0 || u.Waiting != 0 || u.Refusals != 0 {
		t.Errorf("usage %+v", u)
	}
}

// TestWaitingRequestGivesUp: a request whose container gives up while waiting leaves the
// queue (no slot or reservation is leaked, and nothing is counted as refused); one whose
// queue is full is answered 429 at once.
func TestWaitingRequestGivesUp(t *testing.T) {
	hu, up := newHeldUpstream(t)
	h := newHarness(t, Config{Upstream: up, APIKey: realKey, MaxConcurrency: 1, MaxQueued: 1, MaxTokensPerDay: 1000})
	c, _ := h.listen("main")
	first := async(c, post("/v1/messages", numbered(1), nil))
	held := hu.next(t, numbered(1))

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := async(c, post("/v1/messages", numbered(2), nil).WithContext(ctx))
	h.waitQueued("main")
	// The queue is full: the next one is refused at once, and may retry soon.
	a := h.do(c, post("/v1/messages", numbered(3), nil))
	if typ, _ := errorBody(t, a); a.status != 429 || typ != "rate_limit_error" || a.header.Get("Retry-After") != "1" {
		t.Errorf("over the queue: %d %s %v", a.status, typ, a.header)
	}
	cancel()
	if s := waitStatus(t, gaveUp); s != 0 {
		t.Errorf("the request that gave up was answered %d", s)
	}
	h.waitDone()
	if u := h.p.Usage("main"); u.Waiting != 0 || u.InFlight != 1 || u.Reserved != reservation(10, len(numbered(1))) {
		t.Errorf("after giving up: %+v", u)
	}
	held.answer <- smallUsage
	if s := waitStatus(t, first); s != 200 {
		t.Fatalf("first: %d", s)
	}
	h.waitDone()
	// Nothing the request that gave up held is left: the next one goes straight through.
	next := async(c, post("/v1/messages", numbered(4), nil))
	hu.next(t, numbered(4)).answer <- smallUsage
	waitStatus(t, next)
	h.waitDone()
	if u := h.p.Usage("main"); u.Requests != 2 || u.Refusals != 1 || u.InFlight != 0 || u.Reserved != 0 || u.TotalTokens != 4 {
		t.Errorf("usage %+v", u)
	}
	if !strings.Contains(h.logs.String(), "status=499") {
		t.Errorf("the give-up is not logged:\n%s", h.logs.String())
	}
}

// TestBudgetHeldByReservationsWaits: a group whose reservations fill its budget, but which
// has not used it, waits for its requests in flight to settle instead of being refused.
func TestBudgetHeldByReservationsWaits(t *testing.T) {
	hu, up := newHeldUpstream(t)
	h := newHarness(t, Config{Upstream: up, APIKey: realKey, MaxTokensPerDay: 1000})
	c, _ := h.listen("main")
	big := func(i int) string { return fmt.Sprintf(`{"max_tokens":500,"n":%d}`, i) } // reserves 505
	const used50 = `{"input_tokens":5,"output_tokens":45}`
	first := async(c, post("/v1/messages", big(1), nil))
	h1 := hu.next(t, big(1))
	second := async(c, post("/v1/messages", big(2), nil)) // 505 used+reserved < 1000: admitted
	h2 := hu.next(t, big(2))
	third := async(c, post("/v1/messages", big(3), nil)) // 1010 >= 1000: waits
	h.waitQueued("main")
	hu.none(t)
	h1.answer <- used50 // 50 used + 505 reserved < 1000
	hu.next(t, big(3)).answer <- used50
	h2.answer <- used50
	for _, a := range []chan int{first, second, third} {
		if s := waitStatus(t, a); s != 200 {
			t.Errorf("status %d", s)
		}
	}
	for range 3 {
		h.waitDone()
	}
	if u := h.p.Usage("main"); u.Requests != 3 || u.Refusals != 0 || u.TotalTokens != 150 {
		t.Errorf("usage %+v", u)
	}
}

// TestResponsesSettleWhateverHappens: the reservation is released however a response ends,
// and the day is charged what the upstream reported: a stream cut by the upstream or by the
// container, an error, a success that reported nothing (charged its reservation: what the
// meter cannot read is not free), a response that used more than it reserved.
func TestResponsesSettleWhateverHappens(t *testing.T) {
	const body = `{"max_tokens":100,"stream":true}` // reserves 100 + 8
	start := sse("message_start", `{"type":"message_start","message":{"usage":{"input_tokens":30,"output_tokens":1}}}`)
	tests := []struct {
		name     string
		upstream http.HandlerFunc
		leave    bool  // the container leaves after the first event
		broken   bool  // the container sees a broken response
		want     int64 // tokens charged
	}{
		{name: "upstream cuts the stream", broken: true, want: 31, upstream: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, start)
			w.(http.Flusher).Flush()
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		}},
		{name: "container leaves mid-stream", leave: true, want: 31, upstream: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, start)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}},
		{name: "upstream overloaded", want: 0, upstream: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(529)
			io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
		}},
		{name: "success without usage", want: 108, upstream: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"type":"message","content":[]}`)
		}},
		{name: "more than reserved", want: 5000, upstream: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"type":"message","usage":{"input_tokens":4900,"output_tokens":100}}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, _ := mockUpstream(t, tt.upstream)
			h := newHarness(t, Config{Upstream: up, APIKey: realKey, MaxTokensPerDay: 10000})
			c, _ := h.listen("main")
			resp, err := c.Do(post("/v1/messages", body, nil))
			if err != nil {
				t.Fatal(err)
			}
			if tt.leave {
				br := bufio.NewReader(resp.Body)
				if _, err := br.ReadString('\n'); err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			} else {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if (err != nil) != tt.broken {
					t.Errorf("reading the response: %v", err)
				}
			}
			h.waitDone()
			u := h.p.Usage("main")
			if u.TotalTokens != tt.want || u.Reserved != 0 || u.InFlight != 0 || u.Requests != 1 {
				t.Errorf("usage %+v, want %d tokens charged and nothing reserved", u, tt.want)
			}
		})
	}
}
