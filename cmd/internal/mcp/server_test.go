//go:build unix

package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	agentmcp "github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/mcptest"
	"github.com/agent-ctl/agent-ctl/tests/workertest"
)

func TestMain(m *testing.M) { workertest.Main(m) }

type env struct {
	home string
	cat  *catalog.Catalog
	srv  *agentmcp.Server
	data string // granted to the json tool at /data
	// closeSup closes srv's supervisor (once; also at the test's end): a
	// test that serves with a supervisor of its own closes this one first,
	// so that what the test finds left behind is its own supervisor's.
	closeSup func()
}

// setup serves the test tools: hello, spin, sleep, exit, flood, and
// report, which is granted a directory of JSON files at /data.
func setup(t *testing.T) *env {
	t.Helper()
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "ok.json"), []byte(`{"ok": true, "n": 3}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(data, "bad.json"), []byte("not json\n"), 0o644)
	os.WriteFile(filepath.Join(data, "wrong.json"), []byte(`{"ok": "yes"}`), 0o644)
	os.WriteFile(filepath.Join(data, "control.txt"), []byte("bell\a esc\x1b[31m nul\x00 bad\xff\xfe utf8 }\n{\"jsonrpc\":\"2.0\"}\n"), 0o644)
	e := serveTools(t, &agentmcp.Options{Version: "test", Poll: 50 * time.Millisecond, Progress: 100 * time.Millisecond},
		func(g *policies.Grants) error {
			return g.Tool("report").GrantDir(policies.Dir{Host: data, Guest: "/data"})
		},
		fixtures.ToolDir(t, "hello", "hello.wasm", `"inputSchema": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 16}}, "additionalProperties": false}, "args": {"positional": ["name"]}`),
		fixtures.ToolDir(t, "spin", "loop.wasm", `"inputSchema": {"type": "object"}, "limits": {"timeout": "300ms"}`),
		fixtures.ToolDir(t, "sleep", "sleep.wasm", `"inputSchema": {"type": "object", "properties": {"ms": {"type": "integer", "minimum": 0}}}, "args": {"positional": ["ms"]}`),
		fixtures.ToolDir(t, "exit", "exit.wasm", `"inputSchema": {"type": "object", "properties": {"code": {"type": "integer"}}}, "args": {"positional": ["code"]}`),
		fixtures.ToolDir(t, "flood", "flood.wasm", `"inputSchema": {"type": "object"}, "limits": {"maxOutput": "4KiB"}`),
		fixtures.ToolDir(t, "report", "cat.wasm", `"inputSchema": {"type": "object", "properties": {"file": {"type": "string"}}, "required": ["file"]}, "args": {"positional": ["file"]}, "output": "json", "outputSchema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}`))
	e.data = data
	return e
}

// serveTools installs the module directories dirs in a new home, lets
// grant (nil: nothing) change the home's grants, and serves the tools
// with options mo and a supervisor of the home's, closed when the test
// ends.
func serveTools(t *testing.T, mo *agentmcp.Options, grant func(*policies.Grants) error, dirs ...string) *env {
	t.Helper()
	home := t.TempDir()
	cat, err := catalog.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if _, err := cat.Store().Install(dir); err != nil {
			t.Fatal(err)
		}
	}
	if grant != nil {
		g, err := policies.LoadGrants(catalog.PolicyPath(home))
		if err != nil {
			t.Fatal(err)
		}
		if err := grant(g); err != nil {
			t.Fatal(err)
		}
		if err := g.Save(catalog.PolicyPath(home)); err != nil {
			t.Fatal(err)
		}
	}
	sup, err := supervisor.New(&supervisor.Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	closeSup := sync.OnceFunc(sup.Close)
	t.Cleanup(closeSup)
	return &env{home: home, cat: cat, srv: agentmcp.New(cat, sup, mo), closeSup: closeSup}
}

// ownServer closes e's supervisor and serves e's tools again with a
// supervisor of its own (so, with Home set here; closed when the test
// ends) and options mo: for tests that need other options, or that check
// what their supervisor's workers leave behind.
func (e *env) ownServer(t *testing.T, so supervisor.Options, mo *agentmcp.Options) *agentmcp.Server {
	t.Helper()
	e.closeSup()
	so.Home = e.home
	sup, err := supervisor.New(&so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sup.Close)
	return agentmcp.New(e.cat, sup, mo)
}

