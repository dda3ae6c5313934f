package schedule

import (
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// CronExpr is a parsed 5-field cron expression. (It is not called Cron because that name is
// the Kind constant.) Each field is a bit set, so matching is a few bit tests and Next
// allocates nothing. The zero CronExpr matches nothing and never fires.
type CronExpr struct {
	minute uint64 // bits 0-59
	hour   uint64 // bits 0-23
	dom    uint64 // bits 1-31
	month  uint64 // bits 1-12
	dow    uint64 // bits 0-6, Sunday = 0 (a 7 in the expression sets bit 0)
	// domAll and dowAll record a day-of-month or day-of-week field written as "*" (or the
	// equivalent "*/1"): such a field does not restrict the day, which decides between the
	// AND and OR rules of Vixie cron (see dayMatches).
	domAll, dowAll bool
}

// horizonYears bounds Next's search: it looks through the rest of after's year and the
// 8 calendar years that follow. The rarest possible schedule is February 29th, whose
// occurrences can be 8 years apart (2096 to 2104, as 2100 is not a leap year), so any
// expression that ever fires is found, while one that cannot fire fails quickly. (That bound
// relies on the day rule below: with Vixie's first-character test, "0 0 13 2 */7" would mean
// "February 13th when it is a Sunday", which can be 11 years apart.)
const horizonYears = 8

// neverFiresRef is where Parse and ParseCron start the search that rejects expressions that
// can never fire. Any fixed instant works, since the search spans at least 8 full years.
var neverFiresRef = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// ParseCron parses a standard 5-field cron expression: minute hour day-of-month month
// day-of-week, separated by spaces or tabs.
//
// Each field is a comma-separated list of "*", a value, a range "a-b", or any of those
// followed by a step "/n"; "a/n" means a through the field's maximum in steps of n. Months may
// be named JAN-DEC and weekdays SUN-SAT, in any case. Day-of-week runs 0-7, where both 0 and 7
// are Sunday. The macros @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly
// are accepted. Seconds fields, @reboot, @every and Quartz extensions (?, L, W, #) are not:
// they would be misread by any other standard cron, and an agent should be told so.
//
// The day rule is classic Vixie cron's: when both day-of-month and day-of-week are
// restricted, a day matches if either matches ("0 0 13 * FRI" fires on every 13th and every
// Friday); when either is "*", the other alone decides. Only "*" (or "*/1") counts as
// unrestricted: "*/2" restricts the field, as in crontab(5)'s wording and most modern crons
// (Vixie's code instead looks at the first character, treating "*/2" like "*").
//
// An expression that can never fire, such as "0 0 30 2 *", is rejected with ErrNeverFires.
func ParseCron(expr string) (CronExpr, error) {
	c, err := parseCron(expr)
	if err != nil {
		return CronExpr{}, err
	}
	if c.Next(neverFiresRef, time.UTC).IsZero() {
		return CronExpr{}, neverFires(expr, nil)
	}
	return c, nil
}

func neverFires(expr string, loc *time.Location) error {
	where := ""
	if loc != nil && loc != time.UTC {
		where = " in " + loc.String()
	}
	return fmt.Errorf("%w %q: %w%s: no time matches it within %d years (check the day-of-month against the months)",
		ErrInvalidCron, expr, ErrNeverFires, where, horizonYears)
}

// Next returns the first time strictly after after at which c fires, with c's fields read as
// wall-clock time in loc (nil means UTC). The result is in loc.
//
// Across daylight-saving changes a wall-clock time that does not exist in loc (the clocks
// skip over it) is skipped, and one that occurs twice (the clocks go back over it) fires only
// at its first occurrence, so an hourly job does not run twice in the repeated hour.
//
// If c does not fire within the rest of after's year and the 8 years after it, Next returns
// the zero time; this happens only for expressions that can never fire, which ParseCron and
// Parse reject.
func (c CronExpr) Next(after time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	if c.minute == 0 || c.hour == 0 || c.month == 0 || c.dom|c.dow == 0 {
		return time.Time{}
	}
	// Walk wall-clock fields forward from after's minute, skipping whole months, days and
	// hours that cannot match. Candidates before after (possible within after's minute, and
	// during a repeated hour) are passed over by the instant comparison.
	a := after.In(loc)
	y, month, d := a.Date()
	h, mi, _ := a.Clock()
	mo := int(month)
	last := y + horizonYears
	for y <= last {
		if c.month&(1<<mo) == 0 {
			if m := nextBit(c.month, mo+1, 12); m > 0 {
				mo = m
			} else {
				y, mo = y+1, 1
			}
			d, h, mi = 1, 0, 0
			continue
		}
		dim := daysIn(y, mo)
		if d > dim {
			if mo++; mo > 12 {
				y, mo = y+1, 1
			}
			d, h, mi = 1, 0, 0
			continue
		}
		if !c.dayMatches(y, mo, d) {
			if c.dowAll && !c.domAll { // day-of-month alone decides: jump to its next day
				if nd := nextBit(c.dom, d+1, dim); nd > 0 {
					d = nd
				} else {
					d = dim + 1
				}
			} else {
				d++
			}
			h, mi = 0, 0
			continue
		}
		if c.hour&(1<<h) == 0 {
			nh := nextBit(c.hour, h+1, 23)
			if nh < 0 {
				d, h, mi = d+1, 0, 0
				continue
			}
			h, mi = nh, 0
		}
		if c.minute&(1<<mi) == 0 {
			nm := nextBit(c.minute, mi+1, 59)
			if nm < 0 {
				if h, mi = h+1, 0; h > 23 {
					d, h = d+1, 0
				}
				continue
			}
			mi = nm
		}
		if t, ok := resolve(y, mo, d, h, mi, 0, 0, loc); ok && t.After(after) {
			return t
		}
		if mi++; mi > 59 {
			if h, mi = h+1, 0; h > 23 {
				d, h = d+1, 0
			}
		}
	}
	return time.Time{}
}

// dayMatches applies Vixie cron's day rule: if either day field is "*", both must match
// (the "*" one always does); otherwise either may.
func (c CronExpr) dayMatches(y, mo, d int) bool {
	domOK := c.dom&(1<<d) != 0
	dowOK := c.dow&(1<<weekday(y, mo, d)) != 0
	if c.domAll || c.dowAll {
		return domOK && dowOK
	}
	return domOK || dowOK
}

// nextBit returns the lowest set bit of set in [from, max], or -1.
func nextBit(set uint64, from, max int) int {
	if from > max {
		return -1
	}
	rest := set >> uint(from) << uint(from)
	if rest == 0 {
		return -1
	}
	if b := bits.TrailingZeros64(rest); b <= max {
		return b
	}
	return -1
}

// resolve returns the first instant at which the wall clock in loc reads the given date and
// time, or false if it never does (the time falls in a gap where the clocks jump forward).
func resolve(y, mo, d, h, mi, s, ns int, loc *time.Location) (time.Time, bool) {
	t := time.Date(y, time.Month(mo), d, h, mi, s, ns, loc)
	wall := civilDays(y, mo, d)*86400 + int64(h*3600+mi*60+s)
	_, off := t.Zone()
	if t.Unix()+int64(off) != wall {
		return time.Time{}, false // time.Date normalized a nonexistent time
	}
	// time.Date does not promise which occurrence of a repeated time it returns. If the
	// zone period before t's had a different offset, the same wall time may also have
	// occurred then, earlier: that is the first occurrence.
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return t, true
	}
	_, prevOff := start.Add(-time.Nanosecond).Zone()
	if prevOff == off {
		return t, true
	}
	u := wall - int64(prevOff)
	if u >= start.Unix() {
		return t, true
	}
	e := time.Unix(u, int64(ns)).In(loc)
	if _, eoff := e.Zone(); eoff == prevOff {
		return e, true
	}
	return t, true
}

