//go:build linux

package mcp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	agentmcp "github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/mcptest"
	"github.com/agent-ctl/agent-ctl/tests/procfs"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// pidLog records the worker pids the supervisor logs as it starts them.
type pidLog struct {
	mu   sync.Mutex
	pids []int
	wake chan struct{}
}

func newPidLog() *pidLog { return &pidLog{wake: make(chan struct{}, 1)} }

func (p *pidLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "worker started" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "worker_pid" {
			p.mu.Lock()
			p.pids = append(p.pids, int(a.Value.Int64()))
			p.mu.Unlock()
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
		return true
	})
	return nil
}
func (p *pidLog) Enabled(context.Context, slog.Level) bool { return true }
func (p *pidLog) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *pidLog) WithGroup(string) slog.Handler            { return p }
func (p *pidLog) count() int                               { p.mu.Lock(); defer p.mu.Unlock(); return len(p.pids) }
func (p *pidLog) all() []int                               { p.mu.Lock(); defer p.mu.Unlock(); return append([]int(nil), p.pids...) }
func (p *pidLog) String() string                           { return fmt.Sprint(p.all()) }
func (p *pidLog) waitFor(t *testing.T, n int) []int {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for p.count() < n {
		select {
		case <-p.wake:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d workers started, want %d", p.count(), n)
		}
	}
	return p.all()
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

func waitDead(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() bool { return !alive(pid) }, "worker %d still runs", pid)
}

// served is an HTTPServer on a loopback port with the test tools.
type served struct {
	e      *env
	srv    *agentmcp.Server
	hs     *agentmcp.HTTPServer
	url    string
	tokens *agentmcp.Tokens
	pids   *pidLog
	done   chan struct{}
}

func serve(t *testing.T, ho *agentmcp.HTTPOptions, mo *agentmcp.Options) *served {
	t.Helper()
	e := setup(t)
	pids := newPidLog()
	if mo == nil {
		mo = &agentmcp.Options{}
	}
	if mo.Poll == 0 {
		mo.Poll = 50 * time.Millisecond
	}
	srv := e.ownServer(t, supervisor.Options{Logger: slog.New(pids)}, mo)
	tokens := agentmcp.OpenTokens(agentmcp.TokensPath(e.home))
	o := agentmcp.HTTPOptions{}
	if ho != nil {
		o = *ho
	}
	if o.Tokens == nil {
		o.Tokens = tokens
	}
	hs := srv.NewHTTPServer(&o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &served{e: e, srv: srv, hs: hs, url: "http://" + ln.Addr().String(), tokens: tokens, pids: pids, done: make(chan struct{})}
	go func() { defer close(s.done); hs.Serve(ln) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			hs.Shutdown(0)
		}
	})
	return s
}

func (s *served) token(t *testing.T, name string) string {
	t.Helper()
	tok, err := s.tokens.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// client connects the go-sdk client with a token.
func (s *served) client(t *testing.T, token string) *mcp.ClientSession {
	t.Helper()
	return mcptest.Connect(t, "t", s.url+"/mcp", mcptest.Bearer{Token: token}, nil)
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// raw sends one request to /mcp.
func (s *served) raw(ctx context.Context, t *testing.T, method, auth, session, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, s.url+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		t.Fatal(err)
	}
	return res
}

// session opens a session with raw HTTP and returns its id.
func (s *served) session(t *testing.T, auth string) string {
	t.Helper()
	res := s.raw(context.Background(), t, "POST", auth, "", initBody)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	sid := res.Header.Get("Mcp-Session-Id")
	if res.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d, session %q", res.StatusCode, sid)
	}
	res = s.raw(context.Background(), t, "POST", auth, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("initialized: %d", res.StatusCode)
	}
	return sid
}

func status(t *testing.T, res *http.Response) int {
	t.Helper()
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func callBody(id int, tool string, args string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, tool, args)
}

// TestHTTP_bearerScheme: the scheme is case-insensitive (RFC 9110 §11.1).
func TestHTTP_bearerScheme(t *testing.T) {
	s := serve(t, nil, nil)
	tok := s.token(t, "a")
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		if got := status(t, s.raw(context.Background(), t, "POST", scheme+" "+tok, "", initBody)); got != 200 {
			t.Errorf("%s: status %d, want 200", scheme, got)
		}
	}
	for _, bad := range []string{"Basic " + tok, tok, "Bearer", "Bearer " + tok + "x"} {
		res := s.raw(context.Background(), t, "POST", bad, "", initBody)
		if got := status(t, res); got != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%q: status %d (WWW-Authenticate %q), want 401 with a challenge", bad, got, res.Header.Get("WWW-Authenticate"))
		}
	}
}

