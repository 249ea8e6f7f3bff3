// fetch: an HTTP/1.1 client for agent-ctl. It has no network of its own: each
// connection is opened by the supervisor through the agent_ctl host functions
// (net_connect, net_send, net_recv, net_close), only to hosts and ports the
// operator granted. Requests are written with net/http's Request.Write and
// answers read with http.ReadResponse, on one goroutine (see README.md, "Why
// not http.Client"). Built with GOOS=wasip1 GOARCH=wasm: see Makefile.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/sdk/go/agentctl"
)

// Exit codes.
const (
	exitOK     = 0 // a 2xx or 3xx answer
	exitStatus = 1 // a 4xx or 5xx answer (its body is printed all the same)
	exitUsage  = 2 // bad arguments, or https:// without CA certificates
	exitFailed = 3 // no complete answer: connection denied, refused, timed out; a bad answer; too many redirects
)

// Defaults and bounds of the parameters (the manifest's schema says the same).
const (
	defaultMaxBytes  = 1 << 20
	maxMaxBytes      = 16 << 20
	defaultTimeout   = 10 * time.Second
	maxTimeout       = 25 * time.Second // under the manifest's 30 s limit, so fetch reports a timeout itself
	maxRedirects     = 5
	defaultCAFile    = "/certs/ca-certificates.crt"
	defaultUserAgent = "agent-ctl-fetch/1.0"
)

const usage = "usage: fetch --url URL [--method GET|HEAD] [--header 'NAME: VALUE' ...] [--max-bytes N] [--timeout-ms N] [--json] [--no-follow] [--ca FILE]"

// argSpec is the flags, for agentctl.ParseArgs.
const argSpec = "url method header max-bytes:int timeout-ms:int json:bool no-follow:bool ca"

// options are the parsed arguments.
type options struct {
	url      *url.URL
	method   string      // GET or HEAD
	header   http.Header // --header values, canonical names, without Host
	host     string      // a Host header given with --header, or ""
	maxBytes int64
	timeout  time.Duration
	json     bool
	noFollow bool
	ca       string // "": defaultCAFile, for https:// only
}

func main() {
	os.Exit(run(os.Args[1:], &client{dial: dialHost, readFile: os.ReadFile}, os.Stdout, os.Stderr))
}

// run is the whole tool; c holds what touches the host, so that tests can
// run it natively with in-memory connections.
func run(args []string, c *client, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "fetch: %v\n", err)
		return exitUsage
	}
	return c.fetch(opts, stdout, stderr)
}

func parseArgs(args []string) (*options, error) {
	a, err := agentctl.ParseArgs("fetch", argSpec, args)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, usage)
	}
	if len(a.Positional()) > 0 {
		return nil, fmt.Errorf("unexpected argument %q (%s)", a.Positional()[0], usage)
	}
	o := &options{
		method:   a.String("method", "GET"),
		header:   http.Header{"User-Agent": {defaultUserAgent}},
		json:     a.Bool("json"),
		noFollow: a.Bool("no-follow"),
		ca:       a.String("ca", ""),
	}
	if !a.Has("url") {
		return nil, fmt.Errorf("--url is required (%s)", usage)
	}
	if o.url, err = parseURL(a.String("url", "")); err != nil {
		return nil, err
	}
	if o.method != "GET" && o.method != "HEAD" {
		return nil, fmt.Errorf("--method %q: want GET or HEAD", o.method)
	}
	userAgent := false
	for _, h := range a.All("header") {
		name, value, err := parseHeader(h)
		if err != nil {
			return nil, err
		}
		switch name {
		case "Host":
			if o.host != "" {
				return nil, fmt.Errorf("--header %q: Host given twice", h)
			}
			o.host = value
			continue
		case "User-Agent":
			if !userAgent {
				o.header.Del(name) // the caller's replaces the default
				userAgent = true
			}
		}
		o.header.Add(name, value)
	}
	o.maxBytes = a.Int("max-bytes", defaultMaxBytes)
	if o.maxBytes < 0 || o.maxBytes > maxMaxBytes {
		return nil, fmt.Errorf("--max-bytes %d: want 0 to %d (16 MiB)", o.maxBytes, maxMaxBytes)
	}
	ms := a.Int("timeout-ms", defaultTimeout.Milliseconds())
	if ms < 1 || ms > maxTimeout.Milliseconds() {
		return nil, fmt.Errorf("--timeout-ms %d: want 1 to %d", ms, maxTimeout.Milliseconds())
	}
	o.timeout = time.Duration(ms) * time.Millisecond
	if o.ca != "" && o.url.Scheme != "https" {
		return nil, fmt.Errorf("--ca is for https:// URLs only")
	}
	return o, nil
}

