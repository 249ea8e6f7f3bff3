package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/sdk/go/agentctl"
)

// fakeConn is a connection whose server side is a script: what it reads is
// resp, in pieces of at most piece bytes (0: as asked), then readErr (io.EOF
// when nil). What fetch sends is kept in sent.
type fakeConn struct {
	r       io.Reader
	readErr error
	sent    bytes.Buffer
	closed  bool
}

func (c *fakeConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF && c.readErr != nil {
		err = c.readErr
	}
	return n, err
}
func (c *fakeConn) Write(p []byte) (int, error)      { return c.sent.Write(p) }
func (c *fakeConn) Close() error                     { c.closed = true; return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return hostAddr("") }
func (c *fakeConn) RemoteAddr() net.Addr             { return hostAddr("") }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// server is the script of one host:port: every connection to it reads resp.
type server struct {
	resp    string
	piece   int   // read resp in pieces of this size (0: as asked)
	readErr error // after resp, instead of io.EOF
	dialErr error // refuse the connection with this
}

// fakeNet is the network: servers by "host:port", every other address
// DENIED, as an ungranted one is.
type fakeNet struct {
	servers map[string]server
	dialed  []string
	conns   []*fakeConn
	files   map[string][]byte
}

func (f *fakeNet) dial(host string, port int, timeout time.Duration) (net.Conn, error) {
	addr := addrText(host, port)
	f.dialed = append(f.dialed, addr)
	s, ok := f.servers[addr]
	if !ok {
		return nil, agentctl.ErrDenied
	}
	if s.dialErr != nil {
		return nil, s.dialErr
	}
	var r io.Reader = strings.NewReader(s.resp)
	if s.piece == 1 {
		r = iotest.OneByteReader(r)
	} else if s.piece > 0 {
		r = &pieceReader{r, s.piece}
	}
	c := &fakeConn{r: r, readErr: s.readErr}
	f.conns = append(f.conns, c)
	return c, nil
}

