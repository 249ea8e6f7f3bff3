//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-ctl/agent-ctl/tests/mcptest"
	"github.com/agent-ctl/agent-ctl/tests/procfs"
)

// usage is what a soak samples of the server process.
type usage struct {
	rssKiB, hwmKiB, fds int
}

func sampleUsage(b *testing.B, pid int) usage {
	st := procfs.Status(b, pid)
	var u usage
	fmt.Sscanf(st["VmRSS"], "%d", &u.rssKiB)
	fmt.Sscanf(st["VmHWM"], "%d", &u.hwmKiB)
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		b.Fatal(err)
	}
	u.fds = len(ents)
	return u
}

func createToken(b *testing.B, home string) string {
	out, err := exec.Command(bin, "--home", home, "token", "create", "bench").Output()
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func connectB(b *testing.B, url, token string) *mcp.ClientSession {
	return mcptest.Connect(b, "soak", url, mcptest.Bearer{Token: token}, nil)
}

// BenchmarkServeSoak: 8 go-sdk clients make 10,000 calls of hello to
// `agent-ctl serve` (each answer checked: none lost or crossed) while 16
// idle sessions hold their event streams open, a session is opened and
// abandoned every 100 calls (expired by --session-idle 5s), slow clients
// trickle request bodies (cut by --read-timeout 2s) and 100 idle
// keep-alive connections sit on /healthz. It reports the server's RSS
// and open descriptors at the start, the middle and the end, and fails if
// they grow (descriptors by more than 32, RSS by more than half).
func BenchmarkServeSoak(b *testing.B) {
	const clients, calls = 8, 10000
	home := installHelloB(b)
	token := createToken(b, home)
	url, pid := startServePid(b, home, "--session-idle", "5s", "--read-timeout", "2s")
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/mcp")
	warm := connectB(b, url, token)
	for i := 0; i < 20; i++ {
		if _, err := warm.CallTool(context.Background(), &mcp.CallToolParams{Name: "hello", Arguments: map[string]any{"name": "warm"}}); err != nil {
			b.Fatal(err)
		}
	}
	warm.Close()
	start := sampleUsage(b, pid)

	ctx, stop := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	defer func() { stop(); bg.Wait() }()
	var idle []*mcp.ClientSession
	for i := 0; i < 16; i++ {
		idle = append(idle, connectB(b, url, token))
	}
	var keepAlive []net.Conn
	for i := 0; i < 100; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		keepAlive = append(keepAlive, c)
	}
	var slowCut atomic.Int64
	for i := 0; i < 4; i++ {
		bg.Add(1)
		go func() { // a slow client: a body at two bytes a second, again and again
			defer bg.Done()
			for ctx.Err() == nil {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 200\r\n\r\n", addr, token)
				cut := make(chan struct{})
				go func() { io.Copy(io.Discard, c); close(cut) }()
				t := time.NewTicker(500 * time.Millisecond)
			trickle:
				for {
					select {
					case <-cut:
						slowCut.Add(1)
						break trickle
					case <-ctx.Done():
						break trickle
					case <-t.C:
						c.Write([]byte(" "))
					}
				}
				t.Stop()
				c.Close()
			}
		}()
	}

	var done, failed atomic.Int64
	var mid usage
	var midOnce sync.Once
	abandoned := 0
	var abandonMu sync.Mutex
	began := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs := connectB(b, url, token)
			defer cs.Close()
			for i := 0; i < calls/clients; i++ {
				name := fmt.Sprintf("c%d-%d", c, i)
				r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "hello", Arguments: map[string]any{"name": name}})
				if err != nil || r.IsError || mcptest.Text(r) != "hello, "+name+"\n" {
					if failed.Add(1) <= 5 {
						b.Errorf("call %s: %v %v", name, err, r)
					}
				}
				n := done.Add(1)
				if n == calls/2 {
					midOnce.Do(func() { mid = sampleUsage(b, pid) })
				}
				if n%100 == 0 { // a client that opens a session and goes away
					abandonMu.Lock()
					abandoned++
					abandonMu.Unlock()
					req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"gone","version":"1"}}}`))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Accept", "application/json, text/event-stream")
					req.Header.Set("Authorization", "Bearer "+token)
					if res, err := http.DefaultClient.Do(req); err == nil {
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(began)
	stop()
	bg.Wait()
	for _, cs := range idle {
		cs.Close()
	}
	for _, c := range keepAlive {
		c.Close()
	}
	time.Sleep(7 * time.Second) // the abandoned sessions expire (--session-idle 5s)
	end := sampleUsage(b, pid)
	line := fmt.Sprintf("serve_soak calls=%d failed=%d calls_per_s=%.1f abandoned_sessions=%d slow_bodies_cut=%d "+
		"rss_kib=%d/%d/%d fds=%d/%d/%d (start/middle/end) hwm_kib=%d",
		done.Load(), failed.Load(), float64(done.Load())/took.Seconds(), abandoned, slowCut.Load(),
		start.rssKiB, mid.rssKiB, end.rssKiB, start.fds, mid.fds, end.fds, end.hwmKiB)
	fmt.Println(line)
	b.ReportMetric(float64(end.rssKiB), "end_rss_KiB")
	b.ReportMetric(float64(end.fds), "end_fds")
	if failed.Load() > 0 {
		b.Errorf("%d of %d calls failed", failed.Load(), calls)
	}
	if end.fds > start.fds+32 {
		b.Errorf("descriptors grew: %d at the start, %d at the end", start.fds, end.fds)
	}
	if end.rssKiB > mid.rssKiB*3/2 {
		b.Errorf("RSS grew: %d KiB in the middle, %d KiB at the end", mid.rssKiB, end.rssKiB)
	}
}

// BenchmarkServeFlood: 16 concurrent calls of a tool that floods its
// output up to a 16 MiB --max-output, through `agent-ctl serve`: the
// server's peak RSS (VmHWM), which the buffered-output budget bounds.
// $AGENTCTL_SERVE_ARGS adds flags to serve (e.g. --max-buffered-output).
func BenchmarkServeFlood(b *testing.B) {
	home := b.TempDir()
	installFixture(b, home, "flood", "flood.wasm", `"inputSchema": {"type": "object"}, "limits": {"maxOutput": "16MiB"}`)
	token := createToken(b, home)
	url, pid := startServePid(b, home, strings.Fields(os.Getenv("AGENTCTL_SERVE_ARGS"))...)
	cs := connectB(b, url, token)
	defer cs.Close()
	before := sampleUsage(b, pid)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "flood"})
			if err != nil || !r.IsError || !strings.Contains(mcptest.Text(r), "output limit") {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	after := sampleUsage(b, pid)
	fmt.Printf("serve_flood calls=16 unexpected=%d rss_kib=%d->%d hwm_kib=%d->%d args=%q\n",
		bad.Load(), before.rssKiB, after.rssKiB, before.hwmKiB, after.hwmKiB, os.Getenv("AGENTCTL_SERVE_ARGS"))
	b.ReportMetric(float64(after.hwmKiB), "hwm_KiB")
	if bad.Load() > 0 {
		b.Errorf("%d floods did not end at the output limit", bad.Load())
	}
}
