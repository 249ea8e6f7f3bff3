package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/cmd/internal/cliapp"
	"github.com/agent-ctl/agent-ctl/cmd/internal/daemon"
)

// fakeFullCode is the exit code of the stand-in full CLI: no real outcome.
const fakeFullCode = 42

// TestMain lets this test binary stand in for agent-ctl-full: copied
// beside a front under that name, it reports what it was started with
// (arguments, environment, all of its stdin) as JSON on stdout.
func TestMain(m *testing.M) {
	if self, err := os.Executable(); err == nil && filepath.Base(self) == FullName {
		in, _ := io.ReadAll(os.Stdin)
		_ = json.NewEncoder(os.Stdout).Encode(fullReport{Args: os.Args, Env: os.Environ(), Stdin: string(in)})
		os.Exit(fakeFullCode)
	}
	os.Exit(m.Run())
}

// fullReport is what the stand-in full CLI was started with.
type fullReport struct {
	Args  []string `json:"args"`
	Env   []string `json:"env"`
	Stdin string   `json:"stdin"`
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// frontWithFakeFull builds the front (as make build does: no cgo) into a
// directory of its own, with this test binary beside it as agent-ctl-full.
func frontWithFakeFull(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "agent-ctl-front-test")
		if buildErr != nil {
			return
		}
		build := exec.Command("go", "build", "-tags", "seccomp,urfave_cli_no_docs", "-o", filepath.Join(buildDir, "agent-ctl"), ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the front: %v\n%s", err, out)
			return
		}
		self, err := os.Executable()
		if err != nil {
			buildErr = err
			return
		}
		b, err := os.ReadFile(self)
		if err == nil {
			err = os.WriteFile(filepath.Join(buildDir, FullName), b, 0o755)
		}
		buildErr = err
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "agent-ctl")
}

// recorder is a daemon socket whose handler records each request and
// answers as a call would: a line on the client's stdout, exit code 7; or,
// for a module named sleep.wasm, waits to be cancelled.
type recorder struct {
	mu   sync.Mutex
	reqs []daemon.Request
	seen chan error // the cause of a cancelled call
}

func (r *recorder) requests() []daemon.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]daemon.Request(nil), r.reqs...)
}

// settings are those of a client with no flags and no variables set.
func settings() map[string]string {
	return map[string]string{"worker_id": "", "allow_no_landlock": "false", "engine": "", "no_audit": "false", "audit_sync": "line"}
}

// listen starts a recorder on home's daemon socket, taking calls of the
// given settings.
func listen(t *testing.T, home string, set map[string]string) *recorder {
	t.Helper()
	r := &recorder{seen: make(chan error, 1)}
	h := func(ctx context.Context, req *daemon.Request, stdio daemon.Stdio, _ daemon.Peer) int {
		r.mu.Lock()
		r.reqs = append(r.reqs, *req)
		r.mu.Unlock()
		if req.Run != nil && filepath.Base(req.Run.Module) == "sleep.wasm" {
			fmt.Fprintln(stdio.Stdout, "sleeping")
			<-ctx.Done()
			r.seen <- context.Cause(ctx)
			var i daemon.Interrupted
			if errors.As(context.Cause(ctx), &i) {
				return i.ExitCode()
			}
			return 1
		}
		fmt.Fprintln(stdio.Stdout, "ran in the recorder")
		return 7
	}
	s, err := daemon.Listen(daemon.SocketPath(home), h, &daemon.ServerOptions{Version: cliapp.Version, Settings: set})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return r
}

// baseEnv is a small environment of the test's own, so that the host's
// variables change no setting.
func baseEnv(home string) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "AGENTCTL_HOME=" + home, "SOME_VAR=client's"}
}

type result struct {
	code           int
	stdout, stderr string
}