// parseURL accepts an absolute http:// or https:// URL with a host, without
// credentials.
func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without "parse URL": the message quotes it
		}
		return nil, fmt.Errorf("--url %q: %v", s, err)
	}
	if err := checkURL(u); err != nil {
		return nil, fmt.Errorf("--url %q: %v", s, err)
	}
	return u, nil
}

// checkURL is what a URL must be, given on the command line or in a
// redirect's Location.
func checkURL(u *url.URL) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		if u.Scheme == "" {
			return fmt.Errorf("want an absolute http:// or https:// URL")
		}
		return fmt.Errorf("scheme %q is not supported: want http:// or https://", u.Scheme)
	case u.Opaque != "":
		return fmt.Errorf("want http://HOST/PATH")
	case u.User != nil:
		return fmt.Errorf("credentials in the URL are refused (they would show in messages and in the output): send them with --header 'Authorization: ...'")
	case u.Hostname() == "":
		return fmt.Errorf("no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %s is outside 1..65535", p)
		}
	}
	return nil
}

// hostPort is where u connects: its host (without brackets) and port.
func hostPort(u *url.URL) (string, int) {
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p) // checkURL checked it
	}
	return u.Hostname(), port
}

// hopByHop are header fields fetch writes itself or that would change how
// the message is framed: a caller's value would desynchronise the answer.
var hopByHop = map[string]bool{
	"Connection": true, "Content-Length": true, "Transfer-Encoding": true, "Keep-Alive": true,
	"Te": true, "Trailer": true, "Upgrade": true, "Proxy-Connection": true,
}

// parseHeader reads "Name: value": a name of token characters, a value
// without control characters (tabs allowed), trimmed of spaces and tabs.
func parseHeader(h string) (name, value string, err error) {
	name, value, ok := strings.Cut(h, ":")
	if !ok {
		return "", "", fmt.Errorf("--header %q: want 'Name: value'", h)
	}
	if name == "" {
		return "", "", fmt.Errorf("--header %q: empty name", h)
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return "", "", fmt.Errorf("--header %q: name %q: %q is not allowed in a header name", h, name, name[i])
		}
	}
	value = strings.Trim(value, " \t")
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return "", "", fmt.Errorf("--header %q: control character %q in the value", h, c)
		}
	}
	name = http.CanonicalHeaderKey(name)
	if hopByHop[name] {
		return "", "", fmt.Errorf("--header %q: %s is set by fetch itself (one request per connection, no request body)", h, name)
	}
	if name == "Host" {
		if _, err := url.Parse("http://" + value + "/"); err != nil || value == "" || strings.ContainsAny(value, "/?#@ ") {
			return "", "", fmt.Errorf("--header %q: not a host", h)
		}
	}
	return name, value, nil
}

// isTokenChar: RFC 9110's tchar.
func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// grantHint is the grant that would allow host:port, as `agent-ctl grant`
// reads it (an IPv6 address without brackets: the port follows the last colon).
func grantHint(host string, port int) string {
	return fmt.Sprintf("agent-ctl grant fetch --net %s:%d", host, port)
}

// addrText is host:port as people write it ([::1]:8080).
func addrText(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
