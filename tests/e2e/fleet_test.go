//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The fleet end to end: a controller and two agents as separate agent-ctl
// processes with separate homes, talking over loopback NATS.

// fleetTools are the tools every test agent has installed.
var fleetTools = []struct{ name, wasm, extra string }{
	{"hello", "hello.wasm", `"inputSchema": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 16}}}, "args": {"positional": ["name"]}`},
	{"exit", "exit.wasm", `"inputSchema": {"type": "object", "properties": {"code": {"type": "integer"}}}, "args": {"positional": ["code"]}`},
}

// fleetProc is an agent-ctl process of the fleet whose stderr is read
// until a line matches, then drained in the background.
type fleetProc struct {
	cmd    *exec.Cmd
	waited chan struct{} // closed when the process has been waited for
}

// startController starts a fleet controller with home ctlHome on a free
// loopback port and returns its NATS URL.
func startController(t *testing.T, ctlHome string) string {
	t.Helper()
	_, url := startFleetProc(t, ctlHome, regexp.MustCompile(`controller listening on (nats://127\.0\.0\.1:\d+)`),
		"controller", "--listen", "127.0.0.1:0")
	return url
}

// joinAgent has the controller at ctlHome make node's credentials and
// starts an agent named node with home, joined to the fleet at url with
// them (and args), once it says it joined; it returns the agent and the
// credentials file.
func joinAgent(t *testing.T, ctlHome, url, node, home string, args ...string) (*fleetProc, string) {
	t.Helper()
	creds := filepath.Join(t.TempDir(), node+".creds")
	if _, errs, code := fleetRun(t, ctlHome, "fleet", "join-token", node, "--out", creds); code != 0 {
		t.Fatalf("fleet join-token %s: exit %d\n%s", node, code, errs)
	}
	p, _ := startFleetProc(t, home, regexp.MustCompile(`node \S+ (joined) the fleet`),
		append([]string{"agent", "--nats", url, "--name", node, "--creds", creds}, args...)...)
	return p, creds
}

// startFleetProc starts agent-ctl with args and home, and waits (up to two
// minutes: a loaded machine) for a stderr line matching re; it returns
// the process and the line's first submatch.
func startFleetProc(t *testing.T, home string, re *regexp.Regexp, args ...string) (*fleetProc, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
	errp, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &fleetProc{cmd: cmd, waited: make(chan struct{})}
	// Exactly one Wait: the background one once it is started (set on
	// this goroutine, which the clean-up runs on too), else the clean-up's.
	background := false
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if background {
			<-p.waited
			return
		}
		cmd.Wait() // it never got as far as the background wait
	})
	lines := make(chan string)
	var seen bytes.Buffer
	go func() {
		r := bufio.NewReader(errp)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				lines <- line
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("agent-ctl %s ended before printing %q; stderr:\n%s", strings.Join(args, " "), re, seen.String())
			}
			seen.WriteString(line)
			if m := re.FindStringSubmatch(line); m != nil {
				background = true
				go func() {
					for range lines { // keep draining the log
					}
					cmd.Wait()
					close(p.waited)
				}()
				return p, m[len(m)-1]
			}
		case <-deadline:
			t.Fatalf("agent-ctl %s printed no %q within 2 minutes; stderr:\n%s", strings.Join(args, " "), re, seen.String())
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *fleetProc) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Kill()
	select {
	case <-p.waited:
	case <-time.After(time.Minute):
		t.Errorf("agent-ctl %d did not end within a minute of SIGKILL", p.cmd.Process.Pid)
	}
}

// fleetRun runs agent-ctl to the end and returns its stdout, stderr and
// exit code.
func fleetRun(t *testing.T, home string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = time.Minute
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			t.Fatalf("agent-ctl %s: %v", strings.Join(args, " "), err)
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("agent-ctl %s did not end within 3 minutes; stderr:\n%s", strings.Join(args, " "), errb.String())
	}
	return out.String(), errb.String(), code
}

// fleetNode is the part of `fleet ls --json` the test reads.
type fleetNode struct {
	Node   string            `json:"node"`
	Labels map[string]string `json:"labels"`
	Tools  []struct {
		Name, Version, Digest, Error string
	} `json:"tools"`
	Online bool `json:"online"`
}