func (f *fakeNet) readFile(name string) ([]byte, error) {
	if b, ok := f.files[name]; ok {
		return b, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (f *fakeNet) fetch(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &client{dial: f.dial, readFile: f.readFile}, &out, &errb)
	return code, out.String(), errb.String()
}

// pieceReader reads at most n bytes at a time.
type pieceReader struct {
	r io.Reader
	n int
}

func (p *pieceReader) Read(b []byte) (int, error) { return p.r.Read(b[:min(len(b), p.n)]) }

// reply builds an HTTP/1.1 answer.
func reply(status string, body string, headers ...string) string {
	return "HTTP/1.1 " + status + "\r\n" + strings.Join(append(headers, ""), "\r\n") + "\r\n" + body
}

func clen(body string) string { return "Content-Length: " + strconv.Itoa(len(body)) }

// chunked encodes body in chunks of n bytes, with an extension and a trailer.
func chunked(body string, n int) string {
	var b strings.Builder
	for len(body) > 0 {
		k := min(n, len(body))
		fmt.Fprintf(&b, "%x;ext=1\r\n%s\r\n", k, body[:k])
		body = body[k:]
	}
	return b.String() + "0\r\nX-Trailer: t\r\n\r\n"
}

const site = "10.0.0.1:8080"

func TestParseArgs(t *testing.T) {
	o, err := parseArgs([]string{"--url", "http://[::1]:8080/a/b?q=1#f", "--method", "HEAD", "--header", "X-A:  b c\t", "--header", "host: example.org:81",
		"--header", "user-agent: me", "--header", "X-A: d", "--header", "X-Empty:", "--max-bytes", "0", "--timeout-ms", "25000", "--json", "--no-follow"})
	if err != nil {
		t.Fatal(err)
	}
	host, port := hostPort(o.url)
	want := http.Header{"X-A": {"b c", "d"}, "User-Agent": {"me"}, "X-Empty": {""}}
	if host != "::1" || port != 8080 || o.method != "HEAD" || o.host != "example.org:81" || fmt.Sprint(o.header) != fmt.Sprint(want) ||
		o.maxBytes != 0 || o.timeout != 25*time.Second || !o.json || !o.noFollow {
		t.Errorf("options: %s:%d %+v", host, port, o)
	}
	o, err = parseArgs([]string{"--url", "https://example.org/"})
	if err != nil {
		t.Fatal(err)
	}
	if host, port := hostPort(o.url); host != "example.org" || port != 443 || o.method != "GET" || o.maxBytes != 1<<20 || o.timeout != 10*time.Second ||
		o.header.Get("User-Agent") != "agent-ctl-fetch/1.0" {
		t.Errorf("defaults: %s:%d %+v", host, port, o)
	}
}

func TestParseArgs_errors(t *testing.T) {
	for want, args := range map[string][]string{
		"--url is required":                        {"--method", "GET"},
		"unknown flag --data":                      {"--url", "http://h/", "--data", "x"},
		`unexpected argument "extra"`:              {"--url", "http://h/", "extra"},
		`--url "h/x": want an absolute http://`:    {"--url", "h/x"},
		`--url "ftp://h/": scheme "ftp"`:           {"--url", "ftp://h/"},
		`--url "http:///x": no host`:               {"--url", "http:///x"},
		`--url "http://h:0/": port 0 is outside`:   {"--url", "http://h:0/"},
		`--url "http://h:99999/": port 99999`:      {"--url", "http://h:99999/"},
		`--url "http://h:x/": invalid port ":x"`:   {"--url", "http://h:x/"},
		"credentials in the URL are refused":       {"--url", "http://u:p@h/"},
		`--method "POST": want GET or HEAD`:        {"--url", "http://h/", "--method", "POST"},
		"--max-bytes 16777217: want 0 to 16777216": {"--url", "http://h/", "--max-bytes", "16777217"},
		"--max-bytes -1":                           {"--url", "http://h/", "--max-bytes", "-1"},
		"--timeout-ms 0: want 1 to 25000":          {"--url", "http://h/", "--timeout-ms", "0"},
		"--ca is for https:// URLs only":           {"--url", "http://h/", "--ca", "/certs/x.pem"},
		"Host given twice":                         {"--url", "http://h/", "--header", "Host: a", "--header", "Host: b"},
		`--header "X-A": want 'Name: value'`:       {"--url", "http://h/", "--header", "X-A"},
	} {
		_, err := parseArgs(args)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", args, err, want)
		}
	}
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct{ in, name, value, err string }{
		{"accept: text/html", "Accept", "text/html", ""},
		{"X-Token:abc:def", "X-Token", "abc:def", ""},
		{"X-Tab: a\tb ", "X-Tab", "a\tb", ""},
		{"Host: example.org:8080", "Host", "example.org:8080", ""},
		{": v", "", "", "empty name"},
		{"X A: v", "", "", `' ' is not allowed in a header name`},
		{"X-A: v\r\nX-B: w", "", "", `control character '\r'`},
		{"X-A: v\x00", "", "", `control character '\x00'`},
		{"Content-Length: 5", "", "", "Content-Length is set by fetch itself"},
		{"transfer-encoding: chunked", "", "", "Transfer-Encoding is set by fetch itself"},
		{"Connection: keep-alive", "", "", "Connection is set by fetch itself"},
		{"Host: a/b", "", "", "not a host"},
		{"Host:", "", "", "not a host"},
	} {
		name, value, err := parseHeader(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || name != tc.name || value != tc.value {
			t.Errorf("%q: %q %q %v, want %q %q", tc.in, name, value, err, tc.name, tc.value)
		}
	}
}

// FuzzParseHeader checks that what parseHeader accepts writes as exactly one
// header line.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"A: b", "X-A:\tv\t", "a b: c", "A: b\r\nC: d", "A: \x7f", "Host: h:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, value, err := parseHeader(s)
		if err != nil {
			return
		}
		var b bytes.Buffer
		http.Header{name: {value}}.Write(&b)
		if line := b.String(); strings.Count(line, "\r\n") != 1 || strings.ContainsAny(strings.TrimSuffix(line, "\r\n"), "\r\n\x00") {
			t.Fatalf("%q: accepted as %q", s, line)
		}
	})
}

