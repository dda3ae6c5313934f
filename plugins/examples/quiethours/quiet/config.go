package quiet

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/nanoclaw/nanoclaw-go/plugins/wire"
)

// Window is the operator's quiet hours, parsed from ~/.config/nanoclaw/plugins/quiethours.json:
//
//	{"start": "22:00", "end": "07:00", "timezone": "Europe/London", "exceptMain": true}
type Window struct {
	Start, End int            // minutes after local midnight; End before Start wraps midnight
	Loc        *time.Location // "timezone": an IANA name, default UTC
	ExceptMain bool           // "exceptMain": the main group is never quiet (default true)
}

// ErrInvalidConfig marks a quiet-hours document the plugin cannot use; it then does nothing.
var ErrInvalidConfig = errors.New("invalid quiet hours config")

// ParseConfig reads the document strictly: "start" and "end" are required "HH:MM" times and
// must differ, "timezone" is an IANA zone name (resolved with time.LoadLocation, so the wasm
// build must embed time/tzdata), and an unknown field is an error, so that a misspelt
// "exceptMain" never silently silences the main group.
func ParseConfig(content []byte) (*Window, error) {
	v, err := wire.Parse(content)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if v.Kind != wire.Object {
		return nil, fmt.Errorf("%w: want a JSON object, got %s", ErrInvalidConfig, v.Kind)
	}
	w := &Window{Start: -1, End: -1, Loc: time.UTC, ExceptMain: true}
	v.EachField(func(k []byte, val wire.Value) bool {
		switch string(k) {
		case "start":
			w.Start, err = clock(val)
		case "end":
			w.End, err = clock(val)
		case "timezone":
			w.Loc, err = zone(val)
		case "exceptMain":
			var ok bool
			if w.ExceptMain, ok = val.Bool(); !ok {
				err = fmt.Errorf("must be true or false, got %s", val.Kind)
			}
		default:
			err = errors.New("unknown field")
		}
		if err != nil {
			err = fmt.Errorf("%w: %q: %w", ErrInvalidConfig, k, err)
			return false
		}
		return true
	})
	switch {
	case err != nil:
		return nil, err
	case w.Start < 0 || w.End < 0:
		return nil, fmt.Errorf("%w: \"start\" and \"end\" are required", ErrInvalidConfig)
	case w.Start == w.End:
		return nil, fmt.Errorf("%w: \"start\" and \"end\" are equal", ErrInvalidConfig)
	}
	return w, nil
}

// clock parses "HH:MM" (or "H:MM") into minutes after midnight.
func clock(v wire.Value) (int, error) {
	s, ok := v.StringBytes(nil)
	i := bytes.IndexByte(s, ':')
	if !ok || i < 1 || i > 2 || len(s)-i != 3 {
		return 0, errors.New(`want "HH:MM"`)
	}
	h, m := digits(s[:i]), digits(s[i+1:])
	if h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return h*60 + m, nil
}

func digits(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func zone(v wire.Value) (*time.Location, error) {
	name, ok := v.Str()
	switch {
	case !ok:
		return nil, fmt.Errorf("want a string, got %s", v.Kind)
	case name == "", name == "UTC":
		return time.UTC, nil
	case name == "Local": // inside the plugin "Local" is UTC, whatever the host's zone
		return nil, errors.New(`"Local" is ambiguous in a plugin: name the zone, e.g. "Europe/London"`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		// Not wrapped: inside the guest err is the failed zoneinfo file lookup ("Bad file
		// number"), which says nothing about the name.
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}

// Contains reports whether t falls in the window, on the wall clock of its zone: from Start
// (inclusive) to End (exclusive), across midnight when End is earlier than Start.
func (w *Window) Contains(t time.Time) bool {
	h, m, _ := t.In(w.Loc).Clock()
	now := h*60 + m
	if w.Start < w.End {
		return w.Start <= now && now < w.End
	}
	return now >= w.Start || now < w.End
}