// civilDays returns the number of days from 1970-01-01 to the given proleptic Gregorian
// date (Howard Hinnant's days_from_civil), without going through time.Time.
func civilDays(y, mo, d int) int64 {
	yy := int64(y)
	if mo <= 2 {
		yy--
	}
	era := yy / 400
	if yy < 0 && yy%400 != 0 {
		era--
	}
	yoe := yy - era*400
	mp := int64((mo + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// weekday returns the day of the week of a date, Sunday = 0.
func weekday(y, mo, d int) int {
	w := (civilDays(y, mo, d) + 4) % 7 // 1970-01-01 was a Thursday
	if w < 0 {
		w += 7
	}
	return int(w)
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, mo int) int {
	switch mo {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// field describes one of the five cron fields.
type field struct {
	name     string
	min, max int // the values a number may take
	starMax  int // the last value of "*" and "a/n" (6 for day-of-week, whose 7 repeats 0)
	names    string
	nameBase int // the value of the first name
}

var cronFields = [5]field{
	{name: "minute", min: 0, max: 59, starMax: 59},
	{name: "hour", min: 0, max: 23, starMax: 23},
	{name: "day-of-month", min: 1, max: 31, starMax: 31},
	{name: "month", min: 1, max: 12, starMax: 12, names: "JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC", nameBase: 1},
	{name: "day-of-week", min: 0, max: 7, starMax: 6, names: "SUNMONTUEWEDTHUFRISAT", nameBase: 0},
}

var cronMacros = [...]struct{ name, expr string }{
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// parseCron parses an expression's syntax, without checking that it can fire.
func parseCron(expr string) (CronExpr, error) {
	s := strings.TrimFunc(expr, func(r rune) bool { return r == ' ' || r == '\t' })
	if s == "" {
		return CronExpr{}, fmt.Errorf("%w: empty; want 5 fields: minute hour day-of-month month day-of-week", ErrInvalidCron)
	}
	if s[0] == '@' {
		for _, m := range cronMacros {
			if strings.EqualFold(s, m.name) {
				return parseCron(m.expr)
			}
		}
		hint := ""
		if len(s) >= 6 && strings.EqualFold(s[:6], "@every") {
			hint = " (for a fixed period use schedule_type \"interval\" in milliseconds)"
		}
		return CronExpr{}, fmt.Errorf("%w %q: unsupported macro; want one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or 5 fields%s",
			ErrInvalidCron, expr, hint)
	}
	var parts [5]string
	n := 0
	for i := 0; i < len(s); {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		j := i
		for j < len(s) && !isSpace(s[j]) {
			j++
		}
		if j > i {
			if n < len(parts) {
				parts[n] = s[i:j]
			}
			n++
		}
		i = j
	}
	switch {
	case n == 6 || n == 7:
		return CronExpr{}, fmt.Errorf("%w %q: has %d fields; seconds and year fields are not supported, want 5: minute hour day-of-month month day-of-week",
			ErrInvalidCron, expr, n)
	case n != 5:
		return CronExpr{}, fmt.Errorf("%w %q: has %d fields, want 5: minute hour day-of-month month day-of-week", ErrInvalidCron, expr, n)
	}
	var sets [5]uint64
	var all [5]bool
	for i, f := range &cronFields {
		set, isAll, err := f.parse(parts[i])
		if err != "" {
			return CronExpr{}, fmt.Errorf("%w %q: %s field %q: %s", ErrInvalidCron, expr, f.name, parts[i], err)
		}
		sets[i], all[i] = set, isAll
	}
	dow := sets[4]
	if dow&(1<<7) != 0 { // 7 is Sunday
		dow = dow&^(1<<7) | 1
	}
	return CronExpr{
		minute: sets[0], hour: sets[1], dom: sets[2], month: sets[3], dow: dow,
		domAll: all[2], dowAll: all[4],
	}, nil
}

// parse reads one field, returning its bit set, whether it is "*" (or "*/1"), and a
// description of what is wrong with it, if anything.
func (f *field) parse(s string) (set uint64, isAll bool, err string) {
	for elems := 0; ; elems++ {
		end := strings.IndexByte(s, ',')
		elem := s
		if end >= 0 {
			elem = s[:end]
		}
		if elem == "" {
			return 0, false, "empty list element"
		}
		bitsOf, star, e := f.parseElem(elem)
		if e != "" {
			return 0, false, e
		}
		set |= bitsOf
		if end < 0 {
			return set, star && elems == 0, ""
		}
		s = s[end+1:]
	}
}

// parseElem reads one list element: "*", "a", "a-b", each optionally followed by "/n".
func (f *field) parseElem(s string) (set uint64, star bool, err string) {
	lo, hi := f.min, f.starMax
	rest := s
	if rest[0] == '*' {
		star, rest = true, rest[1:]
		if rest != "" && rest[0] != '/' {
			return 0, false, fmt.Sprintf("unexpected %q after \"*\"", rest)
		}
	} else {
		var e string
		if lo, rest, e = f.value(rest); e != "" {
			return 0, false, e
		}
		hi = lo
		if rest != "" && rest[0] == '-' {
			if hi, rest, e = f.value(rest[1:]); e != "" {
				return 0, false, e
			}
			if lo > hi {
				return 0, false, fmt.Sprintf("range %d-%d runs backwards (for a range ending on Sunday use 7)", lo, hi)
			}
		} else if rest != "" && rest[0] == '/' {
			hi = f.starMax // "a/n" means a through the end of the field
			if lo > hi {
				hi = lo
			}
		}
	}
	step := 1
	if rest != "" {
		if rest[0] != '/' {
			return 0, false, fmt.Sprintf("unexpected %q", rest)
		}
		n, r, ok := number(rest[1:])
		if !ok {
			return 0, false, fmt.Sprintf("step %q is not a number", rest[1:])
		}
		if r != "" {
			return 0, false, fmt.Sprintf("unexpected %q after step %d", r, n)
		}
		if span := f.starMax - f.min + 1; n < 1 || n > span {
			return 0, false, fmt.Sprintf("step %d is out of range 1-%d", n, span)
		}
		step = n
	}
	for v := lo; v <= hi; v += step {
		set |= 1 << uint(v)
	}
	return set, star && step == 1, ""
}

// value reads a number or, in fields that have them, a three-letter name.
func (f *field) value(s string) (v int, rest string, err string) {
	if n, r, ok := number(s); ok {
		if n < f.min || n > f.max {
			return 0, "", fmt.Sprintf("%d is out of range %d-%d", n, f.min, f.max)
		}
		return n, r, ""
	}
	i := 0
	for i < len(s) && (s[i]|0x20 >= 'a' && s[i]|0x20 <= 'z') {
		i++
	}
	if i == 0 {
		if s == "" {
			return 0, "", "missing value"
		}
		c := s[0]
		switch c {
		case '?', '#':
			return 0, "", fmt.Sprintf("unsupported %q (Quartz syntax; use standard 5-field cron)", rune(c))
		}
		return 0, "", fmt.Sprintf("unexpected %q", s)
	}
	word := s[:i]
	if f.names == "" {
		return 0, "", fmt.Sprintf("unexpected %q: the %s field takes numbers only", word, f.name)
	}
	if i == 3 {
		for k := 0; k+3 <= len(f.names); k += 3 {
			if strings.EqualFold(word, f.names[k:k+3]) {
				return f.nameBase + k/3, s[i:], ""
			}
		}
	}
	return 0, "", fmt.Sprintf("unknown name %q; want %s", word, nameList(f.names))
}

func nameList(names string) string {
	var b strings.Builder
	for k := 0; k < len(names); k += 3 {
		if k > 0 {
			b.WriteString(",")
		}
		b.WriteString(names[k : k+3])
	}
	return b.String()
}

// number reads leading decimal digits. Values stop growing past 1000, far beyond any field's
// maximum, so a long run of digits cannot overflow and is still reported out of range.
func number(s string) (n int, rest string, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if n <= 1000 {
			n = n*10 + int(s[i]-'0')
		}
		i++
	}
	return n, s[i:], i > 0
}