// TestRequest checks the bytes sent: request line, Host, one request per
// connection, the caller's headers.
func TestRequest(t *testing.T) {
	f := &fakeNet{servers: map[string]server{site: {resp: reply("200 OK", "", "Content-Length: 0")}}}
	code, out, errs := f.fetch("--url", "http://"+site+"/p%20q?a=1&b#frag", "--header", "X-A: 1", "--header", "x-a: 2", "--header", "Host: vhost.example")
	if code != 0 || out != "" || errs != "" {
		t.Fatalf("exit %d stdout %q stderr %q", code, out, errs)
	}
	want := "GET /p%20q?a=1&b HTTP/1.1\r\nHost: vhost.example\r\nUser-Agent: agent-ctl-fetch/1.0\r\nConnection: close\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
	if got := f.conns[0].sent.String(); got != want {
		t.Errorf("request\n got %q\nwant %q", got, want)
	}
	if !f.conns[0].closed {
		t.Error("connection left open")
	}
}

// TestBodies reads each framing (Content-Length, chunked, until close),
// whole and one byte per read, with and without --max-bytes cutting it.
func TestBodies(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 5000) + "end" // 80003 bytes: more than one read
	framings := map[string]string{
		"content-length": reply("200 OK", body, clen(body), "Content-Type: text/plain"),
		"chunked":        reply("200 OK", chunked(body, 7000), "Transfer-Encoding: chunked"),
		"until close":    reply("200 OK", body, "Connection: close"),
	}
	for name, resp := range framings {
		for _, piece := range []int{0, 1, 4093} {
			for _, tc := range []struct {
				max       int
				truncated bool
			}{{1 << 20, false}, {len(body), false}, {len(body) - 1, true}, {100, true}, {0, true}} {
				t.Run(fmt.Sprintf("%s/piece=%d/max=%d", name, piece, tc.max), func(t *testing.T) {
					f := &fakeNet{servers: map[string]server{site: {resp: resp, piece: piece}}}
					code, out, errs := f.fetch("--url", "http://"+site+"/", "--max-bytes", strconv.Itoa(tc.max))
					want := body[:min(tc.max, len(body))]
					if code != 0 || out != want {
						t.Fatalf("exit %d, %d bytes (want %d), stderr %q", code, len(out), len(want), errs)
					}
					if cut := strings.Contains(errs, "fetch: body truncated: first "+strconv.Itoa(len(want))+" bytes printed"); cut != tc.truncated {
						t.Errorf("stderr %q, want truncated %v", errs, tc.truncated)
					}
				})
			}
		}
	}
}

