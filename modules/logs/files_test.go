package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRotationOrder(t *testing.T) {
	names := []string{
		"app.log", "app.log.1", "app.log.2.gz", "app.log.10.gz", "app.log.3.gz",
		"syslog", "syslog-20240102", "syslog-20240101.gz", "syslog-2024010312.gz",
		"dmesg.gz", "dmesg", "nginx/access.log.1", "nginx/access.log", "aaa.log.2",
	}
	var files []logFile
	for _, n := range names {
		files = append(files, newLogFile(n))
	}
	sortFiles(files)
	var got []string
	for _, f := range files {
		got = append(got, f.name)
	}
	want := []string{
		"aaa.log.2",
		"app.log.10.gz", "app.log.3.gz", "app.log.2.gz", "app.log.1", "app.log",
		"dmesg.gz", "dmesg",
		"syslog-20240101.gz", "syslog-20240102", "syslog-2024010312.gz", "syslog",
		"nginx/access.log.1", "nginx/access.log",
	}
	if !slices.Equal(got, want) {
		t.Errorf("order:\n got %q\nwant %q", got, want)
	}
}

func TestCleanFile(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"app.log", "app.log", ""},
		{"nginx/access.log", "nginx/access.log", ""},
		{"nginx/", "nginx", ""},
		{"a/../b.log", "b.log", ""},
		{"../../etc/passwd", "", "outside /logs"},
		{"..", "", "outside /logs"},
		{"a/../../b", "", "outside /logs"},
		{`..\..\etc\passwd`, "", "outside /logs"},
		{"/etc/passwd", "", "not an absolute one"},
		{"/logs/app.log", "", "not an absolute one"},
		{`\etc\passwd`, "", "not an absolute one"},
		{"a\x00b", "", "bad --file"},
	} {
		got, err := cleanFile(tc.in, "/logs")
		if tc.err == "" && (err != nil || got != tc.want) || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("cleanFile(%q) = %q, %v; want %q, error containing %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestFindFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"app.log", "app.log.1", "app.log.2.gz", "app.logger", "other.log", "sub/app.log", "sub/app.log.1"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(n)), 0o755)
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	names := func(fs []logFile) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.name)
		}
		return out
	}
	for _, tc := range []struct {
		file string
		want []string
		err  string
	}{
		{"", []string{"app.log.2.gz", "app.log.1", "app.log", "app.logger", "other.log", "sub/app.log.1", "sub/app.log"}, ""},
		{"app.log", []string{"app.log.2.gz", "app.log.1", "app.log"}, ""},
		{"app.log.1", []string{"app.log.1"}, ""},
		{"sub", []string{"sub/app.log.1", "sub/app.log"}, ""},
		{"sub/app.log", []string{"sub/app.log.1", "sub/app.log"}, ""},
		{"missing.log", nil, "no such file"},
		{"nodir/x.log", nil, "nodir/x.log"},
	} {
		got, _, err := findFiles(dir, tc.file)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("findFiles(%q): %v, want an error containing %q", tc.file, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(names(got), tc.want) {
			t.Errorf("findFiles(%q) = %q, %v; want %q", tc.file, names(got), err, tc.want)
		}
	}
}