// TestHTTP_sessionBoundToToken: a session answers only the token that
// opened it: another token's holder, given the id, can neither call in it,
// open its stream nor delete it.
func TestHTTP_sessionBoundToToken(t *testing.T) {
	s := serve(t, nil, nil)
	a, b := "Bearer "+s.token(t, "a"), "Bearer "+s.token(t, "b")
	sid := s.session(t, a)
	ctx := context.Background()
	if got := status(t, s.raw(ctx, t, "POST", b, sid, callBody(2, "hello", `{"name":"intruder"}`))); got != http.StatusForbidden {
		t.Errorf("another token's call in the session: %d, want 403", got)
	}
	if got := status(t, s.raw(ctx, t, "POST", b, sid, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)); got != http.StatusForbidden {
		t.Errorf("another token's tools/list in the session: %d, want 403", got)
	}
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if got := status(t, s.raw(gctx, t, "GET", b, sid, "")); got != http.StatusForbidden {
		t.Errorf("another token's event stream: %d, want 403", got)
	}
	if got := status(t, s.raw(ctx, t, "DELETE", b, sid, "")); got != http.StatusForbidden {
		t.Errorf("another token's DELETE: %d, want 403", got)
	}
	if s.pids.count() != 0 {
		t.Fatalf("workers started for another token's requests: %v", s.pids)
	}
	// The owner still has it.
	res := s.raw(ctx, t, "POST", a, sid, callBody(4, "hello", `{"name":"owner"}`))
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "hello, owner") {
		t.Errorf("the owner's call: %d %s", res.StatusCode, body)
	}
	if got := status(t, s.raw(ctx, t, "DELETE", a, sid, "")); got != http.StatusNoContent {
		t.Errorf("the owner's DELETE: %d, want 204", got)
	}
}

// TestHTTP_revokedTokenEndsStreams: revoking a token ends its open event
// stream and its call in flight (the worker killed), not only its next
// request.
func TestHTTP_revokedTokenEndsStreams(t *testing.T) {
	s := serve(t, nil, nil)
	a := "Bearer " + s.token(t, "a")
	s.token(t, "b")
	sid := s.session(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream := s.raw(ctx, t, "GET", a, sid, "")
	if stream.StatusCode != 200 {
		t.Fatalf("GET stream: %d", stream.StatusCode)
	}
	streamEnded := make(chan time.Time, 1)
	go func() { io.Copy(io.Discard, stream.Body); streamEnded <- time.Now() }()
	callEnded := make(chan string, 1)
	go func() {
		call := s.raw(ctx, t, "POST", a, sid, callBody(2, "sleep", `{"ms":60000}`))
		if call == nil {
			callEnded <- "(no answer)"
			return
		}
		b, _ := io.ReadAll(call.Body)
		callEnded <- fmt.Sprint(call.StatusCode, " ", string(b))
	}()
	pid := s.pids.waitFor(t, 1)[0]
	revoked := time.Now()
	if err := s.tokens.Revoke("a"); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-streamEnded:
		t.Logf("stream ended %s after the revocation", at.Sub(revoked))
	case <-time.After(20 * time.Second):
		t.Fatal("the event stream of a revoked token is still open")
	}
	select {
	case body := <-callEnded:
		t.Logf("call answered: %s", body)
	case <-time.After(20 * time.Second):
		t.Fatal("the call of a revoked token still runs")
	}
	waitDead(t, pid, 10*time.Second)
}