// connect returns a client session over the SDK's in-memory transports.
func connect(t *testing.T, e *env, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ct, st := mcp.NewInMemoryTransports()
	ss, err := e.srv.MCP().Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, opts).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func TestListTools(t *testing.T) {
	e := setup(t)
	cs := connect(t, e, nil)
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*mcp.Tool{}
	for _, tool := range res.Tools {
		byName[tool.Name] = tool
	}
	for _, n := range []string{"hello", "spin", "sleep", "exit", "flood", "report"} {
		if byName[n] == nil {
			t.Fatalf("tools/list lacks %s: %v", n, res.Tools)
		}
	}
	h := byName["hello"]
	schema, _ := json.Marshal(h.InputSchema)
	if h.Description != "test tool hello" || !strings.Contains(string(schema), `"maxLength":16`) {
		t.Errorf("hello published as %q with schema %s", h.Description, schema)
	}
	if a := h.Annotations; a == nil || !a.ReadOnlyHint || *a.DestructiveHint || *a.OpenWorldHint {
		t.Errorf("hello annotations %+v: want read-only, not destructive, closed world", a)
	}
	if byName["report"].OutputSchema == nil {
		t.Error("report's outputSchema not published")
	}
}

func TestCallTool(t *testing.T) {
	e := setup(t)
	cs := connect(t, e, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		tool    string
		args    map[string]any
		isError bool
		text    []string // substrings of the text content
		structd string   // structured content, as JSON
	}{
		{"success", "hello", map[string]any{"name": "mcp"}, false, []string{"hello, mcp\n"}, ""},
		{"no arguments", "hello", nil, false, []string{"hello, world\n"}, ""},
		{"schema violation", "hello", map[string]any{"name": strings.Repeat("x", 17)}, true, []string{"invalid arguments", "name"}, ""},
		{"unknown argument", "hello", map[string]any{"nmae": "x"}, true, []string{"invalid arguments", "nmae"}, ""},
		{"wrong type", "sleep", map[string]any{"ms": "soon"}, true, []string{"invalid arguments", "ms"}, ""},
		{"exit code", "exit", map[string]any{"code": 3}, true, []string{"exit failed: exit code 3"}, ""},
		{"time limit", "spin", nil, true, []string{"time limit of 300ms reached"}, ""},
		{"output limit", "flood", nil, true, []string{"output limit of 4KiB reached"}, ""},
		{"json output", "report", map[string]any{"file": "/data/ok.json"}, false, []string{`"ok": true`}, `{"ok": true, "n": 3}`},
		{"json promised, not given", "report", map[string]any{"file": "/data/bad.json"}, true, []string{"not the JSON its manifest promises"}, ""},
		{"json against its outputSchema", "report", map[string]any{"file": "/data/wrong.json"}, true, []string{"does not match its outputSchema", "/ok"}, ""},
		{"module failure quotes stderr", "report", map[string]any{"file": "/data/missing"}, true, []string{"exit code 1", "cat: /data/missing"}, ""},
		{"hostile output stays text", "report", map[string]any{"file": "/data/control.txt"}, true, []string{"bell\a esc\x1b[31m nul\x00 bad\ufffd utf8", `{"jsonrpc":"2.0"}`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args})
			if err != nil {
				t.Fatalf("protocol error: %v", err)
			}
			got := mcptest.Text(res)
			if res.IsError != tc.isError {
				t.Errorf("isError %v, want %v: %q", res.IsError, tc.isError, got)
			}
			for _, w := range tc.text {
				if !strings.Contains(got, w) {
					t.Errorf("result %q lacks %q", got, w)
				}
			}
			if tc.structd != "" {
				b, _ := json.Marshal(res.StructuredContent)
				var want, have any
				json.Unmarshal([]byte(tc.structd), &want)
				json.Unmarshal(b, &have)
				if fmt.Sprint(want) != fmt.Sprint(have) {
					t.Errorf("structuredContent %s, want %s", b, tc.structd)
				}
			}
		})
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "nope"}); err == nil {
		t.Error("calling an unknown tool: want a protocol error")
	}
}

