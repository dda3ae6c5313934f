// Package guestclock is the clock a plugin instance sees through WASI: fake, deterministic
// and unable to block. It starts at a fixed epoch, advances by Tick on every reading and
// jumps forward by the requested amount on every sleep, which returns at once.
//
// Why: a guest that could sleep on the host's clock (poll_oneoff with a clock subscription,
// which wazero serves with nanosleep) held its caller for as long as it asked — 10 s against
// a 250 ms deadline — because the interrupt that enforces deadlines only fires in guest code.
// Refusing sleep with an error instead would crash Go guests, whose runtime sleeps through
// poll_oneoff when it is idle and treats an error there as fatal. With this clock a sleeping
// guest wakes immediately having seen the time pass, a guest busy-waiting on the clock sees
// it move (so its loop ends, or the deadline stops it), and nothing reveals the host's real
// time: plugins that need it ask for the clock capability (host function now).
package guestclock

import (
	"math"
	"sync/atomic"
)

// Epoch is the wall-clock time of a fresh instance: 2000-01-01T00:00:00Z in Unix
// nanoseconds. A fixed date makes every run of a plugin see the same times.
const Epoch int64 = 946684800 * 1e9

// Tick is how far the clock moves on each reading: monotonic time is strictly increasing,
// so code dividing by an elapsed time or waiting for it to change never hangs.
const Tick int64 = 1000

// Resolution is the resolution the clocks report to the guest, in nanoseconds.
const Resolution = uint32(Tick)

// Clock is one instance's clock. The zero value is ready; it is safe for concurrent use.
type Clock struct {
	elapsed atomic.Int64 // nanoseconds since Epoch; never wraps
}

// advance adds d (clamped to what is left before overflow) and returns the new value.
func (c *Clock) advance(d int64) int64 {
	for {
		old := c.elapsed.Load()
		next := old + d
		if d > math.MaxInt64-Epoch-old {
			next = math.MaxInt64 - Epoch
		}
		if c.elapsed.CompareAndSwap(old, next) {
			return next
		}
	}
}

// Nanotime is the monotonic clock (wazero's sys.Nanotime).
func (c *Clock) Nanotime() int64 { return c.advance(Tick) }

// Walltime is the wall clock (wazero's sys.Walltime): Epoch plus the same elapsed time.
func (c *Clock) Walltime() (sec int64, nsec int32) {
	t := Epoch + c.advance(Tick)
	return t / 1e9, int32(t % 1e9)
}

// Nanosleep returns at once and moves the clock forward by ns (wazero's sys.Nanosleep).
func (c *Clock) Nanosleep(ns int64) {
	if ns > 0 {
		c.advance(ns)
	}
}

// Osyield returns at once: a guest has no one to yield to (wazero's sys.Osyield).
func Osyield() {}