// TestHTTP_deleteCancelsCalls: DELETE of a session with a call in flight
// kills the call's worker at once, and the client's call settles.
func TestHTTP_deleteCancelsCalls(t *testing.T) {
	s := serve(t, nil, nil)
	tok := s.token(t, "a")
	cs := s.client(t, tok)
	settled := make(chan error, 1)
	var res *mcp.CallToolResult
	go func() {
		var err error
		res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 60000}})
		settled <- err
	}()
	pid := s.pids.waitFor(t, 1)[0]
	start := time.Now()
	if got := status(t, s.raw(context.Background(), t, "DELETE", "Bearer "+tok, cs.ID(), "")); got != http.StatusNoContent {
		t.Errorf("DELETE: %d, want 204", got)
	}
	t.Logf("DELETE answered in %s", time.Since(start))
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("DELETE took %s with a call in flight", el)
	}
	select {
	case err := <-settled:
		if err == nil && !res.IsError {
			t.Errorf("the deleted session's call succeeded: %q", mcptest.Text(res))
		}
		if err == nil {
			t.Logf("call settled after %s: %q", time.Since(start), mcptest.Text(res))
		} else {
			t.Logf("call settled after %s: %v", time.Since(start), err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client's call did not settle within 10s of DELETE")
	}
	waitDead(t, pid, 10*time.Second)
	if got := status(t, s.raw(context.Background(), t, "POST", "Bearer "+tok, cs.ID(), `{"jsonrpc":"2.0","id":9,"method":"ping"}`)); got != http.StatusNotFound {
		t.Errorf("ping in a deleted session: %d, want 404", got)
	}
}

// TestHTTP_sessionIdle: a session without requests expires; its id gets
// 404 afterwards.
func TestHTTP_sessionIdle(t *testing.T) {
	s := serve(t, &agentmcp.HTTPOptions{SessionIdle: 300 * time.Millisecond}, nil)
	a := "Bearer " + s.token(t, "a")
	sid := s.session(t, a)
	ping := `{"jsonrpc":"2.0","id":5,"method":"ping"}`
	if got := status(t, s.raw(context.Background(), t, "POST", a, sid, ping)); got != 200 {
		t.Fatalf("ping in a live session: %d", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		time.Sleep(time.Second) // idle: no request in between
		got := status(t, s.raw(context.Background(), t, "POST", a, sid, ping))
		if got == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ping in a session idle for 1s (limit 300ms): %d, want 404", got)
		}
	}
}

// TestHTTP_droppedRequest: a client that drops its request cancels its
// call: the worker is killed, and the token's slot is held until it is.
func TestHTTP_droppedRequest(t *testing.T) {
	s := serve(t, &agentmcp.HTTPOptions{PerToken: 2}, nil)
	a := "Bearer " + s.token(t, "a")
	sid := s.session(t, a)
	for round := 0; round < 2; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		for i := 0; i < 2; i++ {
			// The answer's headers come with the result: the request is
			// sent in the background.
			go func() {
				if res := s.raw(ctx, t, "POST", a, sid, callBody(10+i, "sleep", `{"ms":60000}`)); res != nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			}()
		}
		pids := s.pids.waitFor(t, 2*(round+1))[2*round:]
		if n := s.srv.InFlight("a"); n != 2 {
			t.Errorf("round %d: %d calls in flight for the token, want 2", round, n)
		}
		cancel() // the client goes away
		testutil.Eventually(t, 20*time.Second, func() bool { return s.srv.InFlight("a") == 0 },
			"round %d: the slots of a dropped request are still taken", round)
		// The slots are free only once the workers are gone.
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("round %d: the token's slot was freed while worker %d still runs", round, pid)
			}
		}
	}
}

