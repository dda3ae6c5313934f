package queue

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// runOps drives a queue (cap 2, three groups, three task ids) through the operations
// encoded in ops, two bytes each: an operation and its argument. After every step it
// checks the queue's invariants; the harness checks on every run start that no group has
// two runs and the cap holds. At the end it releases everything and checks that every
// accepted task ran exactly once and no work was left behind.
func runOps(t testing.TB, ops []byte) {
	const maxConcurrent = 2
	jids := []string{g1, g2, g3}
	taskIDs := []string{"a", "b", "c"}
	h := newHarness(t, maxConcurrent)
	accepted := map[string]int{}
	var inflight []*call

	settle := func() {
		t.Helper()
		active := h.q.ActiveCount()
		for len(inflight) < active {
			inflight = append(inflight, h.next())
		}
		if len(inflight) != active {
			t.Fatalf("%d runs in flight, ActiveCount %d", len(inflight), active)
		}
		if active > maxConcurrent {
			t.Fatalf("ActiveCount %d over the cap", active)
		}
		waiting := h.q.Waiting()
		if active < maxConcurrent && len(waiting) > 0 {
			t.Fatalf("free slot but groups waiting: %v", h)
		}
		if len(slices.Compact(slices.Sorted(slices.Values(waiting)))) != len(waiting) {
			t.Fatalf("a group waits twice: %v", waiting)
		}
		n := 0
		for _, s := range h.q.Status() {
			pending := s.PendingMessages || s.PendingTasks > 0
			if s.Active {
				n++
			}
			if slices.Contains(waiting, s.JID) && (s.Active || !pending) {
				t.Fatalf("waiting group %s is active or has nothing to do: %v", s.JID, h)
			}
			if !s.Active && pending && !slices.Contains(waiting, s.JID) {
				t.Fatalf("group %s has pending work but neither runs nor waits: %v", s.JID, h)
			}
			if s.IsTask != (s.RunningTaskID != "") || (s.IsTask && !s.Active) {
				t.Fatalf("inconsistent task state %+v", s)
			}
		}
		if n != active {
			t.Fatalf("%d groups active, ActiveCount %d", n, active)
		}
	}

	for i := 0; i+1 < len(ops); i += 2 {
		op, arg := ops[i]%8, int(ops[i+1])
		jid := jids[arg%len(jids)]
		switch op {
		case 0:
			h.enqueue(jid)
		case 1:
			id := taskIDs[(arg/len(jids))%len(taskIDs)]
			if h.enqueueTask(jid, id) {
				accepted[jid+"/"+id]++
			}
		case 2, 3, 4:
			if len(inflight) > 0 {
				k := arg % len(inflight)
				c := inflight[k]
				inflight = slices.Delete(inflight, k, k+1)
				h.finish(c, outcome(op-2))
			}
		case 5:
			h.q.NotifyIdle(jid)
		case 6:
			h.q.SendMessage(jid, "x")
		case 7:
			h.clock.Advance(time.Duration(arg) * time.Second)
		}
		settle()
	}

	for range 10_000 {
		if len(inflight) == 0 && len(h.clock.Pending()) == 0 {
			break
		}
		if len(inflight) > 0 {
			c := inflight[0]
			inflight = inflight[1:]
			h.finish(c, succeed)
		} else {
			h.clock.Advance(200 * time.Second)
		}
		settle()
	}
	h.expectActive(0)
	if st := h.q.Status(); len(st) != 0 {
		t.Fatalf("state left after draining: %+v", st)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for key, n := range accepted {
		if h.runs[key] != n {
			t.Errorf("task %s accepted %d times, ran %d times", key, n, h.runs[key])
		}
	}
	for key, n := range h.runs {
		if accepted[key] == 0 {
			t.Errorf("task %s ran %d times, never accepted", key, n)
		}
	}
}

func TestRandomSequences(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		ops := make([]byte, 300)
		for i := range ops {
			ops[i] = byte(r.UintN(256))
		}
		runOps(t, ops)
		if t.Failed() {
			t.Fatalf("failed with seed %d", seed)
		}
	}
}

func FuzzQueue(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 2, 2, 0, 2, 0, 2, 0})
	f.Add([]byte{1, 0, 1, 3, 1, 6, 5, 0, 1, 1, 3, 0, 2, 0, 7, 200})
	f.Add([]byte{0, 0, 3, 0, 7, 5, 3, 0, 7, 10, 4, 0, 7, 20, 0, 1, 0, 2, 6, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 600 {
			ops = ops[:600]
		}
		runOps(t, ops)
	})
}
