package agentsock

import (
	"fmt"
	"sync"

	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// Run is one container run's input: the follow-ups the host hands it and the request to
// close. Pushing never waits for the runner: the stream writes what is pending whenever it
// can, and a follow-up stays pending until the runner acknowledges it, so a stream that
// breaks is served again from the first unacknowledged one.
type Run struct {
	group, id string
	onEnd     func(*Run)
	onAck     func(group, run string, ids []int64)

	mu       sync.Mutex
	next     int64  // the last id given
	items    []item // follow-ups pushed, oldest first
	sent     int    // how many items the open stream has written
	closeReq bool
	sentEnd  bool // the open stream has written the close frame
	attached bool
	ended    bool
	endCh    chan struct{}
	wake     chan struct{} // buffered 1: "look again"
	detached chan struct{} // buffered 1: a stream was released (tests wait on it)
}

type item struct {
	id    int64
	text  string
	acked bool
}

func newRun(group, id string, onEnd func(*Run), onAck func(string, string, []int64)) *Run {
	return &Run{group: group, id: id, onEnd: onEnd, onAck: onAck, endCh: make(chan struct{}), wake: make(chan struct{}, 1), detached: make(chan struct{}, 1)}
}

// ID is the run's id, which the runner names when it opens its stream.
func (r *Run) ID() string { return r.id }

// Push hands the runner a follow-up and returns its id; false once the run has ended.
func (r *Run) Push(text string) (int64, bool) {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return 0, false
	}
	r.next++
	id := r.next
	r.items = append(r.items, item{id: id, text: text})
	r.mu.Unlock()
	r.poke()
	return id, true
}

// Close asks the runner to finish after its current turn; false once the run has ended.
func (r *Run) Close() bool {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return false
	}
	r.closeReq = true
	r.mu.Unlock()
	r.poke()
	return true
}

// Unacked lists the follow-ups the runner has not acknowledged, oldest first.
func (r *Run) Unacked() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []int64
	for _, it := range r.items {
		if !it.acked {
			ids = append(ids, it.id)
		}
	}
	return ids
}

// End detaches the run from its socket (the container is gone): its stream stops, nothing
// more can be pushed, and the follow-ups never acknowledged are returned, oldest first, for
// the host to take back.
func (r *Run) End() []int64 {
	unacked := r.Unacked()
	r.end()
	return unacked
}

func (r *Run) end() {
	r.mu.Lock()
	already := r.ended
	r.ended = true
	r.mu.Unlock()
	if already {
		return
	}
	close(r.endCh)
	if r.onEnd != nil {
		r.onEnd(r)
	}
}

func (r *Run) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// attach claims the run's single stream.
func (r *Run) attach() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attached || r.ended {
		return false
	}
	r.attached, r.sent, r.sentEnd = true, 0, false
	return true
}

func (r *Run) detach() {
	r.mu.Lock()
	r.attached = false
	r.mu.Unlock()
	select {
	case r.detached <- struct{}{}:
	default:
	}
}

// backlog is what a newly opened stream writes first: every unacknowledged follow-up (and
// the close request, if made), plus the channels it then waits on.
func (r *Run) backlog() ([]runproto.InputFrame, <-chan struct{}, <-chan struct{}) {
	return r.fresh(), r.wake, r.endCh
}

// fresh returns what the open stream has not written yet.
func (r *Run) fresh() []runproto.InputFrame {
	r.mu.Lock()
	defer r.mu.Unlock()
	var frames []runproto.InputFrame
	for _, it := range r.items[r.sent:] {
		if !it.acked {
			frames = append(frames, runproto.InputFrame{Type: runproto.FrameMessage, ID: it.id, Text: it.text})
		}
	}
	r.sent = len(r.items)
	if r.closeReq && !r.sentEnd {
		frames = append(frames, runproto.InputFrame{Type: runproto.FrameClose})
		r.sentEnd = true
	}
	return frames
}

// ack records that the runner took follow-ups into a turn.
func (r *Run) ack(ids []int64) error {
	r.mu.Lock()
	for _, id := range ids {
		if id < 1 || id > r.next {
			r.mu.Unlock()
			return fmt.Errorf("acknowledgement of unknown follow-up %d", id)
		}
	}
	for _, id := range ids {
		for i := range r.items {
			if r.items[i].id == id {
				r.items[i].acked = true
			}
		}
	}
	r.mu.Unlock()
	if r.onAck != nil && len(ids) > 0 {
		r.onAck(r.group, r.id, ids)
	}
	return nil
}