// fleetResult is the part of a `fleet call --json` result the test reads.
type fleetResult struct {
	Node     string `json:"node"`
	ExitCode int    `json:"exitCode"`
	Stdout   string `json:"stdout"`
	Error    string `json:"error"`
}

// fleetLs runs `fleet ls --json` and returns the nodes by name.
func fleetLs(t *testing.T, ctlHome string) map[string]fleetNode {
	t.Helper()
	out, errs, code := fleetRun(t, ctlHome, "fleet", "ls", "--json")
	if code != 0 {
		t.Fatalf("fleet ls: exit %d\n%s", code, errs)
	}
	var nodes []fleetNode
	if err := json.Unmarshal([]byte(out), &nodes); err != nil {
		t.Fatalf("fleet ls --json: %v\n%s", err, out)
	}
	m := map[string]fleetNode{}
	for _, n := range nodes {
		m[n.Node] = n
	}
	return m
}

// pollFleet runs check until it returns "" or deadline passes; on a
// loaded machine a status takes a while, so the deadline is generous and
// the wait between tries is the time a `fleet ls` takes.
func pollFleet(t *testing.T, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		why := check()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestFleet(t *testing.T) {
	ctlHome := t.TempDir()
	url := startController(t, ctlHome)
	credsDir := t.TempDir()
	creds := map[string]string{}
	agents := map[string]*fleetProc{}
	homes := map[string]string{}
	for n, label := range map[string]string{"n1": "role=web", "n2": "role=db"} {
		homes[n] = t.TempDir()
		for _, tool := range fleetTools {
			installFixture(t, homes[n], tool.name, tool.wasm, tool.extra)
		}
		agents[n], creds[n] = joinAgent(t, ctlHome, url, n, homes[n], "--label", label)
	}

	t.Run("ls", func(t *testing.T) {
		pollFleet(t, time.Minute, func() string {
			nodes := fleetLs(t, ctlHome)
			if !nodes["n1"].Online || !nodes["n2"].Online {
				return "fleet ls: want n1 and n2 online, got " + toJSON(nodes)
			}
			return ""
		})
		nodes := fleetLs(t, ctlHome)
		for n, role := range map[string]string{"n1": "web", "n2": "db"} {
			got := nodes[n]
			if got.Labels["role"] != role || len(got.Tools) != len(fleetTools) {
				t.Errorf("%s: %s, want label role=%s and %d tools", n, toJSON(got), role, len(fleetTools))
			}
			for _, tool := range got.Tools {
				if tool.Version != "1.0.0" || !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(tool.Digest) || tool.Error != "" {
					t.Errorf("%s: tool %+v, want version 1.0.0 and a sha256 digest", n, tool)
				}
			}
		}
		if len(nodes) != 2 {
			t.Errorf("fleet ls: %s, want n1 and n2 only", toJSON(nodes))
		}
	})

	callJSON := func(t *testing.T, args ...string) ([]fleetResult, string, int) {
		t.Helper()
		// TOOL first, as documented: flags after it are the call's.
		out, errs, code := fleetRun(t, ctlHome, append([]string{"fleet", "call", args[0], "--json"}, args[1:]...)...)
		var res []fleetResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("fleet call --json %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errs)
		}
		return res, errs, code
	}

	t.Run("call", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			args  []string
			nodes []string
			code  int
		}{
			{"all", []string{"hello", "--all", "--", "fleet"}, []string{"n1", "n2"}, 0},
			{"nodes", []string{"hello", "--nodes", "n2", "--", "fleet"}, []string{"n2"}, 0},
			{"label", []string{"hello", "--label", "role=web", "--", "fleet"}, []string{"n1"}, 0},
			{"exit code carried", []string{"exit", "--nodes", "n1,n2", "--", "3"}, []string{"n1", "n2"}, 3},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, errs, code := callJSON(t, tc.args...)
				if code != tc.code {
					t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, errs)
				}
				var got []string
				for _, r := range res {
					got = append(got, r.Node)
					if r.ExitCode != tc.code || r.Error != "" {
						t.Errorf("%s: %+v, want exit code %d and no error", r.Node, r, tc.code)
					}
					if tc.args[0] == "hello" && !strings.Contains(r.Stdout, "fleet") {
						t.Errorf("%s: stdout %q, want the greeting", r.Node, r.Stdout)
					}
				}
				if strings.Join(got, ",") != strings.Join(tc.nodes, ",") {
					t.Errorf("answers from %v, want %v", got, tc.nodes)
				}
			})
		}

		// The plain output: one header per node, the tool's output below.
		out, errs, code := fleetRun(t, ctlHome, "fleet", "call", "hello", "--all", "--", "plain")
		if code != 0 || !regexp.MustCompile(`(?s)== n1: exit 0 in [0-9.]+s\nhello, plain\n== n2: exit 0 in [0-9.]+s\nhello, plain\n`).MatchString(out) {
			t.Errorf("fleet call hello --all: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
		}

		// What picks no node, or a node with no agent, fails clearly.
		for _, tc := range []struct {
			name string
			args []string
			code int
			want string
		}{
			{"no label matches", []string{"hello", "--label", "role=none"}, 125, "no online node matches"},
			{"no such node", []string{"hello", "--nodes", "n9"}, 125, "n9: not connected"},
			{"two selectors", []string{"hello", "--all", "--nodes", "n1"}, 125, "exactly one of"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, errs, code := fleetRun(t, ctlHome, append([]string{"fleet", "call"}, tc.args...)...)
				if code != tc.code || !strings.Contains(errs, tc.want) {
					t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, errs, tc.code, tc.want)
				}
			})
		}
	})

	// An agent that gives another node's name with its credentials is
	// refused, and leaves the real node's calls alone.
	t.Run("impostor", func(t *testing.T) {
		_, errs, code := fleetRun(t, homes["n1"], "agent", "--nats", url, "--name", "n1", "--creds", creds["n2"])
		if code == 0 || !strings.Contains(errs, `"n2"`) || !strings.Contains(errs, `"n1"`) {
			t.Errorf("agent --name n1 with n2's credentials: exit %d, stderr:\n%s\nwant it refused, naming both", code, errs)
		}
		res, errs, code := callJSON(t, "hello", "--nodes", "n1", "--", "still")
		if code != 0 || len(res) != 1 || !strings.Contains(res[0].Stdout, "still") {
			t.Errorf("n1 after the impostor: exit %d, %+v\n%s", code, res, errs)
		}
	})

	// An agent whose token expires while it runs leaves, saying why,
	// rather than staying up unable to take a call.
	t.Run("expired", func(t *testing.T) {
		path := filepath.Join(credsDir, "n3.creds")
		// Long enough to join on a loaded machine; the expiry is the point.
		if _, errs, code := fleetRun(t, ctlHome, "fleet", "join-token", "n3", "--out", path, "--expires", "15s"); code != 0 {
			t.Fatalf("fleet join-token n3: exit %d\n%s", code, errs)
		}
		_, errs, code := fleetRun(t, homes["n1"], "agent", "--nats", url, "--name", "n3", "--creds", path)
		if code != 125 || !strings.Contains(errs, "node n3 joined") || !strings.Contains(errs, "closed for good") ||
			!strings.Contains(strings.ToLower(errs), "authorization") {
			t.Errorf("agent with a 15 s token: exit %d, stderr:\n%s\nwant it joined, then gone with exit 125 and the reason", code, errs)
		}
	})

	// A node killed outright: calls to it fail at once with a clear line
	// while the others answer, and `fleet ls` shows it offline well
	// before its last status grows old (20 s at the earliest: it is at
	// most one 10 s interval old now, and old at three).
	t.Run("killed", func(t *testing.T) {
		agents["n1"].kill(t)
		res, errs, code := callJSON(t, "hello", "--nodes", "n1,n2", "--", "after")
		if code != 125 || len(res) != 2 || res[0].Node != "n1" || !strings.Contains(res[0].Error, "not connected") ||
			res[1].ExitCode != 0 || !strings.Contains(res[1].Stdout, "after") {
			t.Errorf("call after n1 was killed: exit %d, %+v\n%s", code, res, errs)
		}
		_, errs, code = fleetRun(t, ctlHome, "fleet", "call", "hello", "--nodes", "n1")
		if code != 125 || !strings.Contains(errs, "agent-ctl: n1: not connected") {
			t.Errorf("plain call to the killed n1: exit %d, stderr:\n%s", code, errs)
		}
		pollFleet(t, 15*time.Second, func() string {
			nodes := fleetLs(t, ctlHome)
			if nodes["n1"].Online || !nodes["n2"].Online {
				return "fleet ls: want n1 offline and n2 online, got " + toJSON(nodes)
			}
			return ""
		})
	})
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
