package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/sdk/go/agentctl"
)

// client makes the requests. dial and readFile are the host's in the module
// and in-memory fakes in the unit tests.
type client struct {
	// dial opens a TCP connection within timeout; its errors are
	// agentctl.Errno values (as dialHost's are).
	dial func(host string, port int, timeout time.Duration) (net.Conn, error)
	// readFile reads the CA certificates for https://.
	readFile func(name string) ([]byte, error)

	roots *x509.CertPool // loaded on the first https:// request
}

// maxHeaderBytes bounds the status line and headers of one answer (and of
// the 1xx answers before it), as http.Transport's MaxResponseHeaderBytes
// does: a server cannot make fetch hold more.
const maxHeaderBytes = 1 << 20

// readSize is one read of the answer: net_recv moves at most 64 KiB.
const readSize = agentctl.MaxIO

// errHeadersTooLarge: the status line and headers went past maxHeaderBytes.
var errHeadersTooLarge = errors.New("status line and headers larger than 1 MiB")

// usageError is a failure to tell the caller about before connecting: bad
// arguments or a missing CA file (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exchangeError is a request without a complete answer (exit 3).
type exchangeError struct {
	host  string
	port  int
	stage string // "connecting", "sending the request", ...
	err   error
}

func (e *exchangeError) Error() string { return e.err.Error() }
func (e *exchangeError) Unwrap() error { return e.err }

// message words the failure for stderr, with the errno's name from
// docs/host-functions.md where there is one.
func (e *exchangeError) message(timeout time.Duration) string {
	addr := addrText(e.host, e.port)
	errno := agentctl.ErrnoOf(e.err)
	switch {
	case errno == agentctl.ErrDenied:
		return fmt.Sprintf("%s: DENIED by the network grants (%s)", addr, grantHint(e.host, e.port))
	case errno == agentctl.ErrTimeout:
		return fmt.Sprintf("%s: TIMEOUT %s: no answer within --timeout-ms %d", addr, e.stage, timeout.Milliseconds())
	case errno != 0:
		return fmt.Sprintf("%s: %s %s: %v", addr, errno.Name(), e.stage, errno)
	case errors.Is(e.err, io.EOF) || errors.Is(e.err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("%s: the server closed the connection %s", addr, e.stage)
	}
	return fmt.Sprintf("%s: %s: %v", addr, e.stage, e.err)
}

// answer is a response whose status line and headers have been read; its
// body is read from resp.Body over conn.
type answer struct {
	url  *url.URL
	resp *http.Response
	conn net.Conn
}

// roundTrip connects to u's host (TLS for https://), sends one request and
// reads the answer's status line and headers, all before deadline. The
// connection carries one request ("Connection: close").
func (c *client) roundTrip(u *url.URL, method string, header http.Header, hostHeader string, o *options, deadline time.Time) (*answer, error) {
	host, port := hostPort(u)
	var roots *x509.CertPool
	if u.Scheme == "https" {
		var err error
		if roots, err = c.rootCAs(o.ca); err != nil {
			return nil, err
		}
	}
	fail := func(stage string, err error) error { return &exchangeError{host, port, stage, err} }
	wait := time.Until(deadline)
	if wait <= 0 {
		return nil, fail("connecting", agentctl.ErrTimeout)
	}
	conn, err := c.dial(host, port, wait)
	if err != nil {
		return nil, fail("connecting", err)
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	_ = conn.SetDeadline(deadline)
	if roots != nil {
		tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12})
		if err := tc.Handshake(); err != nil {
			return nil, fail("in the TLS handshake", err)
		}
		conn = tc
	}
	req := &http.Request{
		Method: method, URL: u, Header: header, Host: hostHeader,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Close: true, // one request per connection: no pool to keep
	}
	// Request.Write buffers and flushes once: one net_send for the request.
	if err := req.Write(conn); err != nil {
		return nil, fail("sending the request", err)
	}
	lim := &headerLimit{r: conn, left: maxHeaderBytes}
	br := bufio.NewReaderSize(lim, readSize)
	var resp *http.Response
	for informational := 0; ; informational++ {
		if resp, err = http.ReadResponse(br, req); err != nil {
			return nil, fail("waiting for the answer", err)
		}
		// 1xx answers (103 Early Hints, an unasked 100 Continue) come before
		// the real one; 101 would switch protocols, which fetch never asks.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols || informational == 8 {
			break
		}
	}
	lim.left = -1 // the body is bounded by --max-bytes instead
	ok = true
	return &answer{url: u, resp: resp, conn: conn}, nil
}

