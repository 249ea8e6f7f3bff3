//go:build unix

package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// devSource is a C tool that greets --name, tagged with a version so the
// test sees which build ran.
const devSource = `#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *name = "world";
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--name") == 0)
            name = argv[i + 1];
    printf("VERSION: hello, %s\n", name);
    return 0;
}
`

const devManifest = `{"name":"devtool","version":"VERSION","description":"the dev loop's test tool","module":"devtool.wasm",
 "inputSchema":{"type":"object","properties":{"name":{"type":"string","maxLength":64}},"additionalProperties":false}}`

// writeAtomic replaces a file in one rename, as editors save: the loop
// must never see it half-written.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// lines streams a pipe's lines into a channel, closed at EOF.
func lines(t *testing.T, r *bufio.Reader) <-chan string {
	ch := make(chan string, 256)
	go func() {
		defer close(ch)
		for {
			l, err := r.ReadString('\n')
			if l != "" {
				ch <- strings.TrimRight(l, "\n")
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// TestDev_loop starts `agent-ctl dev` on a C tool directory and edits it
// as an author would: a source change shows the new output, a broken
// manifest shows its error, the fix recovers, so does a fixed build, and
// Ctrl-C ends it with exit
// 0 and nothing left running. The build's own output must not start a
// round: there are exactly as many rounds as edits, plus the first.
func TestDev_loop(t *testing.T) {
	if _, err := exec.LookPath("clang"); err != nil {
		t.Fatalf("clang not found (make deps installs it): %v", err)
	}
	dir := t.TempDir()
	source := func(v string) string { return strings.ReplaceAll(devSource, "VERSION", v) }
	manifest := func(v string) string { return strings.ReplaceAll(devManifest, "VERSION", v) }
	writeAtomic(t, filepath.Join(dir, "main.c"), source("v1"))
	writeAtomic(t, filepath.Join(dir, "manifest.json"), manifest("0.1.0"))
	writeAtomic(t, filepath.Join(dir, "Makefile"), "devtool.wasm: main.c\n\tclang --target=wasm32-wasi --sysroot=/usr -O2 $< -o $@\n")

	cmd := exec.Command(bin, "dev", dir, "--cmd", "--name 'dev loop'")
	cmd.Env = append(os.Environ(), "AGENTCTL_HOME="+t.TempDir())
	dev := startCmd(t, cmd)
	stdout, stderr := lines(t, dev.stdout), lines(t, dev.stderr)
	var errLog []string

	// Generous: a loaded 2-core machine builds, starts a container and
	// compiles in seconds, not milliseconds.
	const patience = 2 * time.Minute
	expect := func(ch <-chan string, what string, log *[]string) {
		t.Helper()
		deadline := time.After(patience)
		for {
			select {
			case l, ok := <-ch:
				if !ok {
					t.Fatalf("stream ended before %q; stderr so far:\n%s", what, strings.Join(errLog, "\n"))
				}
				if log != nil {
					*log = append(*log, l)
				}
				if strings.Contains(l, what) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q within %s; stderr so far:\n%s", what, patience, strings.Join(errLog, "\n"))
			}
		}
	}
	var outLog []string
	// edit saves file as an editor would and waits for the round it starts.
	edit := func(file, content string) {
		t.Helper()
		writeAtomic(t, filepath.Join(dir, file), content)
		expect(stderr, "changed: "+file, &errLog)
	}
	// ran waits for a round to run the build of version v, and succeed.
	ran := func(v string) {
		t.Helper()
		expect(stdout, v+": hello, dev loop", &outLog)
		expect(stderr, "exit 0 in", &errLog)
	}
	ran("v1")

	edit("main.c", source("v2"))
	ran("v2")

	edit("manifest.json", manifest("0.2"))
	expect(stderr, `manifest: version "0.2"`, &errLog)
	expect(stderr, "not valid in", &errLog)

	edit("manifest.json", manifest("0.2.0"))
	ran("v2")

	edit("main.c", "int main(void) { return syntax error; }\n")
	expect(stderr, "build failed in", &errLog)
	edit("main.c", source("v3"))
	ran("v3")

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	expect(stderr, "dev: stopped", &errLog)
	for l := range stderr {
		errLog = append(errLog, l)
	}
	for l := range stdout {
		outLog = append(outLog, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("dev after Ctrl-C: %v; stderr:\n%s", err, strings.Join(errLog, "\n"))
	}
	rounds := 0
	for _, l := range errLog {
		if strings.HasPrefix(l, "────────") && (strings.Contains(l, " start ") || strings.Contains(l, " changed: ")) {
			rounds++
		}
	}
	if rounds != 6 {
		t.Errorf("%d rounds, want 6 (the first and one per edit):\n%s", rounds, strings.Join(errLog, "\n"))
	}
	if len(outLog) != 4 {
		t.Errorf("stdout has %d lines, want the tool's 4:\n%s", len(outLog), strings.Join(outLog, "\n"))
	}
	// Nothing of the loop outlives it: no make, no compiler, no worker
	// naming the directory.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), dir) {
			t.Errorf("%s still runs: %q", filepath.Dir(p), strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// TestDev_interruptBuild: Ctrl-C during a build ends dev at once, with exit
// 0, and kills the build's whole process group, not make alone: the
// recipe's shell must not be left running.
func TestDev_interruptBuild(t *testing.T) {
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "manifest.json"), strings.ReplaceAll(devManifest, "VERSION", "0.1.0"))
	writeAtomic(t, filepath.Join(dir, "Makefile"), "all:\n\tsleep 300 && touch $(CURDIR)/built\n")
	cmd := exec.Command(bin, "dev", dir)
	cmd.Env = append(os.Environ(), "AGENTCTL_HOME="+t.TempDir())
	// Its stdout stays unread: the build never ends, so no tool runs.
	stderr := lines(t, startCmd(t, cmd).stderr)
	var log []string
	deadline := time.After(2 * time.Minute)
	for started := false; !started; {
		select {
		case l, ok := <-stderr:
			if !ok {
				t.Fatalf("dev ended before the build started:\n%s", strings.Join(log, "\n"))
			}
			log = append(log, l)
			started = strings.HasPrefix(l, "sleep 300")
		case <-deadline:
			t.Fatalf("the build did not start:\n%s", strings.Join(log, "\n"))
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for l := range stderr {
			log = append(log, l)
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(strings.Join(log, "\n"), "dev: stopped") {
			t.Fatalf("dev after Ctrl-C: %v; stderr:\n%s", err, strings.Join(log, "\n"))
		}
	case <-time.After(time.Minute):
		t.Fatalf("dev, or a process of its build holding its stderr, still runs a minute after Ctrl-C:\n%s", strings.Join(log, "\n"))
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), dir) {
			t.Errorf("%s still runs: %q", filepath.Dir(p), strings.ReplaceAll(string(b), "\x00", " "))
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}