func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		srv    server
		args   []string
		code   int
		stdout string // exact
		stderr string // substring
	}{
		{"404 prints its body, exit 1", server{resp: reply("404 Not Found", "no such page\n", clen("no such page\n"))}, nil, 1, "no such page\n", "fetch: http://10.0.0.1:8080/: 404 Not Found"},
		{"500", server{resp: reply("500 Internal Server Error", "", "Content-Length: 0")}, nil, 1, "", "500 Internal Server Error"},
		{"304 has no body", server{resp: reply("304 Not Modified", "", "ETag: x")}, nil, 0, "", ""},
		{"204", server{resp: reply("204 No Content", "", "")}, nil, 0, "", ""},
		{"1xx answers are skipped", server{resp: "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" + reply("200 OK", "hi", clen("hi"))}, nil, 0, "hi", ""},
		{"HTTP/1.0 until close", server{resp: "HTTP/1.0 200 OK\r\n\r\nold"}, nil, 0, "old", ""},
		{"HEAD prints the head", server{resp: reply("200 OK", "", "Content-Length: 1000", "B: 2", "A: 1", "b: 3")}, []string{"--method", "HEAD"}, 0,
			"HTTP/1.1 200 OK\nA: 1\nB: 2\nB: 3\nContent-Length: 1000\n", ""},
		{"a redirect without Location is an answer", server{resp: reply("302 Found", "x", clen("x"))}, nil, 0, "x", ""},
		{"--no-follow", server{resp: reply("301 Moved Permanently", "moved", clen("moved"), "Location: /new")}, []string{"--no-follow"}, 0, "moved",
			"fetch: 301 Moved Permanently: redirect to /new not followed (--no-follow)"},
		{"refused", server{dialErr: agentctl.ErrRefused}, nil, 3, "", "fetch: 10.0.0.1:8080: REFUSED connecting: connection refused"},
		{"unreachable", server{dialErr: agentctl.ErrUnreachable}, nil, 3, "", "fetch: 10.0.0.1:8080: UNREACHABLE connecting: host unreachable"},
		{"connect timeout", server{dialErr: agentctl.ErrTimeout}, []string{"--timeout-ms", "700"}, 3, "", "fetch: 10.0.0.1:8080: TIMEOUT connecting: no answer within --timeout-ms 700"},
		{"no answer in time", server{readErr: agentctl.ErrTimeout}, []string{"--timeout-ms", "500"}, 3, "", "fetch: 10.0.0.1:8080: TIMEOUT waiting for the answer: no answer within --timeout-ms 500"},
		{"closed without an answer", server{}, nil, 3, "", "fetch: 10.0.0.1:8080: the server closed the connection waiting for the answer"},
		{"not HTTP", server{resp: "SSH-2.0-OpenSSH_9.2\r\n"}, nil, 3, "", `fetch: 10.0.0.1:8080: waiting for the answer: malformed HTTP response "SSH-2.0-OpenSSH_9.2"`},
		{"headers without end", server{resp: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 1000)+"\r\n", 1100)}, nil, 3, "",
			"fetch: 10.0.0.1:8080: waiting for the answer: status line and headers larger than 1 MiB"},
		{"body cut short", server{resp: reply("200 OK", "part", "Content-Length: 10")}, nil, 3, "part", "fetch: 10.0.0.1:8080: the server closed the connection reading the body (after 4 bytes)"},
		{"body stalls", server{resp: reply("200 OK", "part", "Content-Length: 10"), readErr: agentctl.ErrTimeout}, []string{"--timeout-ms", "300"}, 3, "part",
			"fetch: 10.0.0.1:8080: TIMEOUT reading the body (after 4 bytes): no answer within --timeout-ms 300"},
		{"bad chunk", server{resp: reply("200 OK", "4\r\nabcd\r\nzz\r\n", "Transfer-Encoding: chunked")}, nil, 3, "abcd", "reading the body (after 4 bytes): invalid byte in chunk length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeNet{servers: map[string]server{site: tc.srv}}
			code, out, errs := f.fetch(append([]string{"--url", "http://" + site + "/"}, tc.args...)...)
			if code != tc.code || out != tc.stdout || !strings.Contains(errs, tc.stderr) || (tc.stderr == "" && errs != "") {
				t.Fatalf("got exit %d stdout %q stderr %q\nwant exit %d stdout %q stderr containing %q", code, out, errs, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestOutputFails(t *testing.T) {
	big := strings.Repeat("x", 200000)
	for _, args := range [][]string{{}, {"--json"}} {
		f := &fakeNet{servers: map[string]server{site: {resp: reply("200 OK", big, clen(big))}}}
		var errb bytes.Buffer
		code := run(append([]string{"--url", "http://" + site + "/"}, args...), &client{dial: f.dial, readFile: f.readFile}, failingWriter{}, &errb)
		if code != 3 || errb.String() != "fetch: writing the output: broken pipe\n" {
			t.Errorf("%q: exit %d stderr %q", args, code, errb.String())
		}
	}
}

func TestDenied(t *testing.T) {
	f := &fakeNet{}
	code, out, errs := f.fetch("--url", "http://[::1]:8081/x")
	if code != 3 || out != "" || errs != "fetch: [::1]:8081: DENIED by the network grants (agent-ctl grant fetch --net ::1:8081)\n" {
		t.Errorf("exit %d stdout %q stderr %q", code, out, errs)
	}
}

// jsonAnswer is the --json document.
type jsonAnswer struct {
	URL          string              `json:"url"`
	Status       int                 `json:"status"`
	StatusText   string              `json:"statusText"`
	Headers      map[string][]string `json:"headers"`
	Truncated    bool                `json:"truncated"`
	Length       int                 `json:"length"`
	BodyEncoding string              `json:"bodyEncoding"`
	Body         string              `json:"body"`
	Error        *string             `json:"error"`
}

func TestJSON(t *testing.T) {
	defer func(n int) { chunkSize = n }(chunkSize)
	chunkSize = 5 // runes and invalid bytes across the pieces' edges
	for _, tc := range []struct {
		name, body string
		base64     bool
	}{
		{"empty", "", false},
		{"ascii", "hello", false},
		{"escapes", "q\" b\\ nl\n tab\t <&> \x01 \u2028", false},
		{"runes across pieces", strings.Repeat("é€😀a", 40), false},
		{"bad byte at a piece's edge", "abcd\xe2\x82", true},
		{"truncated sequence mid-body", "ab\xe2\x82xyzzzz", true},
		{"binary", "\x89PNG\r\n\x1a\n\x00\x00\xff", true},
		{"valid U+FFFD is text", "a\ufffdb", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeNet{servers: map[string]server{site: {resp: reply("200 OK", tc.body, clen(tc.body), "X-Multi: 1", "X-Multi: 2")}}}
			code, out, errs := f.fetch("--url", "http://"+site+"/doc", "--json")
			if code != 0 || errs != "" || !strings.HasSuffix(out, "}\n") || strings.Count(out, "\n") != 1 {
				t.Fatalf("exit %d stderr %q stdout %q", code, errs, out)
			}
			var doc jsonAnswer
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			body := doc.Body
			if tc.base64 {
				b, err := base64.StdEncoding.DecodeString(doc.Body)
				if err != nil || doc.BodyEncoding != "base64" {
					t.Fatalf("base64: %v %s", err, out)
				}
				body = string(b)
			} else if doc.BodyEncoding != "text" {
				t.Fatalf("encoding %q, want text", doc.BodyEncoding)
			}
			if body != tc.body || doc.Length != len(tc.body) || doc.Status != 200 || doc.StatusText != "OK" || doc.URL != "http://"+site+"/doc" ||
				doc.Truncated || doc.Error != nil || fmt.Sprint(doc.Headers["x-multi"]) != "[1 2]" {
				t.Errorf("got %+v\nfrom %s", doc, out)
			}
		})
	}

	// Cut by --max-bytes, or by the connection: truncated, and the error says why.
	f := &fakeNet{servers: map[string]server{site: {resp: reply("404 Not Found", "0123456789", clen("0123456789"))}}}
	code, out, _ := f.fetch("--url", "http://"+site+"/", "--json", "--max-bytes", "4")
	if code != 1 || !strings.Contains(out, `"status":404,"statusText":"Not Found",`) || !strings.Contains(out, `"truncated":true,"length":4,"bodyEncoding":"text","body":"0123"}`) {
		t.Errorf("max-bytes: exit %d %s", code, out)
	}
	f = &fakeNet{servers: map[string]server{site: {resp: reply("200 OK", "0123", "Content-Length: 10")}}}
	code, out, _ = f.fetch("--url", "http://"+site+"/", "--json")
	if code != 3 || !strings.Contains(out, `"truncated":true,"length":4,"bodyEncoding":"text","error":"10.0.0.1:8080: the server closed the connection reading the body (after 4 bytes)","body":"0123"}`) {
		t.Errorf("cut short: exit %d %s", code, out)
	}
}

func TestRedirects(t *testing.T) {
	const other = "10.0.0.2:80"
	redirect := func(status, loc string) server {
		return server{resp: reply(status, "moved", clen("moved"), "Location: "+loc)}
	}
	ok := server{resp: reply("200 OK", "final", clen("final"))}

	t.Run("relative, then to another granted host", func(t *testing.T) {
		f := &fakeNet{servers: map[string]server{site: redirect("302 Found", "/next?x=1"), other: ok}}
		// The relative redirect stays on site: a second script answers it.
		calls := 0
		dial := f.dial
		c := &client{readFile: f.readFile, dial: func(host string, port int, timeout time.Duration) (net.Conn, error) {
			calls++
			if calls == 2 {
				f.servers[site] = redirect("307 Temporary Redirect", "http://10.0.0.2/final#frag")
			}
			return dial(host, port, timeout)
		}}
		var out, errb bytes.Buffer
		code := run([]string{"--url", "http://" + site + "/start", "--header", "Authorization: Bearer s3cret", "--header", "Cookie: a=b", "--header", "X-Keep: 1", "--method", "HEAD"}, c, &out, &errb)
		if code != 0 || out.String() != "HTTP/1.1 200 OK\nContent-Length: 5\n" {
			t.Fatalf("exit %d stdout %q stderr %q", code, out.String(), errb.String())
		}
		if want := "fetch: not sending Authorization to http://10.0.0.2:80 (a redirect to another origin)\nfetch: not sending Cookie to http://10.0.0.2:80 (a redirect to another origin)\n"; errb.String() != want {
			t.Errorf("stderr %q, want %q", errb.String(), want)
		}
		if fmt.Sprint(f.dialed) != "[10.0.0.1:8080 10.0.0.1:8080 10.0.0.2:80]" {
			t.Errorf("dialed %v", f.dialed)
		}
		sent := []string{f.conns[0].sent.String(), f.conns[1].sent.String(), f.conns[2].sent.String()}
		if !strings.HasPrefix(sent[1], "HEAD /next?x=1 HTTP/1.1\r\n") || !strings.Contains(sent[1], "Authorization: Bearer s3cret") {
			t.Errorf("second request %q", sent[1])
		}
		if !strings.HasPrefix(sent[2], "HEAD /final HTTP/1.1\r\nHost: 10.0.0.2\r\n") || strings.Contains(sent[2], "s3cret") || strings.Contains(sent[2], "Cookie") || !strings.Contains(sent[2], "X-Keep: 1") {
			t.Errorf("third request %q", sent[2])
		}
		for i, c := range f.conns {
			if !c.closed {
				t.Errorf("connection %d left open", i)
			}
		}
	})

	for _, tc := range []struct {
		name    string
		servers map[string]server
		code    int
		stderr  string
	}{
		{"to an ungranted host", map[string]server{site: redirect("301 Moved Permanently", "http://10.9.9.9:81/x")}, 3,
			"fetch: following redirect 1 (301 Moved Permanently from http://10.0.0.1:8080/) to http://10.9.9.9:81/x: 10.9.9.9:81: DENIED by the network grants (agent-ctl grant fetch --net 10.9.9.9:81)\n"},
		{"a loop", map[string]server{site: redirect("302 Found", "/")}, 3,
			"fetch: too many redirects: 5 followed, and http://10.0.0.1:8080/ redirects again (302 Found) to http://10.0.0.1:8080/\n"},
		{"to another scheme", map[string]server{site: redirect("302 Found", "ftp://files/x")}, 3,
			`fetch: http://10.0.0.1:8080/: 302 Found redirects to "ftp://files/x", which cannot be followed: scheme "ftp" is not supported: want http:// or https://` + "\n"},
		{"to https without CA", map[string]server{site: redirect("308 Permanent Redirect", "https://10.0.0.1/")}, 2,
			"fetch: https:// needs CA certificates, and /certs/ca-certificates.crt cannot be read (file does not exist): grant the host's bundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeNet{servers: tc.servers}
			code, out, errs := f.fetch("--url", "http://"+site+"/")
			if code != tc.code || out != "" || !strings.HasPrefix(errs, tc.stderr) {
				t.Fatalf("exit %d stdout %q stderr %q\nwant exit %d stderr %q", code, out, errs, tc.code, tc.stderr)
			}
		})
	}
}

// dialTCP dials for real (tests against httptest servers), errors as the
// host's errnos.
func dialTCP(host string, port int, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addrText(host, port), timeout)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil, agentctl.ErrRefused
	}
	return c, err
}

