package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/loopback"
)

// fetchAnswer is fetch's --json document.
type fetchAnswer struct {
	URL          string              `json:"url"`
	Status       int                 `json:"status"`
	StatusText   string              `json:"statusText"`
	Headers      map[string][]string `json:"headers"`
	Truncated    bool                `json:"truncated"`
	Length       int                 `json:"length"`
	BodyEncoding string              `json:"bodyEncoding"`
	Body         string              `json:"body"`
}

// countingServer is an httptest server on 127.0.0.1 that counts the
// connections it accepted.
func countingServer(t *testing.T, h http.Handler, tls bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	s := httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s, &conns
}

// TestFetch installs modules/fetch once and fetches from loopback servers
// through the CLI: nothing granted (DENIED, no connection made), then with
// the servers' ports granted: a page, --json, HEAD, a 404, a header echoed,
// --max-bytes, a redirect within the grant and one to a port not granted
// (DENIED, and that listener never connected to), a server that never
// answers (TIMEOUT), and https:// with a CA from a granted directory.
func TestFetch(t *testing.T) {
	home := t.TempDir()
	code, out, errs := runIn(t, home, "", "install", repoPath("modules/fetch"))
	expect(t, "install", code, out, errs, 0, "installed fetch 1.0.0", "")
	expect(t, "install asks", code, out, errs, 0, "network: 127.0.0.1/32 ports 80,8080", "")

	ungranted := loopback.Listen(t, loopback.Close)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the page\n")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s x-probe=%q user-agent=%q\n", r.Method, r.URL, r.Header.Get("X-Probe"), r.UserAgent())
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("chunked") {
			w.(http.Flusher).Flush() // no Content-Length: the body is chunked
		} else {
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		}
		w.Write(big)
	})
	mux.HandleFunc("/binary", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte{0x89, 'P', 'N', 'G', 0xff, 0})
	})
	mux.HandleFunc("/to-page", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/page", http.StatusFound)
	})
	mux.HandleFunc("/to-ungranted", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("http://127.0.0.1:%d/page", ungranted.Port()), http.StatusMovedPermanently)
	})
	srv, srvConns := countingServer(t, mux, false)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	secure, _ := countingServer(t, mux, true)
	securePort := secure.Listener.Addr().(*net.TCPAddr).Port
	silent := loopback.Listen(t, loopback.Hold)

	// Nothing granted: DENIED by the supervisor, the server never connected to.
	code, out, errs = runIn(t, home, "", "fetch", "--url", srv.URL+"/page")
	expect(t, "no grant", code, out, errs, 3, "", fmt.Sprintf("fetch: 127.0.0.1:%d: DENIED by the network grants (agent-ctl grant fetch --net 127.0.0.1:%d)\n", port, port))
	expect(t, "no grant, agent-ctl says", code, out, errs, 3, "", "agent-ctl: fetch: not granted: network: 127.0.0.1/32 ports 80,8080")
	if n := srvConns.Load(); n != 0 {
		t.Fatalf("denied fetch: the server saw %d connections", n)
	}

	// Granted: the three servers' ports (not the ungranted listener's), and a
	// directory holding the TLS server's certificate at /certs.
	certs := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(certs, "test-ca.pem"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runIn(t, home, "", "grant", "fetch", "--net", fmt.Sprintf("127.0.0.1/32:%d,%d,%d", port, securePort, silent.Port()), "--dir", certs+":/certs:ro")
	expect(t, "grant", code, out, errs, 0, "", "")

	// In-process calls cannot run in parallel (urfave/cli's help and version
	// flags are globals it writes to): they share the home, where the module
	// is compiled once.
	fetch := func(args ...string) (int, string, string) {
		t.Helper()
		return runIn(t, home, "", append([]string{"fetch"}, args...)...)
	}
	t.Run("calls", func(t *testing.T) {
		for _, tc := range []cliCase{
			{"a page", []string{"--url", srv.URL + "/page"}, 0, "hello from the page\n", ""},
			{"404", []string{"--url", srv.URL + "/missing"}, 1, "404 page not found\n", fmt.Sprintf("fetch: %s/missing: 404 Not Found\n", srv.URL)},
			{"a header sent and echoed", []string{"--url", srv.URL + "/echo?a=1", "--header", "X-Probe: hello there", "--header", "User-Agent: e2e"}, 0,
				"GET /echo?a=1 x-probe=\"hello there\" user-agent=\"e2e\"\n", ""},
			{"--max-bytes", []string{"--url", srv.URL + "/big", "--max-bytes", "100"}, 0, string(big[:100]),
				"fetch: body truncated: first 100 bytes printed (--max-bytes 100), of 1048576 (Content-Length)\n"},
			{"--max-bytes, chunked", []string{"--url", srv.URL + "/big?chunked", "--max-bytes", "70000"}, 0, string(big[:70000]),
				"fetch: body truncated: first 70000 bytes printed (--max-bytes 70000), the server sent more\n"},
			{"1 MiB whole", []string{"--url", srv.URL + "/big?chunked"}, 0, string(big), ""},
			{"a redirect within the grant", []string{"--url", srv.URL + "/to-page"}, 0, "hello from the page\n", ""},
			{"a redirect to a port not granted", []string{"--url", srv.URL + "/to-ungranted"}, 3, "",
				fmt.Sprintf("fetch: following redirect 1 (301 Moved Permanently from %s/to-ungranted) to http://127.0.0.1:%d/page: 127.0.0.1:%d: DENIED by the network grants (agent-ctl grant fetch --net 127.0.0.1:%d)\n",
					srv.URL, ungranted.Port(), ungranted.Port(), ungranted.Port())},
			{"https with a CA from the granted directory", []string{"--url", secure.URL + "/echo", "--ca", "/certs/test-ca.pem", "--header", "X-Probe: tls"}, 0,
				"GET /echo x-probe=\"tls\" user-agent=\"agent-ctl-fetch/1.0\"\n", ""},
			{"https without the bundle", []string{"--url", secure.URL + "/page"}, 2, "",
				"fetch: https:// needs CA certificates, and /certs/ca-certificates.crt cannot be read (No such file or directory)"},
			{"a server that never answers", []string{"--url", fmt.Sprintf("http://127.0.0.1:%d/", silent.Port()), "--timeout-ms", "500"}, 3, "",
				fmt.Sprintf("fetch: 127.0.0.1:%d: TIMEOUT waiting for the answer: no answer within --timeout-ms 500\n", silent.Port())},
			{"not a URL it takes", []string{"--url", "file:///etc/passwd"}, 125, "", "--url"},
			{"the tool's own usage error", []string{"--url", "http://u:p@127.0.0.1/"}, 2, "", "fetch: --url \"http://u:p@127.0.0.1/\": credentials in the URL are refused"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, out, errs := fetch(tc.args...)
				tc.check(t, "agent-ctl fetch", code, out, errs)
				if strings.Contains(errs, "not granted") {
					t.Fatalf("agent-ctl fetch %q: stderr says the grant is missing: %q", tc.args, errs)
				}
			})
		}
		t.Run("HEAD", func(t *testing.T) {
			code, out, errs := fetch("--url", srv.URL+"/page", "--method", "HEAD")
			expect(t, "HEAD", code, out, errs, 0, "HTTP/1.1 200 OK\nContent-Length: 20\nContent-Type: text/plain; charset=utf-8\nDate: ", "")
		})
		t.Run("--no-follow", func(t *testing.T) {
			code, out, errs := fetch("--url", srv.URL+"/to-ungranted", "--no-follow")
			expect(t, "--no-follow", code, out, errs, 0, "<a href=\"http://127.0.0.1:", "fetch: 301 Moved Permanently: redirect to http://127.0.0.1:")
		})
		for _, tc := range []struct{ path, body, encoding string }{
			{"/page", "hello from the page\n", "text"},
			{"/binary", "iVBOR/8A", "base64"},
		} {
			t.Run("json "+tc.path, func(t *testing.T) {
				code, out, errs := fetch("--url", srv.URL+tc.path, "--json")
				expect(t, "json "+tc.path, code, out, errs, 0, "", "")
				checkOutputSchema(t, "modules/fetch", out)
				var doc fetchAnswer
				if err := json.Unmarshal([]byte(out), &doc); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				if doc.URL != srv.URL+tc.path || doc.Status != 200 || doc.StatusText != "OK" || doc.Body != tc.body || doc.BodyEncoding != tc.encoding ||
					doc.Truncated || doc.Length != len(tc.body) && tc.encoding == "text" || len(doc.Headers["content-type"]) != 1 || len(doc.Headers["date"]) != 1 {
					t.Errorf("json %s: %+v", tc.path, doc)
				}
			})
		}
		t.Run("json HEAD after a redirect", func(t *testing.T) {
			code, out, errs := fetch("--url", srv.URL+"/to-page", "--json", "--method", "HEAD")
			checkOutputSchema(t, "modules/fetch", out)
			for _, want := range []string{`{"url":"` + srv.URL + `/page","status":200,"statusText":"OK",`, `"truncated":false,"length":0,"bodyEncoding":"text","body":""}` + "\n"} {
				expect(t, "json HEAD", code, out, errs, 0, want, "")
			}
		})
	})
	if n := ungranted.Count(); n != 0 {
		t.Errorf("the port not granted was connected to %d times", n)
	}
	if n := silent.Count(); n != 1 {
		t.Errorf("the silent server saw %d connections, want 1", n)
	}
}