// TestHTTP_shutdown: a graceful stop lets a short call finish, cancels a
// long one at the grace with an isError "server shutting down", removes
// every worker with its cgroup and call directory, and an idle client
// with an open event stream does not delay it.
//
// The stop starts once both modules run (their progress counts a line of
// output), not once their workers exist: a worker still starting on a
// loaded machine could use up a 4 s grace before its 1.5 s call began, as
// TestStdioShutdown's did at load 37. The grace is 15 s, 10 times the
// short call; the long one sleeps 10 minutes.
func TestHTTP_shutdown(t *testing.T) {
	s := serve(t, nil, nil)
	tok := s.token(t, "a")
	idle := s.client(t, tok) // its event stream stays open
	_ = idle
	running := mcptest.NewRunning()
	cs := mcptest.Connect(t, "t", s.url+"/mcp", mcptest.Bearer{Token: tok}, &mcp.ClientOptions{ProgressNotificationHandler: running.Handler})
	long := mcptest.Start(cs, "long", "sleep", map[string]any{"ms": 600000})
	s.pids.waitFor(t, 1)
	short := mcptest.Start(cs, "short", "sleep", map[string]any{"ms": 1500})
	pids := s.pids.waitFor(t, 2)
	running.Wait(t, map[string]<-chan struct{}{"long": nil, "short": short.Done()})
	var cgroups []string
	for _, pid := range pids {
		dirs, _ := procfs.CgroupDirs(pid)
		cgroups = append(cgroups, dirs...)
	}
	if len(cgroups) == 0 {
		t.Fatal("the workers have no cgroups of their own to check")
	}
	start := time.Now()
	const grace = 15 * time.Second
	s.hs.Shutdown(grace)
	took := time.Since(start)
	t.Logf("shutdown took %s (grace %s)", took, grace)
	// Far under the long call's 10 minutes: it was not waited for.
	if took < grace-500*time.Millisecond || took > grace+2*time.Minute {
		t.Errorf("shutdown took %s with a call to cancel at the grace of %s", took, grace)
	}
	if res, err := short.Answer(); err != nil || res.IsError || mcptest.Text(res) != "sleeping\nawake\n" {
		t.Errorf("the call that finished within the grace: %v %v", err, res)
	}
	if res, err := long.Answer(); err != nil || !res.IsError || !strings.Contains(mcptest.Text(res), "server shutting down") {
		t.Errorf("the call cancelled at the grace: %v %+v, want isError \"server shutting down\"", err, res)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("worker %d survived the shutdown", pid)
		}
	}
	for _, d := range cgroups {
		if _, err := os.Stat(d); err == nil && strings.Contains(d, "agent-ctl") {
			t.Errorf("cgroup %s left behind", d)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(s.e.home, "tmp", "call-*")); len(left) > 0 {
		t.Errorf("call directories left behind: %v", left)
	}

	// No calls: an idle client's open stream does not make the stop wait.
	s2 := serve(t, nil, nil)
	tok2 := s2.token(t, "a")
	c2 := s2.client(t, tok2)
	if _, err := c2.ListTools(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	// The grace is 10 minutes, so that a slow stop on a loaded machine is
	// not taken for one that waited.
	start = time.Now()
	s2.hs.Shutdown(10 * time.Minute)
	if took := time.Since(start); took > 2*time.Minute {
		t.Errorf("shutdown with only an idle client took %s", took)
	}
}

// runStdio serves e's server over pipes, initialized, with grace: what is
// written to inW reaches it as stdin, its stdout comes a line at a time
// on lines (closed at its end), and RunStdio's result on done.
func runStdio(t *testing.T, e *env, grace time.Duration) (inW *io.PipeWriter, lines chan string, done chan error) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done = make(chan error, 1)
	go func() { done <- e.srv.RunStdio(context.Background(), inR, outW, grace); outW.Close() }()
	lines = make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	fmt.Fprintln(inW, initBody)
	<-lines
	fmt.Fprintln(inW, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return inW, lines, done
}

// TestStdioAnswerWrittenLate: a request sent just before stdin's end is
// served (it was refused "server shutting down" once), and its answer,
// written well after its call returned (as on a loaded machine), is
// written before the session closes. The middleware holds the answer back
// for 1.5 s, longer than the 200 ms of quiet output the server once took
// to mean that every answer was out.
func TestStdioAnswerWrittenLate(t *testing.T) {
	e := setup(t)
	e.srv.MCP().AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			if method == "tools/call" {
				time.Sleep(1500 * time.Millisecond)
			}
			return res, err
		}
	})
	inW, lines, done := runStdio(t, e, time.Minute)
	fmt.Fprintln(inW, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":1}}}`)
	inW.Close()
	var got []string
	for l := range lines {
		got = append(got, l)
	}
	if err := <-done; err != nil {
		t.Errorf("RunStdio: %v", err)
	}
	if all := strings.Join(got, "\n"); !strings.Contains(all, `"id":7`) || !strings.Contains(all, "awake") {
		t.Errorf("the call's answer was lost at stdin's end:\n%s", all)
	}
}

