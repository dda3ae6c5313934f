package schedule

import (
	"fmt"
	"time"
)

const onceForm = `want "YYYY-MM-DDTHH:MM[:SS]" in the configured time zone, or with "Z" or "±HH:MM" appended for an absolute time`

// parseOnce reads a once timestamp (see Parse). It is hand-written rather than a series of
// time.Parse layouts so that it allocates nothing on success and can say which part is wrong.
func parseOnce(v string, loc *time.Location) (time.Time, error) {
	p := onceParser{s: v}
	y := p.digits(4, "year")
	p.sep('-', "after the year")
	mo := p.digits(2, "month")
	p.sep('-', "after the month")
	d := p.digits(2, "day")
	if p.err == "" {
		if p.i < len(v) && (v[p.i] == 'T' || v[p.i] == 't' || v[p.i] == ' ') {
			p.i++
		} else if p.i == len(v) {
			p.fail("the time of day is missing")
		} else {
			p.fail(`want "T" or a space between the date and the time`)
		}
	}
	h := p.digits(2, "hour")
	p.sep(':', "after the hour")
	mi := p.digits(2, "minute")
	sec, ns := 0, 0
	if p.err == "" && p.i < len(v) && v[p.i] == ':' {
		p.i++
		sec = p.digits(2, "second")
		if p.err == "" && p.i < len(v) && v[p.i] == '.' {
			p.i++
			n := 0
			for p.i < len(v) && v[p.i] >= '0' && v[p.i] <= '9' {
				if n < 9 {
					ns = ns*10 + int(v[p.i]-'0')
				}
				n++
				p.i++
			}
			switch {
			case n == 0:
				p.fail(`want digits after "."`)
			case n > 9:
				p.fail("more than 9 fractional digits")
			}
			for ; n < 9; n++ {
				ns *= 10
			}
		}
	}
	zoned, offset := false, 0
	if p.err == "" && p.i < len(v) {
		switch v[p.i] {
		case 'Z', 'z':
			p.i++
			zoned = true
		case '+', '-':
			sign := 1
			if v[p.i] == '-' {
				sign = -1
			}
			p.i++
			oh := p.digits(2, "offset hours")
			p.sep(':', "in the offset")
			om := p.digits(2, "offset minutes")
			if p.err == "" && (oh > 23 || om > 59) {
				p.fail(fmt.Sprintf("offset %s is out of range", v[p.i-6:p.i]))
			}
			zoned, offset = true, sign*(oh*3600+om*60)
		}
	}
	if p.err == "" && p.i < len(v) {
		p.fail(fmt.Sprintf("unexpected %q", v[p.i:]))
	}
	if p.err == "" {
		switch {
		case mo < 1 || mo > 12:
			p.fail(fmt.Sprintf("month %02d is out of range 01-12", mo))
		case d < 1 || d > daysIn(y, mo):
			p.fail(fmt.Sprintf("day %02d is out of range for %04d-%02d (01-%02d)", d, y, mo, daysIn(y, mo)))
		case h > 23:
			p.fail(fmt.Sprintf("hour %02d is out of range 00-23", h))
		case mi > 59:
			p.fail(fmt.Sprintf("minute %02d is out of range 00-59", mi))
		case sec > 59:
			p.fail(fmt.Sprintf("second %02d is out of range 00-59", sec))
		}
	}
	if p.err != "" {
		return time.Time{}, fmt.Errorf("%w %q: %s; %s", ErrInvalidOnce, v, p.err, onceForm)
	}
	if zoned {
		wall := civilDays(y, mo, d)*86400 + int64(h*3600+mi*60+sec)
		return time.Unix(wall-int64(offset), int64(ns)).In(loc), nil
	}
	t, ok := resolve(y, mo, d, h, mi, sec, ns, loc)
	if !ok {
		return time.Time{}, fmt.Errorf("%w %q: %02d:%02d on %04d-%02d-%02d does not exist in %s (the clocks skip it); pick a time outside the daylight-saving change",
			ErrInvalidOnce, v, h, mi, y, mo, d, loc.String())
	}
	return t, nil
}

// onceParser scans a timestamp, keeping the first problem found; after one, it reads nothing.
type onceParser struct {
	s   string
	i   int
	err string
}

func (p *onceParser) fail(msg string) {
	if p.err == "" {
		p.err = msg
	}
}

// digits reads exactly n decimal digits.
func (p *onceParser) digits(n int, what string) int {
	if p.err != "" {
		return 0
	}
	v := 0
	for k := 0; k < n; k++ {
		if p.i >= len(p.s) || p.s[p.i] < '0' || p.s[p.i] > '9' {
			p.fail(fmt.Sprintf("want %d digits for the %s", n, what))
			return 0
		}
		v = v*10 + int(p.s[p.i]-'0')
		p.i++
	}
	return v
}

func (p *onceParser) sep(c byte, where string) {
	if p.err != "" {
		return
	}
	if p.i >= len(p.s) || p.s[p.i] != c {
		p.fail(fmt.Sprintf("want %q %s", rune(c), where))
		return
	}
	p.i++
}