func runBin(t *testing.T, bin string, args, env []string, stdin string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Args[0] = "agent-ctl" // as a shell that found it on PATH passes it
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// TestFront_fallsThrough: everything but a run a daemon accepts goes to the
// full CLI as it came (the same arguments, argv[0] included, the same
// environment, all of stdin unread), with nothing written by the front, and
// never reaches the daemon, which here would accept a run.
func TestFront_fallsThrough(t *testing.T) {
	front := frontWithFakeFull(t)
	home := t.TempDir()
	rec := listen(t, home, settings())
	refusing := t.TempDir() // a daemon of other settings: it refuses
	refusingRec := listen(t, refusing, map[string]string{"worker_id": "other"})
	const stdin = "stdin that is the full CLI's\n"
	hello := "/nonexistent/hello.wasm" // the fake daemon opens nothing
	for _, tc := range []struct {
		name string
		args []string
		env  []string
	}{
		{"no daemon", []string{"--home", t.TempDir(), "run", hello}, nil},
		{"refused", []string{"--home", refusing, "run", hello}, nil},
		{"--no-daemon", []string{"--no-daemon", "run", hello}, nil},
		{"AGENTCTL_NO_DAEMON", []string{"run", hello}, []string{"AGENTCTL_NO_DAEMON=1"}},
		{"another command", []string{"list"}, nil},
		{"an installed tool", []string{"hello", "--name", "x"}, nil},
		{"no command", nil, nil},
		{"help", []string{"--help"}, nil},
		{"help command", []string{"help", "run"}, nil},
		{"run help", []string{"run", "--help"}, nil},
		{"run -h", []string{"run", "-h", hello}, nil},
		{"version and help", []string{"--version", "--help"}, nil},
		{"version after a command", []string{"list", "--version"}, nil},
		{"run flag error", []string{"run", "--bogus", hello}, nil},
		{"run bad value", []string{"run", "--memory", "lots", hello}, nil},
		{"run bad dir", []string{"run", "--dir", "/srv:/g:rx", hello}, nil},
		{"global flag error", []string{"--bogus", "run", hello}, nil},
		{"bad log level", []string{"--log-level", "loud", "run", hello}, nil},
		{"bad audit sync", []string{"--audit-sync", "never", "run", hello}, nil},
		{"bad bool in the environment", []string{"run", hello}, []string{cliapp.NoAuditEnv + "=perhaps"}},
		{"run without a module", []string{"run"}, nil},
		{"run without a module, with a flag", []string{"run", "--memory", "1MiB"}, nil},
		{"process isolation", []string{"run", "--isolation", "process", hello}, nil},
		// The walls' flags go into the front's environment (cliapp.Before),
		// never into the full CLI's: it gets the environment as it came.
		{"walls' flags, --no-daemon", []string{"--worker-id", "2415919300", "--allow-no-landlock", "--no-daemon", "run", hello}, nil},
		{"walls' flags, refused", []string{"--home", refusing, "--worker-id", "2415919300", "--allow-no-landlock", "run", hello}, nil},
		{"completion", []string{"run", "--generate-bash-completion"}, nil},
		{"completion of a run's flags", []string{"run", "--dir", "--generate-bash-completion"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append(baseEnv(home), tc.env...)
			args := append([]string{"agent-ctl"}, tc.args...)
			got := runBin(t, front, tc.args, env, stdin)
			if got.code != fakeFullCode || got.stderr != "" {
				t.Fatalf("exit %d (want the full CLI's %d), stderr %q; stdout:\n%s", got.code, fakeFullCode, got.stderr, got.stdout)
			}
			var rep fullReport
			dec := json.NewDecoder(strings.NewReader(got.stdout))
			if err := dec.Decode(&rep); err != nil || dec.More() {
				t.Fatalf("stdout is not the full CLI's report alone (%v): %q", err, got.stdout)
			}
			want := fullReport{Args: args, Env: env, Stdin: stdin}
			if !reflect.DeepEqual(want, rep) {
				t.Errorf("the full CLI was started otherwise: mismatch (-want +got):\n-%+v\n+%+v", want, rep)
			}
		})
	}
	if reqs := rec.requests(); len(reqs) != 0 {
		t.Errorf("the daemon ran %d calls; every one should have gone to the full CLI: %+v", len(reqs), reqs)
	}
	if reqs := refusingRec.requests(); len(reqs) != 0 {
		t.Errorf("the refusing daemon ran %d calls", len(reqs))
	}
}

// TestFront_missingFull: without agent-ctl-full beside it, the front says
// what is missing and where, exit 125.
func TestFront_missingFull(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(frontWithFakeFull(t))
	if err != nil {
		t.Fatal(err)
	}
	lone := filepath.Join(dir, "agent-ctl")
	if err := os.WriteFile(lone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	got := runBin(t, lone, []string{"list"}, baseEnv(t.TempDir()), "")
	if want := "agent-ctl: finding the full CLI: no executable " + filepath.Join(dir, FullName) + " beside " + lone; got.code != 125 || !strings.HasPrefix(got.stderr, want) || got.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 125 and a message starting %q", got.code, got.stdout, got.stderr, want)
	}
}

// TestFront_version: the version flag is answered by the front (the full
// CLI beside it is the stand-in, which would answer 42) as the real full
// CLI answers it.
func TestFront_version(t *testing.T) {
	front := frontWithFakeFull(t)
	full := fullBinary(t)
	for _, args := range [][]string{
		{"--version"},
		{"-v"},
		{"--home", t.TempDir(), "--log-level", "debug", "--version"},
		{"--version", "run", "x.wasm"},
		// Before does not run: the full CLI prints the version all the same.
		{"--log-level", "loud", "-v"},
	} {
		env := baseEnv(t.TempDir())
		want := runBin(t, full, args, env, "")
		if want != (result{0, "agent-ctl version " + cliapp.Version + "\n", ""}) {
			t.Fatalf("%q: the full CLI answered %+v", args, want)
		}
		if got := runBin(t, front, args, env, ""); got != want {
			t.Errorf("%q: the front answered %+v, the full CLI %+v", args, got, want)
		}
	}
}

// fullBinary is the real full CLI: agent-ctl-full beside $AGENTCTL_BIN
// (make test), else built here.
func fullBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("AGENTCTL_BIN"); b != "" {
		return filepath.Join(filepath.Dir(b), FullName)
	}
	p := filepath.Join(t.TempDir(), FullName)
	out, err := exec.Command("go", "build", "-tags", "seccomp,urfave_cli_no_docs", "-o", p, "../agent-ctl").CombinedOutput()
	if err != nil {
		t.Fatalf("building the full CLI: %v\n%s", err, out)
	}
	return p
}