// TestHTTPServer runs fetch against net/http's server (natively): chunked
// answers of unknown length, and TLS with the server's certificate as CA.
func TestHTTPServer(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s ua=%s x=%s\n", r.Method, r.URL, r.UserAgent(), r.Header.Get("X-A"))
		w.(http.Flusher).Flush() // chunked from here
		w.Write(bytes.Repeat([]byte("z"), 100000))
	})
	plain := httptest.NewServer(h)
	defer plain.Close()
	secure := httptest.NewUnstartedServer(h)
	secure.Config.ErrorLog = log.New(io.Discard, "", 0) // the wrong-CA case's handshake error
	secure.StartTLS()
	defer secure.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw})
	f := &fakeNet{files: map[string][]byte{"/certs/test-ca.pem": ca, "/certs/ca-certificates.crt": []byte("not PEM")}}
	for _, tc := range []struct {
		name string
		args []string
		code int
		errs string
	}{
		{"http", []string{"--url", plain.URL + "/p?q", "--header", "X-A: 1"}, 0, ""},
		{"https", []string{"--url", secure.URL + "/p?q", "--header", "X-A: 1", "--ca", "/certs/test-ca.pem"}, 0, ""},
		{"https, default bundle is not PEM", []string{"--url", secure.URL + "/p?q"}, 2, "fetch: /certs/ca-certificates.crt: no PEM certificate in it\n"},
		{"https, missing --ca", []string{"--url", secure.URL + "/p?q", "--ca", "/certs/nope.pem"}, 2, "fetch: --ca /certs/nope.pem: file does not exist (the file must be in a directory granted to fetch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &client{dial: dialTCP, readFile: f.readFile}, &out, &errb)
			if code != tc.code || !strings.HasPrefix(errb.String(), tc.errs) || tc.errs == "" && errb.Len() > 0 {
				t.Fatalf("exit %d stderr %q", code, errb.String())
			}
			if want := "GET /p?q ua=agent-ctl-fetch/1.0 x=1\n" + strings.Repeat("z", 100000); code == 0 && out.String() != want {
				t.Errorf("body: %d bytes, starts %.60q", out.Len(), out.String())
			}
		})
	}
	var out, errb bytes.Buffer
	code := run([]string{"--url", secure.URL}, &client{dial: dialTCP, readFile: func(string) ([]byte, error) {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: plainCert(t)}), nil
	}}, &out, &errb)
	if code != 3 || !strings.Contains(errb.String(), "in the TLS handshake: tls: failed to verify certificate: x509: certificate signed by unknown authority") {
		t.Errorf("wrong CA: exit %d stderr %q", code, errb.String())
	}
}

// plainCert is a self-signed certificate of its own: not the test servers' CA.
func plainCert(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
