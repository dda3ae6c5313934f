package schedule

import (
	"errors"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// ---- parse tables ----

func TestParseCronAccepts(t *testing.T) {
	for _, expr := range []string{
		"* * * * *",
		"*/15 * * * *",
		"0 9 * * 1-5",
		"0 9 * * MON-FRI",
		"0 9 * * mon-Fri",
		"0 0 1,15 * *",
		"1-30/5 * * * *",
		"5/15 * * * *",
		"0 0 * JAN,jul *",
		"0 0 * jan-MAR/2 *",
		"0 0 * * 7",
		"0 0 * * 0-7",
		"0 0 * * 5-7",
		"0 0 * * SUN,sat",
		"00 09 * * *",
		"0 0 29 2 *",
		"0 0 31 * *",
		"0 0 13 * FRI",
		"*/1 * * * *",
		"0-59/60 * * * *",
		"  0  9 * * *  ",
		"0\t9\t*\t*\t*",
		"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly", "@DAILY",
	} {
		if _, err := ParseCron(expr); err != nil {
			t.Errorf("ParseCron(%q): %v", expr, err)
		}
		if _, err := Parse(Cron, expr, time.UTC); err != nil {
			t.Errorf("Parse(cron, %q): %v", expr, err)
		}
	}
}

func TestParseCronRejects(t *testing.T) {
	for _, c := range []struct {
		expr string
		want string // a fragment of the message, naming the bad part
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"* * * *", "has 4 fields"},
		{"0 * * * * *", "has 6 fields; seconds"},
		{"0 0 * * * * 2026", "has 7 fields"},
		{"60 * * * *", `minute field "60": 60 is out of range 0-59`},
		{"* 24 * * *", `hour field "24"`},
		{"* * 0 * *", `day-of-month field "0"`},
		{"* * 32 * *", `day-of-month field "32"`},
		{"* * * 0 *", `month field "0"`},
		{"* * * 13 *", `month field "13"`},
		{"* * * * 8", `day-of-week field "8"`},
		{"*/0 * * * *", "step 0"},
		{"*/61 * * * *", "step 61"},
		{"* * * * */8", "step 8"},
		{"5-1 * * * *", "runs backwards"},
		{"* * * * FRI-SUN", "runs backwards"},
		{"1,,2 * * * *", "empty list element"},
		{"1, * * * *", "empty list element"},
		{",1 * * * *", "empty list element"},
		{"a * * * *", `unexpected "a"`},
		{"MON * * * *", "takes numbers only"},
		{"* * * * MONDAY", `unknown name "MONDAY"`},
		{"* * * FOO *", `unknown name "FOO"`},
		{"* * * * MON-FOO", `unknown name "FOO"`},
		{"* * * * MO", `unknown name "MO"`},
		{"*-5 * * * *", `unexpected "-5" after "*"`},
		{"1-2-3 * * * *", `unexpected "-3"`},
		{"1/2/3 * * * *", `unexpected "/3" after step 2`},
		{"*/x * * * *", "step \"x\" is not a number"},
		{"-1 * * * *", `unexpected "-1"`},
		{"99999999999999999999 * * * *", "out of range"},
		{"0 0 ? * *", "Quartz"},
		{"0 0 L * *", "takes numbers only"},
		{"0 0 * * 1#2", `unexpected "#2"`},
		{"@reboot", "unsupported macro"},
		{"@every 5m", `schedule_type "interval"`},
		{"@daily extra", "unsupported macro"},
		{"0 0 30 2 *", "never fires"},
		{"0 0 31 4,6,9,11 *", "never fires"},
		{"0 0 30,31 FEB *", "never fires"},
	} {
		_, err := ParseCron(c.expr)
		if err == nil {
			t.Errorf("ParseCron(%q) accepted", c.expr)
			continue
		}
		if !errors.Is(err, ErrInvalidCron) {
			t.Errorf("ParseCron(%q): %v does not wrap ErrInvalidCron", c.expr, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseCron(%q) = %q, want it to mention %q", c.expr, err, c.want)
		}
		if _, err2 := Parse(Cron, c.expr, time.UTC); err2 == nil {
			t.Errorf("Parse(cron, %q) accepted", c.expr)
		}
	}
	_, err := ParseCron("0 0 30 2 *")
	if !errors.Is(err, ErrNeverFires) {
		t.Errorf("impossible expression: %v does not wrap ErrNeverFires", err)
	}
}

func TestParseInterval(t *testing.T) {
	for _, c := range []struct {
		v    string
		want time.Duration // 0: rejected
		msg  string
	}{
		{"1", time.Millisecond, ""},
		{"1000", time.Second, ""},
		{"3600000", time.Hour, ""},
		{"0003600000", time.Hour, ""},
		{"315576000000", MaxInterval, ""},
		{"315576000001", 0, "longer than 10 years"},
		{"99999999999999999999999999999", 0, "longer than 10 years"},
		{"", 0, "empty"},
		{"0", 0, "positive"},
		{"000", 0, "positive"},
		{"-1", 0, "positive"},
		{"-3600000", 0, "positive"},
		{"+5", 0, `'+' at offset 0`},
		{"1.5", 0, "without fractions"},
		{"1000.0", 0, "without fractions"},
		{"1e3", 0, "exponents"},
		{"abc", 0, `'a' at offset 0`},
		{"60s", 0, `'s' at offset 2`},
		{" 5", 0, `' ' at offset 0`},
		{"5 ", 0, `' ' at offset 1`},
		{"0x10", 0, `'x' at offset 1`},
		{"1_000", 0, `'_' at offset 1`},
	} {
		s, err := Parse(Interval, c.v, time.UTC)
		if c.want == 0 {
			if err == nil {
				t.Errorf("Parse(interval, %q) accepted", c.v)
				continue
			}
			if !errors.Is(err, ErrInvalidInterval) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("Parse(interval, %q) = %v, want ErrInvalidInterval mentioning %q", c.v, err, c.msg)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(interval, %q): %v", c.v, err)
			continue
		}
		base := utc("2026-01-01T00:00:00Z")
		if got, ok := s.Next(base); !ok || got.Sub(base) != c.want {
			t.Errorf("Parse(interval, %q).Next = %v, %v; want +%v", c.v, got, ok, c.want)
		}
	}
}

func TestParseOnce(t *testing.T) {
	tokyo := mustLoad(t, "Asia/Tokyo")
	ny := mustLoad(t, "America/New_York")
	london := mustLoad(t, "Europe/London")
	for _, c := range []struct {
		v    string
		loc  *time.Location
		want string // RFC 3339 instant; "" means rejected
		msg  string
	}{
		// Wall-clock forms are read in the given zone (bug #483).
		{"2026-03-01T09:00", tokyo, "2026-03-01T00:00:00Z", ""},
		{"2026-03-01T09:00:00", tokyo, "2026-03-01T00:00:00Z", ""},
		{"2026-03-01 09:00", tokyo, "2026-03-01T00:00:00Z", ""},
		{"2026-03-01 09:00:00", tokyo, "2026-03-01T00:00:00Z", ""},
		{"2026-03-01t09:00", tokyo, "2026-03-01T00:00:00Z", ""},
		{"2026-03-01T09:00:00.5", tokyo, "2026-03-01T00:00:00.5Z", ""},
		{"2026-03-01T09:00:00.123456789", tokyo, "2026-03-01T00:00:00.123456789Z", ""},
		{"2026-03-01T09:00", ny, "2026-03-01T14:00:00Z", ""},
		{"2026-07-01T09:00", ny, "2026-07-01T13:00:00Z", ""},
		{"2026-03-01T09:00", time.UTC, "2026-03-01T09:00:00Z", ""},
		{"2028-02-29T12:00", time.UTC, "2028-02-29T12:00:00Z", ""},
		// A time the clocks repeat means its first occurrence.
		{"2026-11-01T01:30", ny, "2026-11-01T05:30:00Z", ""},
		{"2026-10-25T01:30", london, "2026-10-25T00:30:00Z", ""},
		// Zoned forms are absolute instants, whatever the zone.
		{"2026-03-01T00:00:00Z", tokyo, "2026-03-01T00:00:00Z", ""},
		{"2026-03-01T00:00:00z", tokyo, "2026-03-01T00:00:00Z", ""},
		{"2026-03-01T00:00:00.000Z", ny, "2026-03-01T00:00:00Z", ""},
		{"2026-03-01T09:00:00+09:00", ny, "2026-03-01T00:00:00Z", ""},
		{"2026-02-28T19:00:00-05:00", tokyo, "2026-03-01T00:00:00Z", ""},
		{"2026-03-01T05:45:00+05:45", ny, "2026-03-01T00:00:00Z", ""},
		{"2026-03-01T09:00+09:00", ny, "2026-03-01T00:00:00Z", ""},
		{"2026-03-01 09:00:00+09:00", ny, "2026-03-01T00:00:00Z", ""},
		{"2026-11-01T01:30:00-05:00", ny, "2026-11-01T06:30:00Z", ""}, // the second 01:30, by offset
		// Rejected.
		{"2026-03-08T02:30", ny, "", "does not exist in America/New_York"},
		{"2026-03-29T01:30", london, "", "does not exist in Europe/London"},
		{"", ny, "", "want 4 digits for the year"},
		{"2026-03-01", ny, "", "time of day is missing"},
		{"2026-3-01T09:00", ny, "", "want 2 digits for the month"},
		{"2026/03/01T09:00", ny, "", `want '-' after the year`},
		{"2026-03-01X09:00", ny, "", `want "T" or a space`},
		{"2026-13-01T09:00", ny, "", "month 13 is out of range"},
		{"2026-00-01T09:00", ny, "", "month 00 is out of range"},
		{"2026-02-29T09:00", ny, "", "day 29 is out of range for 2026-02"},
		{"2026-04-31T09:00", ny, "", "day 31 is out of range"},
		{"2026-03-00T09:00", ny, "", "day 00 is out of range"},
		{"2026-03-01T24:00", ny, "", "hour 24"},
		{"2026-03-01T09:60", ny, "", "minute 60"},
		{"2026-03-01T09:00:60", ny, "", "second 60"},
		{"2026-03-01T09", ny, "", `want ':' after the hour`},
		{"2026-03-01T09:00:00.", ny, "", `digits after "."`},
		{"2026-03-01T09:00:00.1234567890", ny, "", "more than 9 fractional digits"},
		{"2026-03-01T09:00.5", ny, "", `unexpected ".5"`},
		{"2026-03-01T09:00:00+0900", ny, "", "want ':' in the offset"},
		{"2026-03-01T09:00:00+09", ny, "", "want ':' in the offset"},
		{"2026-03-01T09:00:00+09:0", ny, "", "want 2 digits for the offset minutes"},
		{"2026-03-01T09:00:00+24:00", ny, "", "offset +24:00 is out of range"},
		{"2026-03-01T09:00:00+09:60", ny, "", "out of range"},
		{"2026-03-01T09:00:00 UTC", ny, "", `unexpected " UTC"`},
		{"2026-03-01T09:00:00Z ", ny, "", `unexpected " "`},
		{" 2026-03-01T09:00", ny, "", "want 4 digits for the year"},
		{"1772323200000", ny, "", "want '-' after the year"},
		{"tomorrow 9am", ny, "", "want 4 digits for the year"},
	} {
		s, err := Parse(Once, c.v, c.loc)
		if c.want == "" {
			if err == nil {
				t.Errorf("Parse(once, %q, %v) accepted: %v", c.v, c.loc, s.at)
				continue
			}
			if !errors.Is(err, ErrInvalidOnce) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("Parse(once, %q, %v) = %v, want ErrInvalidOnce mentioning %q", c.v, c.loc, err, c.msg)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(once, %q, %v): %v", c.v, c.loc, err)
			continue
		}
		want := utc(c.want)
		got, ok := s.Next(want.Add(-time.Nanosecond))
		if !ok || !got.Equal(want) {
			t.Errorf("Parse(once, %q, %v) fires at %v (%v), want %v", c.v, c.loc, got.UTC(), ok, want)
		}
		if got.Location() != c.loc {
			t.Errorf("Parse(once, %q, %v): result in %v, want the schedule's zone", c.v, c.loc, got.Location())
		}
	}
}

func TestParseKindAndLocation(t *testing.T) {
	for _, k := range []Kind{"", "Cron", "daily", "ONCE", "interval "} {
		_, err := Parse(k, "1000", time.UTC)
		if !errors.Is(err, ErrUnknownKind) || !strings.Contains(err.Error(), strconv.Quote(string(k))) {
			t.Errorf("Parse(%q) = %v, want ErrUnknownKind naming it", k, err)
		}
	}
	for _, k := range []Kind{Cron, Interval, Once} {
		if _, err := Parse(k, "1000", nil); !errors.Is(err, ErrNoLocation) {
			t.Errorf("Parse(%q, nil location) = %v, want ErrNoLocation", k, err)
		}
	}
	for k, v := range map[Kind]string{Cron: "* * * * *", Interval: "1", Once: "2026-01-01T00:00Z"} {
		s, err := Parse(k, v, time.UTC)
		if err != nil || s.Kind() != k {
			t.Errorf("Parse(%q, %q) = %v (kind %q)", k, v, err, s.Kind())
		}
	}
	var zero Schedule
	if _, ok := zero.Next(time.Now()); ok || zero.Kind() != "" {
		t.Error("zero Schedule fires")
	}
	if _, ok := zero.NextAnchored(time.Now(), time.Now()); ok {
		t.Error("zero Schedule fires (anchored)")
	}
}

// ---- cron Next ----

func TestCronNext(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	london := mustLoad(t, "Europe/London")
	lordHowe := mustLoad(t, "Australia/Lord_Howe") // 30-minute DST shift
	for _, c := range []struct {
		expr  string
		loc   *time.Location
		after string
		want  string
	}{
		// Basics, lists, ranges, steps (2026-03-06 is a Friday).
		{"* * * * *", time.UTC, "2026-03-06T10:07:30Z", "2026-03-06T10:08:00Z"},
		{"* * * * *", time.UTC, "2026-03-06T10:07:00Z", "2026-03-06T10:08:00Z"}, // strictly after
		{"*/15 * * * *", time.UTC, "2026-03-06T10:07:30Z", "2026-03-06T10:15:00Z"},
		{"*/15 * * * *", time.UTC, "2026-03-06T10:45:00Z", "2026-03-06T11:00:00Z"},
		{"1-30/5 * * * *", time.UTC, "2026-03-06T10:26:00Z", "2026-03-06T11:01:00Z"},
		{"1-30/5 * * * *", time.UTC, "2026-03-06T10:20:00Z", "2026-03-06T10:21:00Z"},
		{"5/20 * * * *", time.UTC, "2026-03-06T10:46:00Z", "2026-03-06T11:05:00Z"},
		{"0 0,12 * * *", time.UTC, "2026-03-06T10:00:00Z", "2026-03-06T12:00:00Z"},
		{"0 23 * * *", time.UTC, "2026-12-31T23:00:00Z", "2027-01-01T23:00:00Z"},
		{"59 23 31 12 *", time.UTC, "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"},
		// Weekdays, names, 7 = Sunday.
		{"0 9 * * 1-5", time.UTC, "2026-03-06T10:00:00Z", "2026-03-09T09:00:00Z"},
		{"0 9 * * MON-FRI", time.UTC, "2026-03-06T08:00:00Z", "2026-03-06T09:00:00Z"},
		{"0 9 * * mon,WED", time.UTC, "2026-03-09T09:00:00Z", "2026-03-11T09:00:00Z"},
		{"0 0 * * 7", time.UTC, "2026-03-06T00:00:00Z", "2026-03-08T00:00:00Z"},
		{"0 0 * * 0", time.UTC, "2026-03-06T00:00:00Z", "2026-03-08T00:00:00Z"},
		{"0 0 * * 6-7", time.UTC, "2026-03-08T00:00:00Z", "2026-03-14T00:00:00Z"},
		{"0 0 * * */2", time.UTC, "2026-03-08T00:00:00Z", "2026-03-10T00:00:00Z"}, // Sun, Tue, Thu, Sat
		{"0 0 1 JAN,jul *", time.UTC, "2026-02-01T00:00:00Z", "2026-07-01T00:00:00Z"},
		{"0 0 1 */3 *", time.UTC, "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z"},
		{"0 0 1 nov-DEC *", time.UTC, "2026-02-01T00:00:00Z", "2026-11-01T00:00:00Z"},
		// Day-of-month OR day-of-week when both are restricted.
		{"0 0 13 * FRI", time.UTC, "2026-03-01T00:00:00Z", "2026-03-06T00:00:00Z"}, // a Friday
		{"0 0 13 * FRI", time.UTC, "2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z"}, // both
		{"0 0 13 * FRI", time.UTC, "2026-04-10T00:00:00Z", "2026-04-13T00:00:00Z"}, // a Monday the 13th
		{"0 0 1 * MON", time.UTC, "2026-03-30T00:00:00Z", "2026-04-01T00:00:00Z"},
		{"0 0 */2 * MON", time.UTC, "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"}, // "*/2" restricts
		// ...AND when either is "*".
		{"0 0 * * MON", time.UTC, "2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z"},
		{"0 0 13 * *", time.UTC, "2026-03-02T00:00:00Z", "2026-03-13T00:00:00Z"},
		{"0 0 */1 * MON", time.UTC, "2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z"},
		// Ends of months and leap days.
		{"0 0 31 * *", time.UTC, "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z"},
		{"0 0 31 * *", time.UTC, "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"},
		{"0 12 30 * *", time.UTC, "2026-01-30T12:00:00Z", "2026-03-30T12:00:00Z"},
		{"0 0 28-31 2 *", time.UTC, "2026-02-28T00:00:00Z", "2027-02-28T00:00:00Z"},
		{"0 0 28-31 2 *", time.UTC, "2028-02-28T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"0 0 29 2 *", time.UTC, "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"0 0 29 2 *", time.UTC, "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"},
		{"0 0 29 2 *", time.UTC, "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"}, // 2100 is not leap
		{"0 0 29 2 *", time.UTC, "2399-03-01T00:00:00Z", "2400-02-29T00:00:00Z"}, // 2400 is
		// Macros.
		{"@hourly", time.UTC, "2026-03-06T10:00:00Z", "2026-03-06T11:00:00Z"},
		{"@daily", time.UTC, "2026-03-06T10:00:00Z", "2026-03-07T00:00:00Z"},
		{"@weekly", time.UTC, "2026-03-06T10:00:00Z", "2026-03-08T00:00:00Z"},
		{"@monthly", time.UTC, "2026-03-06T10:00:00Z", "2026-04-01T00:00:00Z"},
		{"@yearly", time.UTC, "2026-03-06T10:00:00Z", "2027-01-01T00:00:00Z"},
		// Zones: fields are wall-clock time in loc.
		{"0 9 * * *", ny, "2026-03-06T15:00:00Z", "2026-03-07T14:00:00Z"},
		{"0 9 * * *", ny, "2026-03-07T15:00:00Z", "2026-03-08T13:00:00Z"}, // EST -> EDT
		// New York spring forward, 2026-03-08 02:00 EST -> 03:00 EDT: 02:xx does not exist.
		{"30 2 * * *", ny, "2026-03-07T12:00:00Z", "2026-03-09T06:30:00Z"},
		{"30 2 8 3 *", ny, "2026-01-01T00:00:00Z", "2027-03-08T07:30:00Z"}, // skipped in 2026
		{"0 * * * *", ny, "2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z"},  // 01:30 EST -> 03:00 EDT
		{"*/30 * * * *", ny, "2026-03-08T06:45:00Z", "2026-03-08T07:00:00Z"},
		{"59 1 * * *", ny, "2026-03-08T06:00:00Z", "2026-03-08T06:59:00Z"},
		// New York fall back, 2026-11-01 02:00 EDT -> 01:00 EST: 01:xx occurs twice, fires once.
		{"30 1 * * *", ny, "2026-10-31T16:00:00Z", "2026-11-01T05:30:00Z"},
		{"30 1 * * *", ny, "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
		{"30 1 * * *", ny, "2026-11-01T06:15:00Z", "2026-11-02T06:30:00Z"}, // 01:15 EST, second pass
		{"0 * * * *", ny, "2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z"},  // 01:00 EDT -> 02:00 EST
		{"*/30 * * * *", ny, "2026-11-01T05:45:00Z", "2026-11-01T07:00:00Z"},
		{"0 2 * * *", ny, "2026-11-01T05:45:00Z", "2026-11-01T07:00:00Z"},
		{"0 1 * * *", ny, "2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z"},
		// London: spring forward 2026-03-29 01:00 GMT -> 02:00 BST, back 2026-10-25 02:00 -> 01:00.
		{"30 1 * * *", london, "2026-03-28T12:00:00Z", "2026-03-30T00:30:00Z"},
		{"0 * * * *", london, "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z"}, // 00:30 GMT -> 02:00 BST
		{"30 1 * * *", london, "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
		{"30 1 * * *", london, "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
		{"0 * * * *", london, "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z"}, // 01:00 BST -> 02:00 GMT
		// Lord Howe: 2026-04-05 02:00 +11 -> 01:30 +10:30; 2026-10-04 02:00 +10:30 -> 02:30 +11.
		{"45 1 * * *", lordHowe, "2026-04-04T12:00:00Z", "2026-04-04T14:45:00Z"},
		{"45 1 * * *", lordHowe, "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"},
		{"15 2 * * *", lordHowe, "2026-10-03T12:00:00Z", "2026-10-04T15:15:00Z"},
	} {
		c0, err := ParseCron(c.expr)
		if err != nil {
			t.Errorf("ParseCron(%q): %v", c.expr, err)
			continue
		}
		after, want := utc(c.after), utc(c.want)
		got := c0.Next(after, c.loc)
		if !got.Equal(want) {
			t.Errorf("%q in %v after %v: got %v, want %v (%v)", c.expr, c.loc, after, got.UTC(), want, want.In(c.loc))
		}
		if !got.IsZero() && got.Location() != c.loc {
			t.Errorf("%q: result in %v, want %v", c.expr, got.Location(), c.loc)
		}
		s, err := Parse(Cron, c.expr, c.loc)
		if err != nil {
			t.Errorf("Parse(cron, %q): %v", c.expr, err)
			continue
		}
		if got2, ok := s.Next(after); !ok || !got2.Equal(want) {
			t.Errorf("Schedule %q: Next = %v, %v; want %v", c.expr, got2, ok, want)
		}
	}
}

// An expression that can never fire stops after the bounded horizon. Parse rejects such
// expressions, so build one with the syntax-only parser.
func TestCronNextImpossibleTerminates(t *testing.T) {
	for _, expr := range []string{"0 0 30 2 *", "0 0 31 4,6,9,11 *", "* * 31 2 *", "*/5 * 30-31 2 *"} {
		c, err := parseCron(expr)
		if err != nil {
			t.Fatalf("parseCron(%q): %v", expr, err)
		}
		start := time.Now()
		if got := c.Next(utc("2026-01-01T00:00:00Z"), time.UTC); !got.IsZero() {
			t.Errorf("%q fired at %v", expr, got)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("%q took %v to give up", expr, d)
		}
		s := Schedule{kind: Cron, loc: time.UTC, cron: c}
		if got, ok := s.Next(utc("2026-01-01T00:00:00Z")); ok {
			t.Errorf("Schedule %q fired at %v", expr, got)
		}
	}
	var zero CronExpr
	if got := zero.Next(time.Now(), time.UTC); !got.IsZero() {
		t.Errorf("zero CronExpr fired at %v", got)
	}
	c, _ := ParseCron("0 9 * * *")
	if got := c.Next(utc("2026-01-01T10:00:00Z"), nil); !got.Equal(utc("2026-01-02T09:00:00Z")) {
		t.Errorf("nil location: got %v, want UTC", got)
	}
}

// TestCronNextBruteForce checks successive Next calls against a minute-by-minute scan with
// the independent reference matcher, across every DST change of 2026 in several zones.
func TestCronNextBruteForce(t *testing.T) {
	zones := []struct {
		loc    *time.Location
		starts []string // a day before each change
	}{
		{mustLoad(t, "America/New_York"), []string{"2026-03-07T00:00:00Z", "2026-10-31T00:00:00Z"}},
		{mustLoad(t, "Europe/London"), []string{"2026-03-28T00:00:00Z", "2026-10-24T00:00:00Z"}},
		{mustLoad(t, "Australia/Lord_Howe"), []string{"2026-04-04T00:00:00Z", "2026-10-03T00:00:00Z"}},
		{mustLoad(t, "Asia/Tokyo"), []string{"2026-03-07T00:00:00Z"}},
	}
	exprs := []string{
		"* * * * *", "*/7 * * * *", "0 * * * *", "30 * * * *", "*/30 * * * *", "15,45 0-3 * * *",
		"30 1 * * *", "30 2 * * *", "0 2 * * *", "59 1 * * 0", "0 0 * * *", "10 1-3/2 * * SUN",
	}
	for _, z := range zones {
		for _, start := range z.starts {
			from := utc(start)
			to := from.Add(60 * time.Hour)
			for _, expr := range exprs {
				c, err := ParseCron(expr)
				if err != nil {
					t.Fatalf("ParseCron(%q): %v", expr, err)
				}
				ref := mustRefParse(t, expr)
				var want []time.Time
				for u := from.Add(time.Minute); !u.After(to); u = u.Add(time.Minute) {
					if ref.fires(u, z.loc) {
						want = append(want, u)
					}
				}
				var got []time.Time
				for at := c.Next(from, z.loc); !at.IsZero() && !at.After(to); at = c.Next(at, z.loc) {
					got = append(got, at)
				}
				if !equalTimes(got, want) {
					t.Errorf("%q in %v from %s:\n got %v\nwant %v", expr, z.loc, start, got, want)
				}
			}
		}
	}
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// ---- anchoring ----

func TestNextAnchored(t *testing.T) {
	at := func(hm string) time.Time { return utc("2026-03-06T" + hm + ":00Z") }
	hour, _ := Parse(Interval, "3600000", time.UTC)
	quarter, _ := Parse(Interval, "900000", time.UTC)
	odd, _ := Parse(Interval, "7000", time.UTC) // 7 s
	for _, c := range []struct {
		name      string
		s         Schedule
		prev, now time.Time
		want      time.Time
	}{
		{"one slot missed", hour, at("10:00"), at("12:30"), at("13:00")},
		{"on time", hour, at("10:00"), at("10:00").Add(2 * time.Second), at("11:00")},
		{"exactly on a grid point", hour, at("10:00"), at("12:00"), at("13:00")},
		{"ten slots missed", quarter, at("10:00"), at("10:00").Add(10*15*time.Minute + time.Second), at("12:45")},
		{"clock stepped back", hour, at("10:00"), at("09:55"), at("11:00")},
		{"never ran", hour, time.Time{}, at("10:07"), at("11:07")},
		{"nanoseconds kept on grid", odd, at("10:00").Add(123), at("10:00").Add(time.Minute), at("10:01").Add(3*time.Second + 123)},
		{"years of downtime", quarter, at("10:00"), at("10:00").AddDate(3, 0, 0).Add(time.Nanosecond), at("10:15").AddDate(3, 0, 0)},
		// 145732 days = 12591244800 s, which is 1 s past a multiple of 7 s.
		{"centuries apart", odd, utc("1801-01-01T00:00:00Z"), utc("2200-01-01T00:00:00Z"), utc("2200-01-01T00:00:06Z")},
	} {
		got, ok := c.s.NextAnchored(c.prev, c.now)
		if !ok || !got.Equal(c.want) {
			t.Errorf("%s: NextAnchored(%v, %v) = %v, %v; want %v", c.name, c.prev, c.now, got, ok, c.want)
		}
		if ok && !c.prev.IsZero() {
			// got - prev in nanoseconds, exactly, even where time.Time.Sub would saturate.
			d := new(big.Int).Mul(big.NewInt(got.Unix()-c.prev.Unix()), big.NewInt(1e9))
			d.Add(d, big.NewInt(int64(got.Nanosecond()-c.prev.Nanosecond())))
			if d.Mod(d, big.NewInt(int64(c.s.every))).Sign() != 0 {
				t.Errorf("%s: %v is off prev's grid", c.name, got)
			}
		}
	}

	cron, _ := Parse(Cron, "0 * * * *", time.UTC)
	if got, ok := cron.NextAnchored(at("10:00"), at("12:30")); !ok || !got.Equal(at("13:00")) {
		t.Errorf("cron anchored = %v, %v; want 13:00", got, ok)
	}
	if got, ok := cron.NextAnchored(at("12:00"), at("11:59")); !ok || !got.Equal(at("13:00")) {
		t.Errorf("cron anchored with the clock stepped back = %v, %v; want 13:00", got, ok)
	}
	once, _ := Parse(Once, "2026-03-06T13:00", time.UTC)
	if got, ok := once.NextAnchored(at("10:00"), at("12:30")); ok {
		t.Errorf("once recurred at %v", got)
	}
	if got, ok := once.Next(at("12:30")); !ok || !got.Equal(at("13:00")) {
		t.Errorf("once Next = %v, %v", got, ok)
	}
	if got, ok := once.Next(at("13:00")); ok {
		t.Errorf("once fired again at %v", got)
	}
}

// ---- allocations ----

func TestNoAllocations(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	after := utc("2026-11-01T05:45:00Z")
	s, err := Parse(Cron, "*/30 1-3 * * *", ny)
	if err != nil {
		t.Fatal(err)
	}
	iv, _ := Parse(Interval, "3600000", ny)
	for name, f := range map[string]func(){
		"Parse cron":     func() { _, _ = Parse(Cron, "0 9 * * MON-FRI", ny) },
		"Parse interval": func() { _, _ = Parse(Interval, "3600000", ny) },
		"Parse once":     func() { _, _ = Parse(Once, "2026-11-01T01:30:00.25", ny) },
		"Next":           func() { _, _ = s.Next(after) },
		"NextAnchored":   func() { _, _ = iv.NextAnchored(after, after.Add(100*time.Hour)) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times", name, n)
		}
	}
}

func BenchmarkCronNext(b *testing.B) {
	ny := mustLoad(b, "America/New_York")
	c, _ := ParseCron("0 9 * * MON-FRI")
	after := utc("2026-03-06T15:00:00Z") // a Friday after 09:00: the next run is Monday's
	for b.Loop() {
		c.Next(after, ny)
	}
}

// ---- reference matcher, written independently of the parser under test ----

type refCron struct {
	set            [5]map[int]bool // minute, hour, dom, month, dow (Sunday = 0)
	domAll, dowAll bool
}

var refMacros = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

var refNames = [5]map[string]int{
	3: {"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12},
	4: {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6},
}

// refParse understands any expression ParseCron accepts; ok is false for ones it cannot read.
func refParse(expr string) (r refCron, ok bool) {
	if m, isMacro := refMacros[strings.ToLower(strings.TrimSpace(expr))]; isMacro {
		expr = m
	}
	fs := strings.Fields(expr)
	if len(fs) != 5 {
		return r, false
	}
	lows := [5]int{0, 0, 1, 1, 0}
	highs := [5]int{59, 23, 31, 12, 6} // the extent of "*"
	for i, f := range fs {
		r.set[i] = map[int]bool{}
		for _, part := range strings.Split(f, ",") {
			rng, step := part, 1
			if k := strings.Index(part, "/"); k >= 0 {
				n, err := strconv.Atoi(part[k+1:])
				if err != nil || n <= 0 {
					return r, false
				}
				rng, step = part[:k], n
			}
			var lo, hi int
			switch {
			case rng == "*":
				lo, hi = lows[i], highs[i]
			case strings.Contains(rng, "-"):
				a, b, _ := strings.Cut(rng, "-")
				var okA, okB bool
				lo, okA = refValue(i, a)
				hi, okB = refValue(i, b)
				if !okA || !okB {
					return r, false
				}
			default:
				v, okV := refValue(i, rng)
				if !okV {
					return r, false
				}
				lo, hi = v, v
				if strings.Contains(part, "/") { // "a/n": a through the end of the field
					hi = max(highs[i], v)
				}
			}
			for v := lo; v <= hi; v += step {
				if i == 4 && v == 7 {
					v = 0 // Sunday
					r.set[i][v] = true
					break
				}
				r.set[i][v] = true
			}
		}
	}
	r.domAll = fs[2] == "*" || fs[2] == "*/1"
	r.dowAll = fs[4] == "*" || fs[4] == "*/1"
	return r, true
}

func refValue(field int, s string) (int, bool) {
	if v, ok := refNames[field][strings.ToUpper(s)]; ok {
		return v, true
	}
	v, err := strconv.Atoi(s)
	return v, err == nil && len(s) > 0 && s[0] >= '0' && s[0] <= '9'
}

func mustRefParse(t testing.TB, expr string) refCron {
	t.Helper()
	r, ok := refParse(expr)
	if !ok {
		t.Fatalf("reference parser cannot read %q", expr)
	}
	return r
}

// matches reports whether the wall-clock time w matches, with Vixie's day rule.
func (r refCron) matches(w time.Time) bool {
	if w.Second() != 0 || w.Nanosecond() != 0 {
		return false
	}
	dom, dow := r.set[2][w.Day()], r.set[4][int(w.Weekday())]
	day := dom || dow
	if r.domAll || r.dowAll {
		day = dom && dow
	}
	return r.set[0][w.Minute()] && r.set[1][w.Hour()] && r.set[3][int(w.Month())] && day
}

// fires reports whether the cron fires at instant u in loc: its wall clock matches and that
// wall-clock reading is not a repeat of one shown earlier (the clocks went back over it).
func (r refCron) fires(u time.Time, loc *time.Location) bool {
	w := u.In(loc)
	if !r.matches(w) {
		return false
	}
	for back := 15 * time.Minute; back <= 3*time.Hour; back += 15 * time.Minute {
		e := u.Add(-back).In(loc)
		if e.Year() == w.Year() && e.YearDay() == w.YearDay() && e.Hour() == w.Hour() && e.Minute() == w.Minute() {
			return false
		}
	}
	return true
}

// ---- fuzzing ----

var fuzzZones = []string{"UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham"}

// Fixed starting instants, several next to DST changes.
var fuzzStarts = []string{
	"2026-06-15T12:34:56Z",
	"2026-03-08T06:30:00Z", // New York, half an hour before the spring gap
	"2026-11-01T05:45:00Z", // New York, inside the first pass of the repeated hour
	"2026-03-29T00:30:00Z", // London spring
	"2026-10-25T00:30:00Z", // London autumn
	"2026-04-04T14:30:00Z", // Lord Howe, before its 30-minute fall back
	"2028-02-28T23:59:30Z",
	"2096-03-01T00:00:00Z", // the 8-year gap between leap days
}

func loadFuzzZones(f *testing.F) []*time.Location {
	locs := make([]*time.Location, len(fuzzZones))
	for i, z := range fuzzZones {
		locs[i] = mustLoad(f, z)
	}
	return locs
}

func FuzzParseCron(f *testing.F) {
	for _, s := range []string{
		"* * * * *", "*/15 * * * *", "0 9 * * MON-FRI", "0 0 13 * FRI", "0 0 29 2 *", "0 0 30 2 *",
		"30 2 * * *", "30 1 * * *", "1-30/5 0-23/3 1,15 JAN-JUN/2 */2", "@weekly", "5/15 * * * 7",
		"0 0 */2 * MON", "0 0 * * 5-7", "59 23 31 12 *", "0 12 28-31 * *", "0 * * * * *",
	} {
		f.Add(s, uint8(1), uint8(2))
	}
	locs := loadFuzzZones(f)
	f.Fuzz(func(t *testing.T, expr string, zone, start uint8) {
		c, err := ParseCron(expr)
		if err != nil {
			if !errors.Is(err, ErrInvalidCron) {
				t.Fatalf("ParseCron(%q): %v does not wrap ErrInvalidCron", expr, err)
			}
			return
		}
		ref, ok := refParse(expr)
		if !ok {
			t.Fatalf("ParseCron accepted %q, which the reference parser cannot read", expr)
		}
		loc := locs[int(zone)%len(locs)]
		after := utc(fuzzStarts[int(start)%len(fuzzStarts)])
		next := c.Next(after, loc)
		if next.IsZero() {
			// Allowed by the contract, but an accepted expression always fires within 8 years.
			t.Fatalf("%q in %v after %v: no fire", expr, loc, after)
		}
		if !next.After(after) {
			t.Fatalf("%q in %v: Next(%v) = %v, not after it", expr, loc, after, next)
		}
		if !ref.fires(next, loc) {
			t.Fatalf("%q in %v: Next(%v) = %v (%v), which the expression does not fire at", expr, loc, after, next.UTC(), next)
		}
		// Nothing fires in between (scanned for up to two days).
		end := min(next.Unix(), after.Add(48*time.Hour).Unix())
		for u := after.Truncate(time.Minute).Add(time.Minute); u.Unix() < end; u = u.Add(time.Minute) {
			if ref.fires(u, loc) {
				t.Fatalf("%q in %v: Next(%v) = %v, but it fires earlier at %v", expr, loc, after, next, u.In(loc))
			}
		}
	})
}

var onceGrammar = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})?$`)

func FuzzParseOnce(f *testing.F) {
	for _, s := range []string{
		"2026-03-01T09:00", "2026-03-01 09:00:00.5", "2026-03-01T09:00:00Z", "2026-03-01T09:00:00+09:00",
		"2026-03-08T02:30", "2026-11-01T01:30", "2026-02-29T00:00", "2026-03-01T09:00:00-00:00", "2026-03-01",
		"0000-01-01 00:00", "9999-12-31T23:59:59.999999999-23:59",
	} {
		f.Add(s, uint8(1))
	}
	locs := loadFuzzZones(f)
	f.Fuzz(func(t *testing.T, v string, zone uint8) {
		loc := locs[int(zone)%len(locs)]
		s, err := Parse(Once, v, loc)
		if err != nil && !errors.Is(err, ErrInvalidOnce) {
			t.Fatalf("Parse(once, %q): %v does not wrap ErrInvalidOnce", v, err)
		}
		if !onceGrammar.MatchString(v) {
			if err == nil {
				t.Fatalf("Parse(once, %q) accepted a string outside the grammar", v)
			}
			return
		}
		// Compare with the standard library on the same text.
		n := []byte(v)
		n[10] = 'T'
		zoned := n[len(n)-1] == 'z' || n[len(n)-1] == 'Z' || n[len(n)-6] == '+' || n[len(n)-6] == '-'
		if n[len(n)-1] == 'z' {
			n[len(n)-1] = 'Z'
		}
		layout := "2006-01-02T15:04"
		if len(n) > 16 && n[16] == ':' {
			layout += ":05"
		}
		if zoned {
			layout += "Z07:00"
		}
		fields, ferr := time.Parse(layout, string(n)) // wall-clock fields, or the instant if zoned
		if err != nil {
			if ferr != nil {
				return // both reject
			}
			if zoned && v[len(v)-6] != 'Z' && v[len(v)-6] != 'z' {
				oh, _ := strconv.Atoi(v[len(v)-5 : len(v)-3])
				om, _ := strconv.Atoi(v[len(v)-2:])
				if oh > 23 || om > 59 {
					return // an offset that Go tolerates and Parse does not
				}
			}
			// A local time Go accepts is rejected only if it falls in a gap.
			in := time.Date(fields.Year(), fields.Month(), fields.Day(), fields.Hour(), fields.Minute(), fields.Second(), fields.Nanosecond(), loc)
			if zoned || sameWall(in, fields) {
				t.Fatalf("Parse(once, %q, %v) rejected a valid time: %v", v, loc, err)
			}
			return
		}
		if ferr != nil {
			t.Fatalf("Parse(once, %q) accepted what time.Parse rejects: %v", v, ferr)
		}
		got, ok := s.Next(s.at.Add(-time.Nanosecond)) // not time.Time{}: year 0000 is before it
		if !ok || got.Location() != loc {
			t.Fatalf("Parse(once, %q, %v): Next = %v, %v", v, loc, got, ok)
		}
		if zoned {
			if !got.Equal(fields) {
				t.Fatalf("Parse(once, %q) = %v, want %v", v, got, fields)
			}
			return
		}
		if !sameWall(got, fields) {
			t.Fatalf("Parse(once, %q, %v) = %v, whose wall clock is not %v", v, loc, got, fields)
		}
		for back := 15 * time.Minute; back <= 3*time.Hour; back += 15 * time.Minute {
			if sameWall(got.Add(-back).In(loc), fields) {
				t.Fatalf("Parse(once, %q, %v) = %v, not the first occurrence", v, loc, got)
			}
		}
		if _, ok := s.Next(got); ok {
			t.Fatalf("once fires again after %v", got)
		}
	})
}

func sameWall(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd && a.Hour() == b.Hour() && a.Minute() == b.Minute() &&
		a.Second() == b.Second() && a.Nanosecond() == b.Nanosecond()
}

func FuzzParseInterval(f *testing.F) {
	for _, s := range []string{"1", "3600000", "0", "-5", "1.5", "1e3", "315576000000", "315576000001", "", " 1", "00012"} {
		f.Add(s)
	}
	digits := regexp.MustCompile(`^[0-9]+$`)
	f.Fuzz(func(t *testing.T, v string) {
		s, err := Parse(Interval, v, time.UTC)
		ms, perr := strconv.ParseUint(v, 10, 64)
		valid := digits.MatchString(v) && perr == nil && ms >= 1 && ms <= uint64(MaxInterval/time.Millisecond)
		if valid != (err == nil) {
			t.Fatalf("Parse(interval, %q): err = %v, want valid = %v", v, err, valid)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidInterval) {
				t.Fatalf("Parse(interval, %q): %v does not wrap ErrInvalidInterval", v, err)
			}
			return
		}
		base := utc("2026-01-01T00:00:00Z")
		got, ok := s.Next(base)
		if !ok || got.Sub(base) != time.Duration(ms)*time.Millisecond {
			t.Fatalf("Parse(interval, %q).Next = %v, %v", v, got, ok)
		}
		// Anchoring lands on the grid, strictly after now, within one interval.
		now := base.Add(time.Duration(ms)*time.Millisecond*7/3 + 1)
		next, _ := s.NextAnchored(base, now)
		if !next.After(now) || next.Sub(now) > s.every || next.Sub(base)%s.every != 0 {
			t.Fatalf("Parse(interval, %q).NextAnchored(%v, %v) = %v", v, base, now, next)
		}
	})
}
