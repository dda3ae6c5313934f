package credproxy

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// The ledger is each group's day: what it has used, what its requests in flight have
// reserved, and the requests waiting for their turn. A request is admitted (and reserves)
// before it is forwarded and settles with the usage its response reports, so the budget is
// checked against what is already committed, not only against what has been reported:
// concurrent requests cannot all pass a check that none of them has been counted in yet.
//
// The admission rule: a group under its budget, with fewer than maxConc requests in flight,
// and whose used plus reserved tokens are under the budget, is admitted. A group that has
// used its budget is refused at once; one whose reservations fill the budget waits for its
// requests in flight to settle. Since a request is admitted only while used + reserved is
// under the budget, the day can end at most one reservation over it (as long as each
// response stays within its reservation; see reservation).

// ledger is one group's state. Proxy.mu guards it.
type ledger struct {
	day      string // YYYY-MM-DD in the proxy's zone; the counts below are that day's
	tokens   Tokens
	requests int64
	refusals int64

	reserved int64     // tokens reserved by the requests in flight
	inflight int       // requests admitted and not settled
	queue    []*waiter // requests waiting for their turn, in arrival order
}

// waiter is a request in a group's queue. decided and the value sent on ready are set
// under Proxy.mu by dispatch: true admitted, false refused for the budget.
type waiter struct {
	reserve int64
	ready   chan bool // buffered: dispatch never blocks
	decided bool
}

// ticket is an admitted request: settle it exactly once.
type ticket struct {
	group   string
	reserve int64
}

// today is the current day in the proxy's zone.
func (p *Proxy) today() string { return p.clock().In(p.loc).Format(time.DateOnly) }

func (p *Proxy) budget(group string) int64 {
	if b, ok := p.budgets[group]; ok {
		return b
	}
	return p.defBudget
}

// ledgerLocked returns group's ledger, rolled over to today: a new day starts its counts
// at zero, while requests in flight keep their reservations. p.mu must be held.
func (p *Proxy) ledgerLocked(group string) *ledger {
	l := p.ledgers[group]
	if l == nil {
		l = &ledger{}
		p.ledgers[group] = l
	}
	if d := p.today(); l.day != d {
		l.day, l.tokens, l.requests, l.refusals = d, Tokens{}, 0, 0
	}
	return l
}

func (p *Proxy) overBudget(l *ledger, budget int64) bool {
	return budget > 0 && l.tokens.Total() >= budget
}

// room says whether l may start one more request now.
func (p *Proxy) room(l *ledger, budget int64) bool {
	return l.inflight < p.maxConc && (budget == 0 || satAdd(l.tokens.Total(), l.reserved) < budget)
}

// dispatchLocked admits or refuses the waiters at the head of l's queue, in order, for as
// long as it can decide them. p.mu must be held.
func (p *Proxy) dispatchLocked(group string, l *ledger) {
	budget := p.budget(group)
	for len(l.queue) > 0 {
		w := l.queue[0]
		switch {
		case p.overBudget(l, budget):
			w.ready <- false
		case p.room(l, budget):
			l.inflight++
			l.reserved += w.reserve
			w.ready <- true
		default:
			return
		}
		w.decided = true
		l.queue[0] = nil
		l.queue = l.queue[1:]
	}
}

// admit waits for group's turn to forward a request that reserves reserve tokens. It
// returns a ticket, or the refusal to answer with, or neither when ctx ended first (the
// container gave up: there is nobody to answer).
func (p *Proxy) admit(ctx context.Context, group string, reserve int64) (*ticket, *refusal) {
	p.mu.Lock()
	l := p.ledgerLocked(group)
	budget := p.budget(group)
	switch {
	case p.overBudget(l, budget):
		used := l.tokens.Total()
		p.mu.Unlock()
		return nil, p.budgetRefusal(group, used, budget)
	case len(l.queue) == 0 && p.room(l, budget):
		l.inflight++
		l.reserved += reserve
		p.mu.Unlock()
		return &ticket{group: group, reserve: reserve}, nil
	case len(l.queue) >= p.maxQueued:
		p.mu.Unlock()
		return nil, &refusal{status: http.StatusTooManyRequests, typ: "rate_limit_error", rule: "queue",
			msg: fmt.Sprintf("group %q has %d model requests in flight and %d waiting; try again shortly",
				group, p.maxConc, p.maxQueued), retryAfter: 1}
	}
	w := &waiter{reserve: reserve, ready: make(chan bool, 1)}
	l.queue = append(l.queue, w)
	p.mu.Unlock()
	if p.onQueued != nil {
		p.onQueued(group)
	}

	select {
	case ok := <-w.ready:
		return p.decided(group, reserve, ok)
	case <-ctx.Done():
	}
	p.mu.Lock()
	if w.decided { // decided while ctx ended: undo an admission
		p.mu.Unlock()
		if <-w.ready {
			p.settle(&ticket{group: group, reserve: reserve}, Tokens{}, false)
		}
		return nil, nil
	}
	l = p.ledgerLocked(group)
	for i, q := range l.queue {
		if q == w {
			l.queue = append(l.queue[:i], l.queue[i+1:]...)
			break
		}
	}
	p.dispatchLocked(group, l) // w may have been the head others waited behind
	p.mu.Unlock()
	return nil, nil
}

