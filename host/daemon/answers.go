package daemon

import (
	"context"
	"slices"
	"sync"

	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// answers tracks, per chat, the inputs given to its running container and not yet
// answered: the run's prompt (input 0) and each follow-up piped to it. A message counts as
// answered only when a result naming its input is stored, and the store always holds the
// cursor to go back to if the host dies now: the cursor before the oldest unanswered input
// (router_state "inflight:<jid>"). A reply and the marker it moves are written in one
// transaction, so after any crash every message is answered exactly once.
type answers struct {
	st *store.Store

	mu     sync.Mutex
	byChat map[string][]givenInput // unanswered, oldest first
}

// givenInput is one input a container was given.
type givenInput struct {
	id      int64  // runproto.PromptInput or a follow-up's id in its run
	before  string // the chat's cursor before the messages it carries
	trigger string // the ID of the message that asked for the agent, which a reply quotes
}

func newAnswers(st *store.Store) *answers {
	return &answers{st: st, byChat: map[string][]givenInput{}}
}

// inflightKey is the router_state key holding a chat's marker.
func inflightKey(jid string) string { return "inflight:" + jid }

const inflightPrefix = "cursor:"

func marker(list []givenInput) string {
	if len(list) == 0 {
		return ""
	}
	return inflightPrefix + list[0].before
}

// give records that input id, carrying the messages after cursor before up to cursor
// after, was handed to jid's container, and moves the chat's cursor to after: the marker
// (when this is the oldest unanswered input) and the cursor move in one transaction.
func (a *answers) give(ctx context.Context, jid string, id int64, before, after, trigger string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.giveLocked(ctx, jid, id, before, after, trigger)
}

// giveVia hands an input over with push and records it under the same lock, so that a
// result naming it can never be seen before it is recorded. ok is push's.
func (a *answers) giveVia(ctx context.Context, jid, before, after, trigger string, push func() (int64, bool)) (ok bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := push()
	if !ok {
		return false, nil
	}
	return true, a.giveLocked(ctx, jid, id, before, after, trigger)
}

func (a *answers) giveLocked(ctx context.Context, jid string, id int64, before, after, trigger string) error {
	list := a.byChat[jid]
	a.byChat[jid] = append(list, givenInput{id: id, before: before, trigger: trigger})
	var state map[string]string
	if len(list) == 0 { // else an older unanswered input already holds an earlier cursor
		state = map[string]string{inflightKey(jid): marker(a.byChat[jid])}
	}
	return a.st.SetAgentCursorWith(ctx, jid, after, state)
}

// answer records a turn's result: the inputs it names are answered, and reply (if any)
// is queued for jid in the same transaction that moves the marker. With nil ids (a runner
// that does not say) the result answers the prompt. It reports whether anything was stored.
func (a *answers) answer(ctx context.Context, jid string, ids []int64, reply *store.Outgoing) (bool, error) {
	if ids == nil {
		ids = []int64{runproto.PromptInput}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	list := a.byChat[jid]
	kept := slices.DeleteFunc(slices.Clone(list), func(g givenInput) bool { return slices.Contains(ids, g.id) })
	var msgs []store.Outgoing
	if reply != nil {
		r := *reply
		// The reply answers the newest input it names: it quotes that input's trigger.
		for i := len(list) - 1; i >= 0 && r.ReplyTo == ""; i-- {
			if slices.Contains(ids, list[i].id) {
				r.ReplyTo = list[i].trigger
			}
		}
		msgs = append(msgs, r)
	}
	if len(kept) == len(list) && len(msgs) == 0 {
		return false, nil
	}
	state := map[string]string{}
	if len(kept) != len(list) {
		state[inflightKey(jid)] = marker(kept)
	}
	if _, err := a.st.QueueOutgoing(ctx, msgs, state); err != nil {
		return false, err
	}
	if len(kept) == 0 {
		delete(a.byChat, jid)
	} else {
		a.byChat[jid] = kept
	}
	return true, nil
}

// takeBack forgets every unanswered input of jid (its container is gone) and returns the
// cursor before the oldest of them, and how many there were. The caller moves the chat's
// cursor back there, then clears the marker.
func (a *answers) takeBack(jid string) (before string, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	list := a.byChat[jid]
	delete(a.byChat, jid)
	if len(list) == 0 {
		return "", 0
	}
	return list[0].before, len(list)
}

// pending reports how many inputs of jid wait for an answer.
func (a *answers) pending(jid string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.byChat[jid])
}
