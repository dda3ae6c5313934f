// Package schedule parses and evaluates the schedules of NanoClaw tasks: a schedule_type
// ("cron", "interval" or "once") with its schedule_value, as an agent writes them over IPC.
//
// Two users share it so that they can never disagree: the IPC authorization plugin validates
// what an agent wrote with Parse, and the host's task scheduler computes run times from the
// same parse. It is compiled natively and to wasm (wasip1) inside a policy plugin, so it uses
// only the standard library, no reflection on its hot paths, and never allocates in Next.
//
// Every function that deals with wall-clock time takes a *time.Location from its caller. The
// package never consults time.Local or the environment: NanoClaw's bug #483 was parsing "once"
// timestamps in the host process's zone instead of the configured one.
package schedule

import (
	"errors"
	"fmt"
	"math/bits"
	"time"
)

// Kind is a schedule_type: how a task's schedule_value is to be read.
type Kind string

// The schedule types an agent may write. They are the exact strings of NanoClaw's IPC
// protocol; anything else, including other spellings of these, is rejected.
const (
	Cron     Kind = "cron"     // schedule_value is a 5-field cron expression (see ParseCron)
	Interval Kind = "interval" // schedule_value is a whole number of milliseconds
	Once     Kind = "once"     // schedule_value is a timestamp (see Parse)
)

// MaxInterval is the longest interval accepted: 10 Julian years (3652.5 days). A longer one
// is almost certainly a unit mistake (seconds or microseconds written as milliseconds), and
// the cap keeps every arithmetic on intervals far from overflowing time.Duration.
const MaxInterval = 87660 * time.Hour

// MinInterval is the shortest interval an agent may ask for, and the shortest a scheduler
// runs a task at: one minute, cron's granularity and NanoClaw's effective one (its scheduler
// looked once a minute). Shorter intervals let an agent make the host fire tasks hundreds of
// times a second. Parse still reads shorter ones, as stored tasks may have them.
const MinInterval = time.Minute

// Errors that Parse and ParseCron wrap, so that callers can tell the kinds of rejection apart
// with errors.Is while showing the agent the full message, which names the bad part.
var (
	ErrUnknownKind     = errors.New("unknown schedule type")
	ErrInvalidCron     = errors.New("invalid cron expression")
	ErrInvalidInterval = errors.New("invalid interval")
	ErrInvalidOnce     = errors.New("invalid once timestamp")
	// ErrNeverFires is wrapped together with ErrInvalidCron for an expression that is well
	// formed but matches no time at all, such as "0 0 30 2 *" (February 30th).
	ErrNeverFires = errors.New("never fires")
	// ErrNoLocation reports a nil *time.Location. There is deliberately no default zone: a
	// silently assumed zone is how bug #483 happened.
	ErrNoLocation = errors.New("schedule: no time zone given (nil *time.Location)")
)

// Schedule is a validated schedule. The zero Schedule is not valid: it never fires.
// A Schedule is an immutable value, safe for concurrent use, and holds no pointer into the
// parsed string, so it can be kept after the buffer it was parsed from is reused.
type Schedule struct {
	kind  Kind
	loc   *time.Location // cron: the zone its wall-clock fields are read in
	cron  CronExpr
	every time.Duration // interval
	at    time.Time     // once, in loc
}

// Parse validates value as a schedule of the given kind, reading wall-clock times in loc.
//
//   - Cron: a 5-field expression as accepted by ParseCron, which must also fire at least
//     once in loc (an expression such as "0 0 30 2 *" is rejected with ErrNeverFires).
//   - Interval: a positive whole number of milliseconds written as decimal digits only (an
//     agent that wrote a JSON number should have it passed here as its digits), at most
//     MaxInterval. Signs, spaces, fractions and exponents are rejected rather than guessed at.
//   - Once: "YYYY-MM-DDTHH:MM[:SS[.fffffffff]]" with "T", "t" or a space between date and
//     time. With a trailing "Z" or "±HH:MM" (RFC 3339) it is that absolute instant; without
//     one it is a wall-clock time in loc. A wall-clock time that does not exist in loc (the
//     clocks skip it) is rejected; one that occurs twice means its first occurrence.
//
// Parse does not know the current time, so a once timestamp in the past is accepted; its
// Next(now) reports false, which a caller that must refuse past times can check.
// loc must not be nil, whatever the kind.
func Parse(kind Kind, value string, loc *time.Location) (Schedule, error) {
	if loc == nil {
		return Schedule{}, ErrNoLocation
	}
	switch kind {
	case Cron:
		c, err := parseCron(value)
		if err != nil {
			return Schedule{}, err
		}
		if c.Next(neverFiresRef, loc).IsZero() {
			return Schedule{}, neverFires(value, loc)
		}
		return Schedule{kind: Cron, loc: loc, cron: c}, nil
	case Interval:
		d, err := parseInterval(value)
		if err != nil {
			return Schedule{}, err
		}
		return Schedule{kind: Interval, loc: loc, every: d}, nil
	case Once:
		t, err := parseOnce(value, loc)
		if err != nil {
			return Schedule{}, err
		}
		return Schedule{kind: Once, loc: loc, at: t}, nil
	}
	return Schedule{}, fmt.Errorf("%w %q: want %q, %q or %q", ErrUnknownKind, string(kind), Cron, Interval, Once)
}

