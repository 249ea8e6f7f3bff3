package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A clock reads the timestamps of one file's lines.
type clock struct {
	loc *time.Location // for times without a zone
	utc bool           // loc is UTC: zone-less times need no zone lookup
	// A syslog time has no year: it gets refYear, or the year before if that
	// puts it more than a day after the file's modification time, so December
	// lines read in January land in the right year.
	refYear  int
	refLimit time.Time
}

func newClock(loc *time.Location, mtime time.Time) *clock {
	return &clock{loc: loc, utc: loc == time.UTC, refYear: mtime.In(loc).Year(), refLimit: mtime.Add(24 * time.Hour)}
}

// parse reads the timestamp a log line starts with, if any:
//
//	2006-01-02T15:04:05Z07:00   RFC 3339, fraction and zone optional ("T" or " ", "." or "," before the fraction)
//	2006-01-02 15:04:05 -0700   the same with a space and a numeric zone
//	Jan _2 15:04:05             syslog (RFC 3164): no year and no zone
//
// optionally inside a leading "[". A time without a zone is in c.loc. With
// --since it runs on every line, so it is written by hand over bytes, and a
// time in UTC or with a numeric offset is computed without a zone lookup.
func (c *clock) parse(b []byte) (time.Time, bool) {
	if len(b) > 0 && b[0] == '[' {
		b = b[1:]
	}
	if len(b) >= 19 && isDigit(b[0]) {
		return c.parseISO(b)
	}
	if len(b) >= 15 && b[0] >= 'A' && b[0] <= 'S' {
		return c.parseSyslog(b)
	}
	return time.Time{}, false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// num reads the decimal number in b[i:i+n]; ok is false unless all n bytes are digits.
func num(b []byte, i, n int) (v int, ok bool) {
	for _, c := range b[i : i+n] {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func (c *clock) parseISO(b []byte) (time.Time, bool) {
	if b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := num(b, 0, 4)
	month, ok2 := num(b, 5, 2)
	day, ok3 := num(b, 8, 2)
	hour, ok4 := num(b, 11, 2)
	minute, ok5 := num(b, 14, 2)
	sec, ok6 := num(b, 17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || !validClock(month, day, hour, minute, sec) {
		return time.Time{}, false
	}
	i := 19
	nsec := 0
	if i+1 < len(b) && (b[i] == '.' || b[i] == ',') && isDigit(b[i+1]) {
		i++
		scale := 100000000
		for ; i < len(b) && isDigit(b[i]); i++ {
			nsec += int(b[i]-'0') * scale
			scale /= 10
		}
	}
	offset, hasZone := 0, false
	switch {
	case i < len(b) && b[i] == 'Z':
		hasZone = true
		i++
	default:
		j := i
		if j+1 < len(b) && b[j] == ' ' && (b[j+1] == '+' || b[j+1] == '-') {
			j++ // "2006-01-02 15:04:05 +0200"
		}
		if off, n, ok := parseOffset(b[j:]); ok {
			offset, hasZone = off, true
			i = j + n
		}
	}
	if i < len(b) && isDigit(b[i]) {
		return time.Time{}, false
	}
	if !hasZone && !c.utc {
		return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, c.loc), true
	}
	unix := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// daysSinceEpoch is the number of days from 1970-01-01 to the given date in
// the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
func daysSinceEpoch(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseOffset reads +hh:mm, +hhmm or +hh (or -) and returns the offset in seconds
// east of UTC and the bytes it used.
func parseOffset(b []byte) (sec, n int, ok bool) {
	if len(b) < 3 || (b[0] != '+' && b[0] != '-') {
		return 0, 0, false
	}
	h, ok := num(b, 1, 2)
	if !ok || h > 23 {
		return 0, 0, false
	}
	m, n := 0, 3
	switch {
	case len(b) >= 6 && b[3] == ':':
		m, ok = num(b, 4, 2)
		n = 6
	case len(b) >= 5 && isDigit(b[3]):
		m, ok = num(b, 3, 2)
		n = 5
	}
	if !ok || m > 59 {
		return 0, 0, false
	}
	sec = h*3600 + m*60
	if b[0] == '-' {
		sec = -sec
	}
	return sec, n, true
}

func validClock(month, day, hour, minute, sec int) bool {
	return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 && sec <= 60
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func (c *clock) parseSyslog(b []byte) (time.Time, bool) {
	// "Jan _2 15:04:05": the day is space-padded, or zero-padded by some writers.
	if b[3] != ' ' || b[6] != ' ' || b[9] != ':' || b[12] != ':' {
		return time.Time{}, false
	}
	month := 0
	for i, m := range months {
		if b[0] == m[0] && b[1] == m[1] && b[2] == m[2] {
			month = i + 1
			break
		}
	}
	if month == 0 {
		return time.Time{}, false
	}
	var day int
	var ok bool
	if b[4] == ' ' {
		day, ok = num(b, 5, 1)
	} else {
		day, ok = num(b, 4, 2)
	}
	hour, ok2 := num(b, 7, 2)
	minute, ok3 := num(b, 10, 2)
	sec, ok4 := num(b, 13, 2)
	if !(ok && ok2 && ok3 && ok4) || !validClock(month, day, hour, minute, sec) {
		return time.Time{}, false
	}
	if len(b) > 15 && isDigit(b[15]) {
		return time.Time{}, false
	}
	t := time.Date(c.refYear, time.Month(month), day, hour, minute, sec, 0, c.loc)
	if t.After(c.refLimit) {
		t = time.Date(c.refYear-1, time.Month(month), day, hour, minute, sec, 0, c.loc)
	}
	return t, true
}

// parseSince reads --since: a duration back from now (Go syntax, plus d for
// days: 30m, 2h, 2d, 1d12h) or a point in time (RFC 3339, "2006-01-02 15:04:05"
// or "2006-01-02", the last two in loc).
func parseSince(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if d, ok := parseDays(s); ok {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("bad --since %q: want a positive duration", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad --since %q: want a duration such as 30m, 2h or 2d, or a time such as 2024-01-02T15:04:05Z", s)
}

// parseDays is time.ParseDuration with a leading whole number of days: "2d", "1d12h".
func parseDays(s string) (time.Duration, bool) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil {
			return 0, false
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, true
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, false
	}
	return days + d, true
}