func (p *Proxy) decided(group string, reserve int64, admitted bool) (*ticket, *refusal) {
	if admitted {
		return &ticket{group: group, reserve: reserve}, nil
	}
	p.mu.Lock()
	used := p.ledgerLocked(group).tokens.Total()
	p.mu.Unlock()
	return nil, p.budgetRefusal(group, used, p.budget(group))
}

func (p *Proxy) budgetRefusal(group string, used, budget int64) *refusal {
	return &refusal{status: http.StatusTooManyRequests, typ: "rate_limit_error", rule: "budget",
		msg: fmt.Sprintf("group %q has used %d tokens today, its daily budget is %d tokens", group, used, budget),
		// The budget comes back at midnight: an SDK retrying in seconds would only be refused.
		retryAfter: p.secondsToMidnight(), noRetry: true}
}

// settle ends an admitted request: its reservation is released, what the response reported
// is added to the day, and the next waiters get their turn. counted says the request
// reached the upstream (a request withdrawn before it was sent is not counted).
func (p *Proxy) settle(t *ticket, used Tokens, counted bool) {
	p.mu.Lock()
	l := p.ledgerLocked(t.group)
	l.inflight--
	l.reserved -= t.reserve
	l.tokens = l.tokens.add(used)
	delta := store.APIUsage{Group: t.group, Day: l.day, InputTokens: used.Input, OutputTokens: used.Output,
		CacheReadTokens: used.CacheRead, CacheWriteTokens: used.CacheWrite}
	if counted {
		l.requests++
		delta.Requests = 1
	}
	p.dispatchLocked(t.group, l)
	p.mu.Unlock()
	if counted || used != (Tokens{}) {
		p.writer.add(delta)
	}
}

// refused counts a request the proxy answered itself.
func (p *Proxy) refused(group string) {
	p.mu.Lock()
	l := p.ledgerLocked(group)
	l.refusals++
	day := l.day
	p.mu.Unlock()
	p.writer.add(store.APIUsage{Group: group, Day: day, Refusals: 1})
}

// secondsToMidnight is how long until the next day starts in the proxy's zone.
func (p *Proxy) secondsToMidnight() int {
	now := p.clock().In(p.loc)
	next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, p.loc)
	return max(1, int(next.Sub(now).Seconds()))
}

// Usage is one group's use of the model API today, in the host's zone.
type Usage struct {
	Day string `json:"day"` // YYYY-MM-DD
	Tokens
	TotalTokens int64 `json:"totalTokens"` // what counts against the budget
	Requests    int64 `json:"requests"`    // requests forwarded to the API
	Refusals    int64 `json:"refusals"`    // requests the proxy answered itself: rules, budget, queue
	Budget      int64 `json:"budget"`      // the daily budget; 0 is unlimited
	// Reserved is what the requests in flight have reserved; InFlight and Waiting count
	// the requests forwarded and waiting for their turn.
	Reserved int64 `json:"reservedTokens"`
	InFlight int   `json:"inFlight"`
	Waiting  int   `json:"waiting"`
}

// Usage is a snapshot of group's use today (restored from the store at start).
func (p *Proxy) Usage(group string) Usage {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.ledgerLocked(group)
	return Usage{Day: l.day, Tokens: l.tokens, TotalTokens: l.tokens.Total(), Requests: l.requests,
		Refusals: l.refusals, Budget: p.budget(group), Reserved: l.reserved, InFlight: l.inflight, Waiting: len(l.queue)}
}
