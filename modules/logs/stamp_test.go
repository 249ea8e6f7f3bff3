package main

import (
	"math/rand"
	"testing"
	"time"
)

func TestClockParse(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	utc := newClock(time.UTC, mtime)
	for _, tc := range []struct {
		line string
		clk  *clock
		want string // RFC 3339 in UTC; "" for no timestamp
	}{
		{"2024-01-02T15:04:05Z started", utc, "2024-01-02T15:04:05Z"},
		{"2024-01-02T15:04:05.123456789Z x", utc, "2024-01-02T15:04:05.123456789Z"},
		{"2024-01-02T15:04:05.5+02:00 x", utc, "2024-01-02T13:04:05.5Z"},
		{"2024-01-02T15:04:05-0130 x", utc, "2024-01-02T16:34:05Z"},
		{"2024-01-02T15:04:05+05 x", utc, "2024-01-02T10:04:05Z"},
		{"2024-01-02 15:04:05 x", utc, "2024-01-02T15:04:05Z"},
		{"2024-01-02 15:04:05,250 INFO python logging", utc, "2024-01-02T15:04:05.25Z"},
		{"2024-01-02 15:04:05 +0200 x", utc, "2024-01-02T13:04:05Z"},
		{"[2024-01-02 15:04:05] laravel.ERROR", utc, "2024-01-02T15:04:05Z"},
		{"2024-01-02T15:04:05", utc, "2024-01-02T15:04:05Z"},
		{"2024-07-02 15:04:05 zone-less, in Paris", newClock(paris, mtime), "2024-07-02T13:04:05Z"},
		{"2024-01-02 15:04:05 zone-less, in Paris", newClock(paris, mtime), "2024-01-02T14:04:05Z"},
		{"2024-07-02T15:04:05Z explicit zone wins", newClock(paris, mtime), "2024-07-02T15:04:05Z"},
		{"Mar  9 08:00:01 host sshd[1]: x", utc, "2024-03-09T08:00:01Z"},
		{"Mar 09 08:00:01 host x", utc, "2024-03-09T08:00:01Z"},
		{"Mar 11 08:00:01 a day after mtime: this year", utc, "2024-03-11T08:00:01Z"},
		{"Dec 31 23:59:59 more than a day after mtime: last year", utc, "2023-12-31T23:59:59Z"},
		{"Feb 29 10:00:00 leap year", utc, "2024-02-29T10:00:00Z"},
		{"2024-01-02T15:04:60Z leap second", utc, "2024-01-02T15:05:00Z"},
		// not timestamps
		{"", utc, ""},
		{"  at com.example.Main(Main.java:12)", utc, ""},
		{"2024-13-02T15:04:05Z bad month", utc, ""},
		{"2024-01-02T25:04:05Z bad hour", utc, ""},
		{"2024-01-02X15:04:05Z", utc, ""},
		{"2024-01-02T15:04:051", utc, ""},
		{"2024/01/02 15:04:05", utc, ""},
		{"Foo  9 08:00:01 x", utc, ""},
		{"Mar  9 08:00", utc, ""},
		{"Mar  9 08:00:011", utc, ""},
		{"12345678901234567890", utc, ""},
	} {
		got, ok := tc.clk.parse([]byte(tc.line))
		gotS := ""
		if ok {
			gotS = got.UTC().Format(time.RFC3339Nano)
		}
		if gotS != tc.want {
			t.Errorf("parse(%q) = %q, want %q", tc.line, gotS, tc.want)
		}
	}
}

// TestDaysSinceEpoch checks the arithmetic against time.Date, which parseISO avoids for speed.
func TestDaysSinceEpoch(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 100000; i++ {
		y, m, d := 1+r.Intn(9998), 1+r.Intn(12), 1+r.Intn(28)
		want := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400
		if want < 0 && time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix()%86400 != 0 {
			want--
		}
		if got := daysSinceEpoch(y, m, d); got != want {
			t.Fatalf("daysSinceEpoch(%d, %d, %d) = %d, want %d", y, m, d, got, want)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ in, want string }{
		{"1h", "2024-05-01T11:00:00Z"},
		{"30m", "2024-05-01T11:30:00Z"},
		{"90s", "2024-05-01T11:58:30Z"},
		{"2d", "2024-04-29T12:00:00Z"},
		{"1d12h", "2024-04-30T00:00:00Z"},
		{"2024-04-01T10:00:00Z", "2024-04-01T10:00:00Z"},
		{"2024-04-01T10:00:00+02:00", "2024-04-01T08:00:00Z"},
		{"2024-04-01 10:00:00", "2024-04-01T10:00:00Z"},
		{"2024-04-01", "2024-04-01T00:00:00Z"},
	} {
		got, err := parseSince(tc.in, now, time.UTC)
		if err != nil || got.UTC().Format(time.RFC3339) != tc.want {
			t.Errorf("parseSince(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-1h", "0s", "0d", "1w", "2x", "d", "1h2d", "2024-02-30"} {
		if got, err := parseSince(bad, now, time.UTC); err == nil {
			t.Errorf("parseSince(%q) = %v, want an error", bad, got)
		}
	}
}

func FuzzClockParse(f *testing.F) {
	for _, s := range []string{"2024-01-02T15:04:05.123+02:00 x", "Jan  2 15:04:05 h", "[2024-01-02 15:04:05,1 +0100]"} {
		f.Add(s)
	}
	clk := newClock(time.UTC, time.Now())
	f.Fuzz(func(t *testing.T, s string) {
		clk.parse([]byte(s)) // must not panic, whatever the line
	})
}