// Kind reports the schedule's type; the zero Schedule's is "".
func (s Schedule) Kind() Kind { return s.kind }

// Every is an interval schedule's interval (0 for other kinds).
func (s Schedule) Every() time.Duration { return s.every }

// Next reports when the schedule fires after the instant after, which is what a scheduler
// needs when creating a task or after a run whose slot is not worth anchoring to.
//
//   - Cron: the first firing strictly after after, in the schedule's zone; false only if
//     none is found within the search horizon (which cannot happen for an expression that
//     Parse accepted, barring changes to the zone's rules).
//   - Interval: after plus the interval, always true.
//   - Once: the instant, if it is strictly after after; otherwise false, as it has passed.
//
// The zero Schedule reports false.
func (s Schedule) Next(after time.Time) (time.Time, bool) {
	switch s.kind {
	case Cron:
		t := s.cron.Next(after, s.loc)
		return t, !t.IsZero()
	case Interval:
		return after.Add(s.every), true
	case Once:
		if s.at.After(after) {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// NextAnchored reports the next run of a recurring task that was due at prev, as seen at now.
// It exists so that a scheduler does not drift: recomputing "now + interval" after each run
// (as NanoClaw did) shifts the schedule by every run's latency and by any downtime.
//
//   - Interval: the first time on prev's grid, prev + k*interval for some k ≥ 1, that is
//     strictly after now. Slots missed while the host was down are skipped, not replayed,
//     and the result stays on the original grid. A zero prev (the task never ran) has no
//     grid yet, so the result is now + interval. If now is before prev (the clock stepped
//     back), the result is prev + interval, so the slot at prev does not run twice.
//   - Cron: Next of the later of prev and now, so that a clock stepped back cannot fire the
//     slot at prev a second time (when prev ≤ now this is exactly Next(now)).
//   - Once: false; a once task does not recur.
func (s Schedule) NextAnchored(prev, now time.Time) (time.Time, bool) {
	switch s.kind {
	case Interval:
		return anchored(s.every, prev, now), true
	case Cron:
		if prev.After(now) {
			now = prev
		}
		return s.Next(now)
	}
	return time.Time{}, false
}

// anchored returns the first prev + k*every (k ≥ 1) strictly after now. It works on
// seconds and nanoseconds separately so that even a prev centuries before now (where
// time.Time.Sub saturates) stays exactly on the grid.
func anchored(every time.Duration, prev, now time.Time) time.Time {
	prev, now = prev.Round(0), now.Round(0) // drop monotonic readings: the grid is wall time
	if prev.IsZero() {
		return now.Add(every)
	}
	if now.Before(prev) {
		return prev.Add(every)
	}
	ds := now.Unix() - prev.Unix()
	dn := int64(now.Nanosecond()) - int64(prev.Nanosecond())
	if dn < 0 {
		ds--
		dn += 1e9
	}
	if ds < 0 { // the subtraction overflowed: times absurdly far apart
		return now.Add(every)
	}
	// r = (ds*1e9 + dn) mod every, computed without overflow: (ds mod every) * 1e9 is
	// below every * 2^64, so the 128-bit division by every cannot overflow.
	iv := uint64(every)
	hi, lo := bits.Mul64(uint64(ds)%iv, 1e9)
	_, r := bits.Div64(hi, lo, iv)
	r = (r + uint64(dn)) % iv
	return now.Add(time.Duration(iv - r))
}

// parseInterval reads a positive whole number of milliseconds, at most MaxInterval.
func parseInterval(v string) (time.Duration, error) {
	if v == "" {
		return 0, fmt.Errorf("%w: empty; want a whole number of milliseconds such as \"3600000\"", ErrInvalidInterval)
	}
	const maxMS = int64(MaxInterval / time.Millisecond)
	var ms int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			switch {
			case i == 0 && c == '-':
				return 0, fmt.Errorf("%w %q: must be a positive number of milliseconds", ErrInvalidInterval, v)
			case c == '.' || c == 'e' || c == 'E':
				return 0, fmt.Errorf("%w %q: want whole milliseconds as plain digits, without fractions or exponents", ErrInvalidInterval, v)
			}
			return 0, fmt.Errorf("%w %q: %q at offset %d is not a digit; want a whole number of milliseconds such as \"3600000\"", ErrInvalidInterval, v, rune(c), i)
		}
		if ms <= maxMS { // stop growing once over the limit, so that long inputs cannot overflow
			ms = ms*10 + int64(c-'0')
		}
	}
	if ms == 0 {
		return 0, fmt.Errorf("%w %q: must be a positive number of milliseconds", ErrInvalidInterval, v)
	}
	if ms > maxMS {
		return 0, fmt.Errorf("%w %q: longer than 10 years (at most %d ms)", ErrInvalidInterval, v, maxMS)
	}
	return time.Duration(ms) * time.Millisecond, nil
}
