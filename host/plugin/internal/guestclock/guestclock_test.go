package guestclock

import (
	"math"
	"sync"
	"testing"
	"time"
)

// TestSleepAdvancesInstantly: a sleep of any length returns at once and the clocks show it
// passed; readings strictly increase; a huge sleep saturates instead of wrapping.
func TestSleepAdvancesInstantly(t *testing.T) {
	cases := []struct {
		name  string
		sleep int64
		want  int64 // minimum advance of the monotonic clock
	}{
		{"ten seconds", int64(10 * time.Second), int64(10 * time.Second)},
		{"zero", 0, Tick},
		{"negative is no sleep", -5, Tick},
		{"max saturates", math.MaxInt64, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var clk Clock
			before := clk.Nanotime()
			start := time.Now()
			clk.Nanosleep(c.sleep)
			if d := time.Since(start); d > 50*time.Millisecond {
				t.Fatalf("Nanosleep(%d) blocked for %v", c.sleep, d)
			}
			after := clk.Nanotime()
			if after < before || after-before < c.want {
				t.Fatalf("advanced %d ns, want at least %d", after-before, c.want)
			}
			sec, nsec := clk.Walltime()
			if w := sec*1e9 + int64(nsec); w < Epoch || w < 0 {
				t.Fatalf("walltime %d before the epoch or wrapped", w)
			}
		})
	}
}

func TestReadingsStrictlyIncrease(t *testing.T) {
	var clk Clock
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(-1)
			for range 10000 {
				n := clk.Nanotime()
				if n <= last {
					t.Errorf("reading %d after %d", n, last)
					return
				}
				last = n
			}
		}()
	}
	wg.Wait()
	if sec, _ := (&Clock{}).Walltime(); sec != Epoch/1e9 {
		t.Fatalf("fresh wall clock at %d s, want the epoch %d", sec, Epoch/1e9)
	}
}