// TestStdioShutdown: at stdin's end, `agent-ctl mcp` answers the calls in
// flight (a long one cancelled at the grace) before it returns.
//
// Stdin ends only once both modules run (each has printed its first line,
// as its progress notifications say): at load 37 a fixed 300 ms wait
// closed it while the short call's worker was still starting, and the 3 s
// grace ran out before it answered. The grace is 15 s, 15 times what the
// short call has left to run once it runs, and the long call sleeps 10
// minutes: what is checked is unchanged, a call that ends within the grace
// is answered and one that does not is cancelled and answered.
func TestStdioShutdown(t *testing.T) {
	e := setup(t)
	inW, lines, done := runStdio(t, e, 15*time.Second)
	call := func(id int, ms int) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":%d},"_meta":{"progressToken":"call-%d"}}}`, id, ms, id)
	}
	fmt.Fprintln(inW, call(2, 600000))
	fmt.Fprintln(inW, call(3, 1000))
	var got []string
	running := map[string]bool{}
	timeout := time.After(2 * time.Minute)
	for !running["call-2"] || !running["call-3"] {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the server stopped before both calls ran:\n%s", strings.Join(got, "\n"))
			}
			got = append(got, l)
			var m struct {
				ID     int    `json:"id"`
				Method string `json:"method"`
				Params struct {
					Token   string `json:"progressToken"`
					Message string `json:"message"`
				} `json:"params"`
			}
			json.Unmarshal([]byte(l), &m)
			if m.Method == "notifications/progress" && !strings.HasSuffix(m.Params.Message, " 0 lines of output") {
				running[m.Params.Token] = true
			}
			if m.ID == 3 { // answered already: ran
				running["call-3"] = true
			}
		case <-timeout:
			t.Fatalf("the calls did not both run within 2 minutes:\n%s", strings.Join(got, "\n"))
		}
	}
	start := time.Now()
	inW.Close()
	for l := range lines {
		got = append(got, l)
	}
	if err := <-done; err != nil {
		t.Errorf("RunStdio: %v", err)
	}
	t.Logf("stopped %s after EOF", time.Since(start))
	all := strings.Join(got, "\n")
	if !strings.Contains(all, `"id":3`) || !strings.Contains(all, `awake`) {
		t.Errorf("the short call was not answered:\n%s", all)
	}
	if !strings.Contains(all, `"id":2`) || !strings.Contains(all, "server shutting down") {
		t.Errorf("the long call was not answered \"server shutting down\":\n%s", all)
	}
	if left, _ := filepath.Glob(filepath.Join(e.home, "tmp", "call-*")); len(left) > 0 {
		t.Errorf("call directories left behind: %v", left)
	}
}

// TestHTTP_connLimit: thousands of idle keep-alive connections neither
// exhaust the server's descriptors nor lock a client out; a slow body is
// cut at the body timeout.
func TestHTTP_connLimit(t *testing.T) {
	s := serve(t, &agentmcp.HTTPOptions{MaxConns: 64, IdleTimeout: time.Hour, BodyTimeout: 2 * time.Second}, nil)
	tok := s.token(t, "a")
	const idle = 2000
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < idle; i++ {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		// Read the answer (or the close of a refused connection), leaving
		// the connection idle.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		if res, err := http.ReadResponse(r, nil); err == nil {
			io.Copy(io.Discard, res.Body)
		}
	}
	open, refused, evicted := s.hs.Conns()
	t.Logf("%d idle connections: %d open, %d refused, %d closed idle", idle, open, refused, evicted)
	if open > 64 {
		t.Errorf("%d connections open, limit 64", open)
	}
	if n := serverSockets(t, s.url); n > 64+8 {
		t.Errorf("%d server-side connections established, limit 64", n)
	}
	// A client still gets in and lists the tools.
	cs := s.client(t, tok)
	if tools, err := cs.ListTools(context.Background(), nil); err != nil || len(tools.Tools) == 0 {
		t.Fatalf("tools/list at the connection limit: %v", err)
	}

	// Slowloris: a body trickling in at a byte a second.
	c, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n", tok)
	start := time.Now()
	cut := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(c)
		cut <- string(b)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case resp := <-cut:
			t.Logf("slow body cut after %s: %q", time.Since(start), strings.SplitN(resp, "\r\n", 2)[0])
			if !strings.HasPrefix(resp, "HTTP/1.1 408") {
				t.Errorf("slow body: %q, want 408", resp)
			}
			return
		case <-tick.C:
			if time.Since(start) > 20*time.Second {
				t.Fatal("a body trickling in at a byte a second is still being read after 20s (body timeout 2s)")
			}
			c.Write([]byte("{"))
		}
	}
}