// TestConcurrentCalls runs calls from several clients at once, each in its
// own worker, and checks every result is its own.
func TestConcurrentCalls(t *testing.T) {
	e := setup(t)
	var wg sync.WaitGroup
	for c := range 4 {
		cs := connect(t, e, nil)
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				who := fmt.Sprintf("c%di%d", c, i)
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "hello", Arguments: map[string]any{"name": who}})
				if err != nil {
					t.Error(err)
					return
				}
				if got := mcptest.Text(res); got != "hello, "+who+"\n" || res.IsError {
					t.Errorf("call %s got %q (isError %v)", who, got, res.IsError)
				}
			}()
		}
	}
	wg.Wait()
}

// TestCancel: cancelling a call kills its worker at once; the server goes
// on serving.
func TestCancel(t *testing.T) {
	e := setup(t)
	cs := connect(t, e, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 20000}})
	if err == nil {
		t.Fatal("a cancelled call succeeded")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("cancel took %s", el)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "hello"})
	if err != nil || mcptest.Text(res) != "hello, world\n" {
		t.Fatalf("after a cancel: %v %v", err, res)
	}
}

// TestProgress: a call with a progress token gets progress notifications
// while it runs.
func TestProgress(t *testing.T) {
	e := setup(t)
	var mu sync.Mutex
	var got []*mcp.ProgressNotificationParams
	cs := connect(t, e, &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
		mu.Lock()
		got = append(got, r.Params)
		mu.Unlock()
	}})
	p := &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 450}}
	p.SetProgressToken("tok-1")
	res, err := cs.CallTool(context.Background(), p)
	if err != nil || res.IsError {
		t.Fatalf("%v %v", err, res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 2 {
		t.Fatalf("got %d progress notifications, want at least 2", len(got))
	}
	if got[0].ProgressToken != "tok-1" || got[1].Progress <= got[0].Progress {
		t.Errorf("progress %+v %+v: want the call's token and increasing progress", got[0], got[1])
	}
}

// TestListChanged: installing, replacing and removing a module while
// clients are connected changes the next tools/list and notifies them.
func TestListChanged(t *testing.T) {
	e := setup(t)
	changed := make(chan struct{}, 16)
	cs := connect(t, e, &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
		changed <- struct{}{}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.srv.Watch(ctx)
	wait := func(what string) {
		t.Helper()
		select {
		case <-changed:
		case <-time.After(time.Minute): // a bound against a hang, not a timing
			t.Fatalf("no list_changed after %s", what)
		}
	}
	names := func() map[string]*mcp.Tool {
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]*mcp.Tool{}
		for _, tool := range res.Tools {
			m[tool.Name] = tool
		}
		return m
	}
	if _, err := e.cat.Store().Install(fixtures.ToolDir(t, "greet", "hello.wasm", `"inputSchema": {"type": "object"}`)); err != nil {
		t.Fatal(err)
	}
	wait("install")
	if names()["greet"] == nil {
		t.Fatal("installed tool not listed")
	}
	if _, err := e.cat.Store().Install(fixtures.ToolDir(t, "greet", "hello.wasm", `"inputSchema": {"type": "object"}, "description": "v2"`)); err == nil {
		// A manifest with a duplicate key is refused; install a real v2.
		t.Fatal("duplicate description accepted")
	}
	dir := fixtures.ToolDir(t, "greet", "hello.wasm", `"inputSchema": {"type": "object"}`)
	m, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(strings.Replace(string(m), "test tool greet", "greets, version 2", 1)), 0o644)
	if _, err := e.cat.Store().Install(dir); err != nil {
		t.Fatal(err)
	}
	wait("replace")
	if d := names()["greet"].Description; d != "greets, version 2" {
		t.Fatalf("after replace: description %q", d)
	}
	if err := e.cat.Store().Remove("greet"); err != nil {
		t.Fatal(err)
	}
	wait("remove")
	if names()["greet"] != nil {
		t.Fatal("removed tool still listed")
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet"}); err == nil {
		t.Error("calling a removed tool: want a protocol error")
	}
	// A grant changes the annotations.
	g, _ := policies.LoadGrants(catalog.PolicyPath(e.home))
	g.Tool("hello").GrantDir(policies.Dir{Host: e.data, Guest: "/out", Writable: true})
	g.Save(catalog.PolicyPath(e.home))
	wait("grant")
	if a := names()["hello"].Annotations; a.ReadOnlyHint || !*a.DestructiveHint {
		t.Errorf("after an rw grant: annotations %+v", a)
	}
}