// TestFront_runSameAsFull: a run that a daemon accepts is handled by the
// front itself (the full CLI beside it is the stand-in, which would answer
// 42), and hands the daemon the very request the real full CLI hands it for
// the same command line: module and directories made absolute against the
// same working directory, grants, limits, variables, settings.
func TestFront_runSameAsFull(t *testing.T) {
	front := frontWithFakeFull(t)
	full := fullBinary(t)
	withSettings := func(kv ...string) map[string]string {
		s := settings()
		for i := 0; i < len(kv); i += 2 {
			s[kv[i]] = kv[i+1]
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		args     []string
		env      []string
		settings map[string]string
	}{
		{"plain", []string{"run", "hello.wasm"}, nil, settings()},
		{"arguments", []string{"run", "tool.wasm", "--", "--name", "x", "--"}, nil, settings()},
		{"arguments without --", []string{"run", "tool.wasm", "a", "-b"}, nil, settings()},
		{"grants and limits", []string{"run", "--dir", "data:/data", "--dir", "../x/./y:/y:rw", "--env", "K=V,W", "--env", "SOME_VAR",
			"--net", "127.0.0.1:80,443", "--net", "localhost:22", "--memory", "64MiB", "--timeout", "1m30s", "--max-output", "1KiB",
			"--isolation", "container", "/abs/m.wasm", "--", "x"}, nil, settings()},
		{"flags with =", []string{"run", "--memory=1GiB", "--dir=/srv:/srv:ro", "m.wasm"}, nil, settings()},
		{"global flags", []string{"--log-level", "error", "--no-audit", "--audit-sync", "batch", "--worker-id", "2415919300", "run", "m.wasm"}, nil,
			withSettings("no_audit", "true", "audit_sync", "batch", "worker_id", "2415919300")},
		{"settings from the environment", []string{"run", "m.wasm"},
			[]string{cliapp.WorkerIDEnv + "=2415919400", cliapp.AllowNoLandlockEnv + "=true", cliapp.EngineEnv + "=jail", cliapp.AuditSyncEnv + "=batch"},
			withSettings("worker_id", "2415919400", "allow_no_landlock", "true", "engine", "jail", "audit_sync", "batch")},
		{"--allow-no-landlock", []string{"--allow-no-landlock", "run", "m.wasm"}, nil, withSettings("allow_no_landlock", "true")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			rec := listen(t, home, tc.settings)
			env := append(baseEnv(home), tc.env...)
			for _, bin := range []string{front, full} {
				got := runBin(t, bin, tc.args, env, "")
				if want := (result{7, "ran in the recorder\n", ""}); got != want {
					t.Fatalf("%s: %+v, want %+v", filepath.Base(bin), got, want)
				}
			}
			reqs := rec.requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want one from each", len(reqs))
			}
			if f, g := jsonOf(reqs[1]), jsonOf(reqs[0]); f != g {
				t.Errorf("the front's request differs from the full CLI's: mismatch (-full +front):\n-%s\n+%s", f, g)
			}
			if r := reqs[0].Run; r == nil || !filepath.IsAbs(r.Module) {
				t.Errorf("request %+v: want a run of an absolute module path", reqs[0])
			}
		})
	}
}

