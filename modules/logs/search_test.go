package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// logDir makes a directory of files (names ending in .gz are compressed),
// each modified at mtime unless told otherwise.
func logDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		data := []byte(content)
		if strings.HasSuffix(name, ".gz") {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(data)
			zw.Close()
			data = b.Bytes()
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, now, now)
	}
	return dir
}

func runLogs(t testing.TB, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, dir, now, "", &out, &errb)
	return code, out.String(), errb.String()
}

func TestRun(t *testing.T) {
	dir := logDir(t, map[string]string{
		"app.log.3.gz": "2024-05-01T08:00:00Z ERROR oldest\n",
		"app.log.2.gz": "2024-05-01T09:00:00Z INFO ok\n2024-05-01T09:30:00Z ERROR db down\n  at db.connect\n",
		"app.log.1":    "  at rotated continuation ERROR\n2024-05-01T10:00:00Z INFO fine\n",
		"app.log":      "2024-05-01T11:30:00Z ERROR disk full\r\n  caused by: ERROR quota\nplain line\n2024-05-01T11:45:00Z WARN <slow> & \"late\"\n",
		"sys/syslog":   "Apr 30 23:00:00 host cron[1]: ERROR job\nMay  1 11:59:00 host kernel: ERROR oom\n",
		"notes.txt":    "no timestamps ERROR here\n",
		"wtmp":         "\x00\x00binary ERROR\x00",
	})
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string // substring
	}{
		{"filter, rotations oldest first", []string{"--filter", "ERROR", "--file", "app.log"}, 0,
			"app.log.3.gz:1:2024-05-01T08:00:00Z ERROR oldest\n" +
				"app.log.2.gz:2:2024-05-01T09:30:00Z ERROR db down\n" +
				"app.log.1:1:  at rotated continuation ERROR\n" +
				"app.log:1:2024-05-01T11:30:00Z ERROR disk full\n" +
				"app.log:2:  caused by: ERROR quota\n", ""},
		{"all files, binary skipped", []string{"--filter", "ERROR", "--max", "0"}, 0,
			"app.log.3.gz:1:2024-05-01T08:00:00Z ERROR oldest\n" +
				"app.log.2.gz:2:2024-05-01T09:30:00Z ERROR db down\n" +
				"app.log.1:1:  at rotated continuation ERROR\n" +
				"app.log:1:2024-05-01T11:30:00Z ERROR disk full\n" +
				"app.log:2:  caused by: ERROR quota\n" +
				"notes.txt:1:no timestamps ERROR here\n" +
				"sys/syslog:1:Apr 30 23:00:00 host cron[1]: ERROR job\n" +
				"sys/syslog:2:May  1 11:59:00 host kernel: ERROR oom\n", "skipped 1 binary files: wtmp"},
		{"regex", []string{"--regex", `ERROR (db|disk) \w+`}, 0,
			"app.log.2.gz:2:2024-05-01T09:30:00Z ERROR db down\napp.log:1:2024-05-01T11:30:00Z ERROR disk full\n", ""},
		{"regex case-insensitive", []string{"--regex", `(?i)error DB`}, 0, "app.log.2.gz:2:2024-05-01T09:30:00Z ERROR db down\n", ""},
		{"regex without a literal", []string{"--regex", `^\S+ WARN`}, 0, "app.log:4:2024-05-01T11:45:00Z WARN <slow> & \"late\"\n", ""},
		{"neither: every line", []string{"--file", "app.log.1"}, 0, "app.log.1:1:  at rotated continuation ERROR\napp.log.1:2:2024-05-01T10:00:00Z INFO fine\n", ""},
		{"since: continuation lines go with their timestamp", []string{"--filter", "ERROR", "--since", "1h"}, 0,
			"app.log:1:2024-05-01T11:30:00Z ERROR disk full\napp.log:2:  caused by: ERROR quota\n" +
				"notes.txt:1:no timestamps ERROR here\nsys/syslog:2:May  1 11:59:00 host kernel: ERROR oom\n", ""},
		{"since across a rotation: the first lines continue the older file", []string{"--filter", "ERROR", "--since", "2024-05-01T09:15:00Z", "--file", "app.log"}, 0,
			"app.log.2.gz:2:2024-05-01T09:30:00Z ERROR db down\napp.log.1:1:  at rotated continuation ERROR\napp.log:1:2024-05-01T11:30:00Z ERROR disk full\napp.log:2:  caused by: ERROR quota\n", ""},
		{"since, no skipping (regex without a literal)", []string{"--regex", `E.ROR`, "--since", "2024-05-01T09:15:00Z", "--file", "app.log"}, 0,
			"app.log.2.gz:2:2024-05-01T09:30:00Z ERROR db down\napp.log.1:1:  at rotated continuation ERROR\napp.log:1:2024-05-01T11:30:00Z ERROR disk full\napp.log:2:  caused by: ERROR quota\n", ""},
		{"since excludes a continuation of an old line", []string{"--filter", "at ", "--since", "2024-05-01T09:45:00Z", "--file", "app.log"}, 1, "", ""},
		{"max", []string{"--filter", "ERROR", "--max", "2"}, 0,
			"app.log.3.gz:1:2024-05-01T08:00:00Z ERROR oldest\napp.log.2.gz:2:2024-05-01T09:30:00Z ERROR db down\n", "stopped after 2 matching lines (--max 2); more follow"},
		{"max exactly reached is not truncation", []string{"--filter", "disk full", "--max", "1"}, 0, "app.log:1:2024-05-01T11:30:00Z ERROR disk full\n", ""},
		{"no match", []string{"--filter", "nothing like this"}, 1, "", ""},
		{"file in a directory", []string{"--filter", "oom", "--file", "sys/syslog"}, 0, "sys/syslog:2:May  1 11:59:00 host kernel: ERROR oom\n", ""},
		{"a directory", []string{"--filter", "job", "--file", "sys"}, 0, "sys/syslog:1:Apr 30 23:00:00 host cron[1]: ERROR job\n", ""},
		// usage errors: exit 2
		{"both", []string{"--filter", "a", "--regex", "b"}, 2, "", "--filter and --regex exclude each other"},
		{"bad regex", []string{"--regex", "(a"}, 2, "", "bad --regex \"(a\": missing closing ): `(a`"},
		{"bad since", []string{"--since", "yesterday"}, 2, "", `bad --since "yesterday"`},
		{"bad max", []string{"--max", "-1"}, 2, "", `bad --max "-1"`},
		{"traversal", []string{"--file", "../../etc/passwd"}, 2, "", `--file "../../etc/passwd": outside /logs`},
		{"absolute", []string{"--file", "/etc/passwd"}, 2, "", "not an absolute one"},
		{"missing file", []string{"--file", "nope.log"}, 2, "", "--file nope.log: no such file"},
		{"unknown flag", []string{"--follow"}, 2, "", "unknown flag --follow (usage: logs "},
		{"positional", []string{"--filter", "a", "ERROR"}, 2, "", `unknown argument "ERROR" (usage: logs `},
		{"positional after --", []string{"--", "--filter"}, 2, "", `unknown argument "--filter"`},
		{"twice", []string{"--filter", "a", "--filter", "b"}, 2, "", "--filter given twice"},
		{"twice, same value", []string{"--max=3", "--max", "3"}, 2, "", "--max given twice"},
		{"switch twice", []string{"--json", "--json=false"}, 2, "", "--json given twice"},
		{"missing value", []string{"--filter"}, 2, "", "--filter needs a value"},
		{"max not a number", []string{"--max", "ten"}, 2, "", `--max: want an integer, got "ten"`},
		{"bad switch value", []string{"--json=yes"}, 2, "", `--json: want true or false, got "yes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runLogs(t, dir, tc.args...)
			if code != tc.code || out != tc.stdout || !strings.Contains(errs, tc.stderr) {
				t.Fatalf("logs %q\n got exit %d stdout\n%s stderr %q\nwant exit %d stdout\n%s stderr containing %q",
					tc.args, code, out, errs, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestRun_json(t *testing.T) {
	dir := logDir(t, map[string]string{
		"app.log": "2024-05-01T11:30:00+02:00 ERROR <b> & \"q\"\n  continuation ERROR\n" + strings.Repeat("x", maxLine+10) + " ERROR at the end\n",
	})
	code, out, errs := runLogs(t, dir, "--filter", "ERROR", "--json", "--max", "2")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []string{
		`{"file":"app.log","line":1,"time":"2024-05-01T09:30:00Z","text":"2024-05-01T11:30:00+02:00 ERROR <b> & \"q\""}`,
		`{"file":"app.log","line":2,"text":"  continuation ERROR"}`,
		`{"summary":{"matches":2,"files":1,"truncated":true}}`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", out, strings.Join(want, "\n"))
	}
	// The long line: cut, with its length; the match is past the cut.
	code, out, _ = runLogs(t, dir, "--filter", "at the end", "--json")
	var m jsonMatch
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &m); code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if m.Line != 3 || len(m.Text) != maxLine || m.Length != maxLine+10+len(" ERROR at the end") {
		t.Errorf("long line: line %d, text of %d bytes, length %d", m.Line, len(m.Text), m.Length)
	}
}

func TestRun_gzipErrors(t *testing.T) {
	var good bytes.Buffer
	zw := gzip.NewWriter(&good)
	for i := 1; i <= 5000; i++ {
		fmt.Fprintf(zw, "2024-05-01T10:00:00Z line %d match\n", i)
	}
	zw.Close()
	dir := logDir(t, map[string]string{"app.log": "2024-05-01T11:00:00Z match in the current file\n"})
	truncated := good.Bytes()[:good.Len()/2]
	corrupt := bytes.Clone(good.Bytes())
	for i := 200; i < 300; i++ {
		corrupt[i] ^= 0x55
	}
	os.WriteFile(filepath.Join(dir, "app.log.1.gz"), truncated, 0o644)
	os.WriteFile(filepath.Join(dir, "app.log.2.gz"), corrupt, 0o644)
	os.WriteFile(filepath.Join(dir, "app.log.3.gz"), []byte("this is not gzip\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "app.log.4.gz"), nil, 0o644)
	code, out, errs := runLogs(t, dir, "--filter", "match", "--max", "0")
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	for _, want := range []string{
		"logs: app.log.4.gz: not a gzip file (empty file): skipped",
		"logs: app.log.3.gz: not a gzip file (gzip: invalid header): skipped",
		"logs: app.log.2.gz: corrupt gzip data",
		"logs: app.log.1.gz: truncated gzip data (unexpected end of file) after line",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	// The lines before the damage were searched, and the other files too.
	if !strings.Contains(out, "app.log.1.gz:1:") || !strings.HasSuffix(out, "app.log:1:2024-05-01T11:00:00Z match in the current file\n") {
		t.Errorf("stdout:\n%.500s...", out)
	}
}

// TestRun_longLines checks lines around and far beyond the read buffer and the cut.
func TestRun_longLines(t *testing.T) {
	long := strings.Repeat("a", 3*bufSize+7)
	euro := strings.Repeat("b", maxLine-1) + "€ and more" // the cut falls inside the euro sign
	dir := logDir(t, map[string]string{"l.log": "short\n" + long + "NEEDLE\n" + strings.Repeat("c", maxLine) + "\n" + euro + "\nlast NEEDLE"})
	code, out, errs := runLogs(t, dir, "--filter", "NEEDLE")
	lines := strings.Split(out, "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("exit %d stderr %q, %d lines", code, errs, len(lines))
	}
	if want := fmt.Sprintf("l.log:2:%s [logs: line cut: first %d of %d bytes shown]", long[:maxLine], maxLine, len(long)+6); lines[0] != want {
		t.Errorf("line 1: %.80s...%s", lines[0], lines[0][len(lines[0])-60:])
	}
	if lines[1] != "l.log:5:last NEEDLE" {
		t.Errorf("line 2: %q", lines[1])
	}
	code, out, _ = runLogs(t, dir, "--filter", "€")
	if want := fmt.Sprintf("l.log:4:%s [logs: line cut: first %d of %d bytes shown]\n", euro[:maxLine-1], maxLine-1, len(euro)); code != 0 || out != want {
		t.Errorf("cut inside a character: exit %d, %q", code, out[max(0, len(out)-80):])
	}
	code, out, _ = runLogs(t, dir, "--regex", "^c+$")
	if code != 0 || !strings.HasPrefix(out, "l.log:3:ccc") || strings.Contains(out, "cut") {
		t.Errorf("a line of exactly maxLine bytes: exit %d, %q", code, out[:min(len(out), 40)])
	}
}

// TestRun_reference compares the search, with its shortcuts (skipAhead,
// finders), with a plain line-by-line one, over random files with long lines.
func TestRun_reference(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	words := []string{"ERROR", "error", "Error", "warn", "disk", "DISK", "dis\u212a", "x", "€", "  ", "\r", "id=42"}
	var b strings.Builder
	for b.Len() < 3*bufSize {
		n := r.Intn(12)
		if r.Intn(50) == 0 {
			n = 20000 + r.Intn(maxLine) // long lines, some beyond the cut
		}
		for i := 0; i < n; i++ {
			b.WriteString(words[r.Intn(len(words))])
			if n > 1000 {
				b.WriteString("filler-filler-filler ")
			}
		}
		b.WriteByte('\n')
	}
	content := b.String()
	dir := logDir(t, map[string]string{"r.log": content, "r.log.1.gz": content})
	for _, args := range [][]string{
		{"--filter", "ERROR"}, {"--filter", "x"}, {"--filter", "id=42"}, {"--filter", "filler-filler-filler filler"},
		{"--regex", "(?i)error"}, {"--regex", "(?i)disk"}, {"--regex", "ERROR|warn"}, {"--regex", "^x"}, {"--regex", "€\\s+$"},
	} {
		code, out, errs := runLogs(t, dir, append(args, "--max", "0")...)
		want := reference(t, content, args[0], args[1])
		wantOut := strings.ReplaceAll(want, "FILE", "r.log.1.gz") + strings.ReplaceAll(want, "FILE", "r.log")
		if out != wantOut || (code != 0) != (want == "") {
			t.Errorf("logs %q: exit %d stderr %q, %d bytes of output, want %d", args, code, errs, len(out), len(wantOut))
		}
	}
}

func reference(t *testing.T, content, flag, arg string) string {
	var out strings.Builder
	re, _ := regexp.Compile(arg)
	for i, line := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		kept := line
		if len(kept) > maxLine {
			kept = kept[:maxLine]
			for !utf8.ValidString(kept[len(kept)-3:]) {
				kept = kept[:len(kept)-1]
			}
		}
		var ok bool
		if flag == "--filter" {
			ok = strings.Contains(line, arg)
		} else {
			ok = re.MatchString(kept)
		}
		if ok {
			fmt.Fprintf(&out, "FILE:%d:%s", i+1, kept)
			if len(line) > len(kept) {
				fmt.Fprintf(&out, " [logs: line cut: first %d of %d bytes shown]", len(kept), len(line))
			}
			out.WriteByte('\n')
		}
	}
	return out.String()
}

func TestRun_notGranted(t *testing.T) {
	code, _, errs := runLogs(t, filepath.Join(t.TempDir(), "absent"), "--filter", "x")
	if code != 2 || !strings.Contains(errs, "is not granted to this tool") || !strings.Contains(errs, "agent-ctl grant logs --dir") {
		t.Errorf("exit %d stderr %q", code, errs)
	}
}

func BenchmarkScan(b *testing.B) {
	var sb strings.Builder
	for i := 0; sb.Len() < 32<<20; i++ {
		fmt.Fprintf(&sb, "2024-05-01T12:%02d:%02d.%03dZ INFO [worker-%d] request id=%08x status=200 duration_ms=%d\n", i/60%60, i%60, i%1000, i%16, i*7919, i%500)
	}
	dir := logDir(b, map[string]string{"big.log": sb.String()})
	for _, args := range [][]string{
		{"--filter", "needle"}, {"--regex", "(?i)needle"}, {"--regex", `needle|status=5\d\d`},
		{"--filter", "needle", "--since", "2024-05-01T00:00:00Z"}, {"--regex", `^\S+ ERROR`},
		{"--filter", "worker-3]", "--max", "0"}, // one line in 16 matches
	} {
		b.Run(strings.Join(args, " "), func(b *testing.B) {
			b.SetBytes(int64(sb.Len()))
			for b.Loop() {
				if code, _, errs := runLogs(b, dir, args...); code > 1 {
					b.Fatal(code, errs)
				}
			}
		})
	}
}

// TestRun_referenceSince compares --since, through skipAhead (a literal) and
// line by line (a regex without one), with a plain implementation of its
// rule: a line without a timestamp goes with the last line that has one.
func TestRun_referenceSince(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	cutoff := now.Add(-time.Hour)
	var b strings.Builder
	stamp := now.Add(-3 * time.Hour)
	for b.Len() < 3*bufSize {
		switch r.Intn(4) {
		case 0: // a continuation line
			fmt.Fprintf(&b, "  at frame %d ERROR\n", r.Intn(100))
		default:
			stamp = stamp.Add(time.Duration(r.Intn(5)) * time.Second)
			if r.Intn(500) == 0 {
				stamp = stamp.Add(time.Duration(r.Intn(40)-20) * time.Minute) // not in order
			}
			fmt.Fprintf(&b, "%s %s id=%d\n", stamp.Format(time.RFC3339), []string{"INFO", "ERROR", "WARN"}[r.Intn(3)], r.Intn(1000))
		}
	}
	content := b.String()
	dir := logDir(t, map[string]string{"s.log": content})
	clk := newClock(time.UTC, now)
	for _, args := range [][]string{{"--filter", "ERROR"}, {"--regex", `ERROR`}, {"--regex", `[E]R+OR`}, {"--filter", "id=99"}} {
		re := regexp.MustCompile(regexp.QuoteMeta(args[1]))
		if args[0] == "--regex" {
			re = regexp.MustCompile(args[1])
		}
		var want strings.Builder
		in := true
		for i, line := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
			if ts, ok := clk.parse([]byte(line)); ok {
				in = !ts.Before(cutoff)
			}
			if in && re.MatchString(line) {
				fmt.Fprintf(&want, "s.log:%d:%s\n", i+1, line)
			}
		}
		_, out, errs := runLogs(t, dir, append(args, "--since", "1h", "--max", "0")...)
		if out != want.String() {
			t.Errorf("logs %q --since 1h: stderr %q, %d bytes of output, want %d", args, errs, len(out), want.Len())
		}
	}
}
