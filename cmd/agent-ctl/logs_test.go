package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeLog writes a file of dir (gzipped when its name ends in .gz) and sets its modification time.
func writeLog(t *testing.T, dir, name, content string, mtime time.Time) {
	t.Helper()
	data := []byte(content)
	if strings.HasSuffix(name, ".gz") {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		data = b.Bytes()
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// TestLogs installs modules/logs, grants it a directory at /logs (read-only)
// and searches it through the CLI: rotations in order, filters, --since,
// --max, --json, exit codes, and reads outside /logs refused.
func TestLogs(t *testing.T) {
	home, dir := t.TempDir(), t.TempDir()
	now := time.Now().UTC()
	ts := func(ago time.Duration) string { return now.Add(-ago).Format(time.RFC3339) }
	writeLog(t, dir, "app.log.3.gz", ts(72*time.Hour)+" ERROR oldest\n", now.Add(-72*time.Hour))
	writeLog(t, dir, "app.log.2.gz", ts(26*time.Hour)+" ERROR yesterday\n", now.Add(-26*time.Hour))
	writeLog(t, dir, "app.log.1", ts(3*time.Hour)+" INFO started\n"+ts(2*time.Hour)+" ERROR db down\n  at db.connect\n", now.Add(-2*time.Hour))
	writeLog(t, dir, "app.log", ts(50*time.Minute)+" ERROR disk full\n  caused by: quota\n"+ts(10*time.Minute)+" WARN slow <request> & more\n", now)
	// Recent lines in a file last written three days ago cannot be: --since skips the file unread.
	writeLog(t, dir, "stale.log", ts(time.Minute)+" ERROR never read with --since\n", now.Add(-72*time.Hour))
	lg := func(args ...string) (int, string, string) {
		t.Helper()
		return runIn(t, home, "", append([]string{"logs"}, args...)...)
	}

	code, out, errs := runIn(t, home, "", "install", repoPath("modules/logs"))
	expect(t, "install", code, out, errs, 0, "installed logs 1.0.0", "")
	expect(t, "install asks", code, out, errs, 0, "files: /var/log at /logs (ro)", "")

	// Not granted: agent-ctl names the capability and the grant command; the tool finds no /logs.
	code, out, errs = lg("--filter", "ERROR")
	expect(t, "not granted", code, out, errs, 2, "", "agent-ctl: logs: not granted: files: /var/log at /logs (ro) (agent-ctl grant logs --dir /var/log:/logs:ro)")
	expect(t, "not granted, the tool", code, out, errs, 2, "", "logs: nothing to search: /logs is not granted to this tool")

	code, out, errs = runIn(t, home, "", "grant", "logs", "--dir", dir+":/logs:ro")
	expect(t, "grant", code, out, errs, 0, "", "")

	for _, tc := range []cliCase{
		{"rotations oldest first, gzipped ones too", []string{"--filter", "ERROR", "--file", "app.log"}, 0,
			"app.log.3.gz:1:" + ts(72*time.Hour) + " ERROR oldest\n" +
				"app.log.2.gz:1:" + ts(26*time.Hour) + " ERROR yesterday\n" +
				"app.log.1:2:" + ts(2*time.Hour) + " ERROR db down\n" +
				"app.log:1:" + ts(50*time.Minute) + " ERROR disk full\n", ""},
		{"all files", []string{"--filter", "ERROR", "--max", "0"}, 0,
			"app.log.3.gz:1:" + ts(72*time.Hour) + " ERROR oldest\n" +
				"app.log.2.gz:1:" + ts(26*time.Hour) + " ERROR yesterday\n" +
				"app.log.1:2:" + ts(2*time.Hour) + " ERROR db down\n" +
				"app.log:1:" + ts(50*time.Minute) + " ERROR disk full\n" +
				"stale.log:1:" + ts(time.Minute) + " ERROR never read with --since\n", ""},
		{"one rotated file", []string{"--file", "app.log.2.gz"}, 0, "app.log.2.gz:1:" + ts(26*time.Hour) + " ERROR yesterday\n", ""},
		{"regex, case-insensitive", []string{"--regex", `(?i)disk FULL|db down`}, 0,
			"app.log.1:2:" + ts(2*time.Hour) + " ERROR db down\napp.log:1:" + ts(50*time.Minute) + " ERROR disk full\n", ""},
		{"since 1h, continuation lines included", []string{"--since", "1h", "--file", "app.log"}, 0,
			"app.log:1:" + ts(50*time.Minute) + " ERROR disk full\napp.log:2:  caused by: quota\napp.log:3:" + ts(10*time.Minute) + " WARN slow <request> & more\n", ""},
		{"since 150m: a continuation goes with its line", []string{"--since", "150m", "--regex", `ERROR|at db`}, 0,
			"app.log.1:2:" + ts(2*time.Hour) + " ERROR db down\napp.log.1:3:  at db.connect\napp.log:1:" + ts(50*time.Minute) + " ERROR disk full\n", ""},
		{"since 2d", []string{"--since", "2d", "--filter", "ERROR", "--file", "app.log"}, 0,
			"app.log.2.gz:1:" + ts(26*time.Hour) + " ERROR yesterday\napp.log.1:2:" + ts(2*time.Hour) + " ERROR db down\napp.log:1:" + ts(50*time.Minute) + " ERROR disk full\n", ""},
		{"max", []string{"--filter", "ERROR", "--max", "2"}, 0,
			"app.log.3.gz:1:" + ts(72*time.Hour) + " ERROR oldest\napp.log.2.gz:1:" + ts(26*time.Hour) + " ERROR yesterday\n",
			"logs: stopped after 2 matching lines (--max 2); more follow"},
		{"no match", []string{"--filter", "no such text"}, 1, "", ""},
		{"no match since", []string{"--filter", "oldest", "--since", "1h"}, 1, "", ""},
		// The tool's own usage errors: exit 2.
		{"filter and regex", []string{"--filter", "a", "--regex", "b"}, 2, "", "logs: --filter and --regex exclude each other"},
		{"bad regex", []string{"--regex", "(ERROR"}, 2, "", "logs: bad --regex \"(ERROR\": missing closing ): `(ERROR`"},
		{"bad since", []string{"--since", "last week"}, 2, "", `logs: bad --since "last week": want a duration such as 30m, 2h or 2d`},
		{"traversal", []string{"--file", "../../etc/passwd"}, 2, "", `logs: --file "../../etc/passwd": outside /logs: .. is refused`},
		{"absolute", []string{"--file", "/etc/passwd"}, 2, "", "want a path relative to /logs"},
		{"no such file", []string{"--file", "nginx/access.log"}, 2, "", "logs: --file nginx/access.log"},
		// agent-ctl's checks against the manifest's schema, before any worker: exit 125.
		{"negative max", []string{"--max", "-1"}, 125, "", "--max"},
		{"max not a number", []string{"--max", "ten"}, 125, "", "--max"},
		{"empty filter", []string{"--filter", ""}, 125, "", "--filter"},
		{"unknown flag", []string{"--follow"}, 125, "", "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := lg(tc.args...)
			tc.check(t, "agent-ctl logs", code, out, errs)
		})
	}

	t.Run("json", func(t *testing.T) {
		code, out, errs := lg("--regex", "ERROR|WARN", "--file", "app.log", "--since", "1h", "--json")
		expect(t, "json", code, out, errs, 0, "", "")
		type match struct {
			File, Time, Text string
			Line             int
		}
		var got []match
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		for _, l := range lines[:len(lines)-1] {
			var m match
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("%v: %s", err, l)
			}
			got = append(got, m)
		}
		want := []match{
			{"app.log", ts(50 * time.Minute), ts(50*time.Minute) + " ERROR disk full", 1},
			{"app.log", ts(10 * time.Minute), ts(10*time.Minute) + " WARN slow <request> & more", 3},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("matches:\n got %v\nwant %v", got, want)
		}
		if sum := lines[len(lines)-1]; sum != `{"summary":{"matches":2,"files":1,"truncated":false}}` {
			t.Errorf("summary: %s", sum)
		}
		code, out, errs = lg("--filter", "ERROR", "--max", "1", "--json")
		// Two files were opened: the second match, the one that stops the search, is in the second.
		expect(t, "json truncated", code, out, errs, 0, `{"summary":{"matches":1,"files":2,"truncated":true}}`, "stopped after 1")
	})

	t.Run("zone-less times in the granted TZ", func(t *testing.T) {
		writeLog(t, dir, "tz.log", "2024-07-01 12:00:00 summer noon in Paris\n", now)
		defer os.Remove(filepath.Join(dir, "tz.log"))
		code, out, errs := lg("--file", "tz.log", "--json")
		expect(t, "UTC by default", code, out, errs, 0, `"time":"2024-07-01T12:00:00Z"`, "")
		code, out, errs = runIn(t, home, "", "grant", "logs", "--env", "TZ=Europe/Paris")
		expect(t, "grant TZ", code, out, errs, 0, "", "")
		defer runIn(t, home, "", "revoke", "logs", "--env", "TZ")
		code, out, errs = lg("--file", "tz.log", "--json")
		expect(t, "Europe/Paris", code, out, errs, 0, `"time":"2024-07-01T10:00:00Z"`, "")
	})

	t.Run("corrupt gzip", func(t *testing.T) {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		for i := 1; i <= 2000; i++ {
			fmt.Fprintf(zw, "%s ERROR line %d of a damaged rotation\n", ts(30*time.Hour), i)
		}
		zw.Close()
		damaged := b.Bytes()[:b.Len()/2] // cut short, as by a full disk
		os.WriteFile(filepath.Join(dir, "app.log.4.gz"), damaged, 0o644)
		os.WriteFile(filepath.Join(dir, "app.log.5.gz"), []byte("not gzip at all\n"), 0o644)
		defer os.Remove(filepath.Join(dir, "app.log.4.gz"))
		defer os.Remove(filepath.Join(dir, "app.log.5.gz"))
		code, out, errs := lg("--filter", "ERROR", "--file", "app.log", "--max", "0")
		expect(t, "corrupt", code, out, errs, 2, "app.log.4.gz:1:", "logs: app.log.5.gz: not a gzip file (gzip: invalid header): skipped")
		expect(t, "truncated", code, out, errs, 2, "", "logs: app.log.4.gz: truncated gzip data (unexpected end of file) after line")
		// The other files were searched, after the damaged ones, in order.
		if !strings.HasSuffix(out, "app.log:1:"+ts(50*time.Minute)+" ERROR disk full\n") {
			t.Errorf("the search stopped at the damaged file:\n%s", out[max(0, len(out)-300):])
		}
	})

	t.Run("a link inside /logs", func(t *testing.T) {
		// agent-ctl's file functions never follow a link: logs opens this
		// one through WASI instead, which follows it inside the grant.
		os.Symlink("app.log", filepath.Join(dir, "current.log"))
		defer os.Remove(filepath.Join(dir, "current.log"))
		code, out, errs := lg("--filter", "disk full", "--file", "current.log")
		expect(t, "link", code, out, errs, 0, "current.log:1:"+ts(50*time.Minute)+" ERROR disk full\n", "")
	})

	t.Run("reads outside /logs refused", func(t *testing.T) {
		// The tool refuses .. and absolute paths itself (above); links out of
		// /logs are refused by the sandbox, whatever the tool does.
		os.Symlink("/etc/passwd", filepath.Join(dir, "passwd.log"))
		os.Symlink("/etc", filepath.Join(dir, "etc"))
		defer os.Remove(filepath.Join(dir, "passwd.log"))
		defer os.Remove(filepath.Join(dir, "etc"))
		code, out, errs := lg("--filter", "root", "--max", "0")
		expect(t, "walk", code, out, errs, 1, "", "logs: skipped 2 symbolic links out of /logs (the sandbox refuses them): etc, passwd.log")
		for _, f := range []string{"passwd.log", "etc/passwd", "etc"} {
			code, out, errs = lg("--file", f)
			expect(t, "--file "+f, code, out, errs, 2, "", "(a symbolic link out of /logs is refused by the sandbox)")
			if strings.Contains(out, "root:") {
				t.Fatalf("--file %s printed /etc/passwd:\n%s", f, out)
			}
		}
	})
	t.Run("300 MiB and a 100 MiB line in 32 MiB", func(t *testing.T) {
		if os.Getenv("AGENTCTL_TEST_LARGE") != "1" {
			// make test sets it: a plain go test ./... need not write
			// 400 MiB each time.
			t.Skip("writes 400 MiB of logs: set AGENTCTL_TEST_LARGE=1 (make test does)")
		}
		logsLarge(t, home, dir)
	})
}