// rootCAs loads the CA certificates https:// needs, once: --ca, or the
// bundle granted at /certs.
func (c *client) rootCAs(file string) (*x509.CertPool, error) {
	if c.roots != nil {
		return c.roots, nil
	}
	name := file
	if name == "" {
		name = defaultCAFile
	}
	pem, err := c.readFile(name)
	if err != nil {
		if file == "" {
			return nil, usageError{fmt.Sprintf("https:// needs CA certificates, and %s cannot be read (%v): grant the host's bundle (agent-ctl grant fetch --dir /etc/ssl/certs:/certs:ro), or give --ca FILE, a PEM file in a granted directory", defaultCAFile, plainErr(err))}
		}
		return nil, usageError{fmt.Sprintf("--ca %s: %v (the file must be in a directory granted to fetch, e.g. agent-ctl grant fetch --dir DIR:/certs:ro)", file, plainErr(err))}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usageError{fmt.Sprintf("%s: no PEM certificate in it", name)}
	}
	c.roots = pool
	return pool, nil
}

// plainErr drops the "open NAME:" of a *fs.PathError: the message names
// the file already.
func plainErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// headerLimit reads from r; while left >= 0 at most left bytes more, then
// errHeadersTooLarge.
type headerLimit struct {
	r    io.Reader
	left int64 // -1: no limit
}

func (l *headerLimit) Read(p []byte) (int, error) {
	if l.left < 0 {
		return l.r.Read(p)
	}
	if l.left == 0 {
		return 0, errHeadersTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// redirectTarget is where a redirect answer points, or "" for an answer that
// is not a redirect (or one without Location, which cannot be followed).
func redirectTarget(resp *http.Response) string {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return resp.Header.Get("Location")
	}
	return ""
}

// sensitive are request headers that go only to the origin they were given
// for: a redirect elsewhere drops them, as browsers and curl do.
var sensitive = []string{"Authorization", "Proxy-Authorization", "Cookie", "Cookie2"}

// origin is scheme://host:port, the port always written.
func origin(u *url.URL) string {
	host, port := hostPort(u)
	return u.Scheme + "://" + addrText(strings.ToLower(host), port)
}

// fetch makes the request, follows redirects, prints the answer and returns
// the exit code.
func (c *client) fetch(o *options, stdout, stderr io.Writer) int {
	deadline := time.Now().Add(o.timeout)
	u, header, hostHeader := o.url, o.header.Clone(), o.host
	var from *answer // the redirect being followed
	for redirects := 0; ; redirects++ {
		a, err := c.roundTrip(u, o.method, header, hostHeader, o, deadline)
		if err != nil {
			var ue usageError
			if errors.As(err, &ue) {
				fmt.Fprintf(stderr, "fetch: %v\n", err)
				return exitUsage
			}
			msg := err.Error()
			var ee *exchangeError
			if errors.As(err, &ee) {
				msg = ee.message(o.timeout)
			}
			if from != nil {
				msg = fmt.Sprintf("following redirect %d (%s from %s) to %s: %s", redirects, from.resp.Status, from.url.Redacted(), u.Redacted(), msg)
			}
			fmt.Fprintf(stderr, "fetch: %s\n", msg)
			return exitFailed
		}
		loc := redirectTarget(a.resp)
		if loc == "" || o.noFollow {
			defer a.conn.Close()
			if loc != "" {
				fmt.Fprintf(stderr, "fetch: %s: redirect to %s not followed (--no-follow)\n", a.resp.Status, loc)
			}
			return c.output(a, o, stdout, stderr)
		}
		a.conn.Close() // its body is not read
		next, err := u.Parse(loc)
		if err == nil {
			err = checkURL(next)
		}
		if err != nil {
			fmt.Fprintf(stderr, "fetch: %s: %s redirects to %q, which cannot be followed: %v\n", u.Redacted(), a.resp.Status, loc, err)
			return exitFailed
		}
		if redirects == maxRedirects {
			fmt.Fprintf(stderr, "fetch: too many redirects: %d followed, and %s redirects again (%s) to %s\n", maxRedirects, u.Redacted(), a.resp.Status, next.Redacted())
			return exitFailed
		}
		if origin(next) != origin(u) {
			for _, name := range sensitive {
				if header.Get(name) != "" {
					fmt.Fprintf(stderr, "fetch: not sending %s to %s (a redirect to another origin)\n", name, origin(next))
					header.Del(name)
				}
			}
			if hostHeader != "" {
				fmt.Fprintf(stderr, "fetch: not sending Host: %s to %s (a redirect to another origin)\n", hostHeader, origin(next))
				hostHeader = ""
			}
		}
		next.Fragment, next.RawFragment = "", ""
		from, u = a, next
	}
}