// TestFront_signals: SIGINT or SIGTERM during a call the daemon runs
// cancels it there as that signal, and the front exits 130 or 143, as the
// full CLI does.
func TestFront_signals(t *testing.T) {
	front := frontWithFakeFull(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			home := t.TempDir()
			rec := listen(t, home, settings())
			cmd := exec.Command(front, "run", "sleep.wasm")
			cmd.Env = baseEnv(home)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line := make([]byte, len("sleeping\n"))
			if _, err := io.ReadFull(out, line); err != nil || string(line) != "sleeping\n" {
				t.Fatalf("%q %v; stderr:\n%s", line, err, errb.String())
			}
			cmd.Process.Signal(tc.sig)
			io.Copy(io.Discard, out)
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
				t.Errorf("%v, want exit %d; stderr:\n%s", err, tc.code, errb.String())
			}
			select {
			case cause := <-rec.seen:
				if want := (daemon.Interrupted{Signal: tc.sig}); cause != want {
					t.Errorf("the call was cancelled by %v, want %v", cause, want)
				}
			case <-time.After(30 * time.Second):
				t.Error("the daemon's call was not cancelled")
			}
		})
	}
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestFront_interruptedBeforeHandOff: a signal while the front waits for a
// daemon that does not answer ends it with the cancelled call's code once
// the wait gives up (10 s), running nothing: not the full CLI, and not a
// hang when the signal was ignored at start (a background job's SIGINT,
// which the front catches and must not re-raise into the ignored
// disposition).
func TestFront_interruptedBeforeHandOff(t *testing.T) {
	front := frontWithFakeFull(t)
	for _, tc := range []struct {
		name   string
		ignore string // the shell's trap: the signal ignored at start
		sig    syscall.Signal
		code   int
	}{
		{"SIGINT ignored at start", "INT", syscall.SIGINT, 130},
		{"SIGTERM", "", syscall.SIGTERM, 143},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			path := daemon.SocketPath(home)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			script := "exec \"$0\" run /nonexistent/hello.wasm"
			if tc.ignore != "" {
				script = "trap '' " + tc.ignore + "; " + script
			}
			cmd := exec.Command("sh", "-c", script, front)
			cmd.Env = baseEnv(home)
			// Files, not pipes: the descriptors the front sends with its
			// request stay open in this test's unread socket, and a pipe's
			// reader would wait for them.
			out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
			if err != nil {
				t.Fatal(err)
			}
			errb, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdout, cmd.Stderr = out, errb
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			conn, err := ln.Accept() // the front is waiting for an answer
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cmd.Process.Signal(tc.sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			read := func(f *os.File) string { b, _ := os.ReadFile(f.Name()); return string(b) }
			select {
			case err := <-done:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != tc.code || read(out) != "" {
					t.Errorf("%v, stdout %q, stderr %q; want exit %d and nothing run", err, read(out), read(errb), tc.code)
				}
				t.Logf("ended after %v", time.Since(start))
			case <-time.After(90 * time.Second):
				t.Fatalf("the front did not end within 90 s of the signal; stderr:\n%s", read(errb))
			}
		})
	}
}