// logsLarge searches a 300 MiB log and a log holding one 100 MiB line under
// a 32 MiB memory limit: the tool streams, and cuts long lines. It shares
// TestLogs's home, where the module is compiled already.
func logsLarge(t *testing.T, home, dir string) {
	start := time.Now()
	const size = 300 << 20
	var chunk bytes.Buffer
	linesPerChunk := 0
	for chunk.Len() < 1<<20-200 {
		fmt.Fprintf(&chunk, "2024-05-01T12:%02d:%02d.%03dZ INFO  [worker-%d] GET /api/v1/items/%d status=200 duration_ms=%d user=alice\n",
			linesPerChunk/60%60, linesPerChunk%60, linesPerChunk%1000, linesPerChunk%16, linesPerChunk, linesPerChunk%500)
		linesPerChunk++
	}
	recent := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	f, err := os.Create(filepath.Join(dir, "big.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	chunks := size / chunk.Len()
	for i := 0; i < chunks; i++ {
		if i == chunks/2 {
			fmt.Fprintf(f, "%s ERROR Needle-42 in the middle\n", recent)
		}
		f.Write(chunk.Bytes())
	}
	fmt.Fprintf(f, "%s ERROR needle-43 at the end\n", recent)
	f.Close()
	bigSize := int64(chunks*chunk.Len()) + 2*55

	// One line of 100 MiB, with the text searched for near its end.
	f, _ = os.Create(filepath.Join(dir, "long.log"))
	defer os.Remove(f.Name())
	f.WriteString("first line\n")
	x := bytes.Repeat([]byte("x"), 1<<20)
	for i := 0; i < 100; i++ {
		if i == 99 {
			f.WriteString("NEEDLE-LONG")
		}
		f.Write(x)
	}
	f.WriteString("\nlast NEEDLE-LONG\n")
	f.Close()
	longLen := 100<<20 + len("NEEDLE-LONG")
	t.Logf("400 MiB of logs written in %.2fs", time.Since(start).Seconds())

	code, out, errs := runIn(t, home, "", "grant", "logs", "--memory", "32MiB")
	expect(t, "grant memory", code, out, errs, 0, "", "")
	code, out, errs = runIn(t, home, "", "describe", "logs")
	expect(t, "describe", code, out, errs, 0, "limits: memory 32MiB", "")

	mid, end := chunks/2*linesPerChunk+1, chunks*linesPerChunk+2
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--file", "big.log", "--filter", "eedle-4"},
			fmt.Sprintf("big.log:%d:%s ERROR Needle-42 in the middle\nbig.log:%d:%s ERROR needle-43 at the end\n", mid, recent, end, recent)},
		{[]string{"--file", "big.log", "--regex", `(?i)needle-\d+`, "--since", "1h"},
			fmt.Sprintf("big.log:%d:%s ERROR Needle-42 in the middle\nbig.log:%d:%s ERROR needle-43 at the end\n", mid, recent, end, recent)},
		{[]string{"--file", "long.log", "--filter", "NEEDLE-LONG"},
			fmt.Sprintf("long.log:2:%s [logs: line cut: first 65536 of %d bytes shown]\nlong.log:3:last NEEDLE-LONG\n", x[:65536], longLen)},
	} {
		t0 := time.Now()
		code, out, errs := runIn(t, home, "", append([]string{"logs"}, tc.args...)...)
		d := time.Since(t0)
		if code != 0 || out != tc.want {
			t.Fatalf("logs %q: exit %d stderr %q\nstdout %.300q\nwant %.300q", tc.args, code, errs, out, tc.want)
		}
		t.Logf("logs %q: %.2fs", tc.args, d.Seconds())
		if tc.args[1] == "big.log" {
			t.Logf("  %.0f MB/s through the CLI (worker start included)", float64(bigSize)/1e6/d.Seconds())
		}
	}
	// grep on the same file, in the same run, for scale.
	if grep, err := exec.LookPath("grep"); err == nil {
		t0 := time.Now()
		out, _ := exec.Command(grep, "-c", "eedle-4", filepath.Join(dir, "big.log")).Output()
		d := time.Since(t0)
		t.Logf("grep -c: %s match(es) in %.2fs, %.0f MB/s", strings.TrimSpace(string(out)), d.Seconds(), float64(bigSize)/1e6/d.Seconds())
	}
}