// serverSockets counts the established TCP connections whose local end is
// the server's port (the server's side of them), from /proc/net/tcp.
func serverSockets(t *testing.T, url string) int {
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	p, _ := strconv.Atoi(port)
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(":%04X", p)
	n := 0
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "01" {
			n++
		}
	}
	return n
}

// TestRemovedToolIsUnknown: a tool removed from the store before the
// server noticed (it polls) answers -32602 like any unknown tool, not a
// JSON-RPC error with code 0.
func TestRemovedToolIsUnknown(t *testing.T) {
	e := setup(t)
	sup, err := supervisor.New(&supervisor.Options{Home: e.home})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = agentmcp.New(e.cat, sup, &agentmcp.Options{Poll: time.Hour}) // never re-reads the store
	cs := connect(t, e, nil)
	if err := e.cat.Store().Remove("hello"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hello", "never-installed"} {
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name})
		var werr *jsonrpc.Error
		if !errors.As(err, &werr) || werr.Code != jsonrpc.CodeInvalidParams {
			t.Errorf("%s: %v (%#v), want JSON-RPC error -32602", name, err, werr)
		}
	}
}

// TestOutputBudget: the output held by all calls in flight stays within
// MaxBufferedOutput: floods keep only their tails, and a successful call
// whose output does not fit fails saying so, while one that fits returns
// all of it.
func TestOutputBudget(t *testing.T) {
	e := setup(t)
	big := filepath.Join(t.TempDir(), "big")
	os.MkdirAll(big, 0o755)
	payload := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	os.WriteFile(filepath.Join(big, "out.txt"), []byte(payload), 0o644)
	for _, tool := range []struct{ name, wasm, extra string }{
		{"flood16", "flood.wasm", `"inputSchema": {"type": "object"}, "limits": {"maxOutput": "16MiB"}`},
		{"big", "cat.wasm", `"inputSchema": {"type": "object", "properties": {"file": {"type": "string"}}}, "args": {"positional": ["file"]}, "limits": {"maxOutput": "16MiB"}`},
	} {
		if _, err := e.cat.Store().Install(fixtures.ToolDir(t, tool.name, tool.wasm, tool.extra)); err != nil {
			t.Fatal(err)
		}
	}
	g, _ := policies.LoadGrants(catalog.PolicyPath(e.home))
	g.Tool("big").GrantDir(policies.Dir{Host: big, Guest: "/big"})
	g.Save(catalog.PolicyPath(e.home))
	sup, err := supervisor.New(&supervisor.Options{Home: e.home})
	if err != nil {
		t.Fatal(err)
	}
	const budget = 8 << 20
	e.srv = agentmcp.New(e.cat, sup, &agentmcp.Options{MaxBufferedOutput: budget})
	cs := connect(t, e, nil)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "flood16"})
			if err != nil || !r.IsError || !strings.Contains(mcptest.Text(r), "output limit of 16MiB") {
				t.Errorf("flood: %v %.300q", err, mcptest.Text(r))
			}
		}()
	}
	wg.Wait()
	_, peak := e.srv.BufferedOutput()
	t.Logf("8 floods of 16 MiB: at most %d MiB held at once (budget %d MiB)", peak>>20, budget>>20)
	if peak > budget {
		t.Errorf("%d bytes held at once, budget %d", peak, budget)
	}
	if now, _ := e.srv.BufferedOutput(); now != 0 {
		t.Errorf("%d bytes still counted after the calls", now)
	}
	r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "big", Arguments: map[string]any{"file": "/big/out.txt"}})
	if err != nil || r.IsError || mcptest.Text(r) != payload {
		t.Fatalf("1 MiB of output within the budget: %v isError=%v len=%d", err, r.IsError, len(mcptest.Text(r)))
	}
	e.srv = agentmcp.New(e.cat, sup, &agentmcp.Options{MaxBufferedOutput: 256 << 10})
	cs = connect(t, e, nil)
	r, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "big", Arguments: map[string]any{"file": "/big/out.txt"}})
	if err != nil || !r.IsError || !strings.Contains(mcptest.Text(r), "did not fit") || !strings.HasSuffix(mcptest.Text(r), payload[len(payload)-100:]) {
		t.Errorf("1 MiB of output with a 256 KiB budget: %v %.300q", err, mcptest.Text(r))
	}
}
