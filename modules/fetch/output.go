package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agent-ctl/agent-ctl/modules/sdk/go/agentctl"
)

// output reads the answer's body (at most --max-bytes) and prints it: as it
// arrives in text mode, as one JSON document at the end with --json.
func (c *client) output(a *answer, o *options, stdout, stderr io.Writer) int {
	resp := a.resp
	w := bufio.NewWriterSize(stdout, readSize)
	code := exitOK
	if resp.StatusCode >= 400 {
		code = exitStatus
		fmt.Fprintf(stderr, "fetch: %s: %s\n", a.url.Redacted(), resp.Status)
	}

	var chunks chunkBuf
	sink := func(p []byte) error { _, err := w.Write(p); return err }
	if o.json {
		sink = chunks.write
	} else if o.method == "HEAD" {
		writeHead(w, resp)
	}
	n, truncated, err := readBody(resp, o.maxBytes, sink)
	var bodyErr *exchangeError // the connection failed while the body was read
	switch {
	case errors.Is(err, errSink):
		fmt.Fprintf(stderr, "fetch: %v\n", err)
		return exitFailed
	case err != nil:
		host, port := hostPort(a.url)
		bodyErr = &exchangeError{host, port, fmt.Sprintf("reading the body (after %d bytes)", n), err}
	}
	if o.json {
		writeJSON(w, a, &chunks, truncated || bodyErr != nil, bodyErr, o.timeout)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "fetch: writing the output: %v\n", err)
		return exitFailed
	}
	if truncated {
		more := "the server sent more"
		if resp.ContentLength > o.maxBytes {
			more = fmt.Sprintf("of %d (Content-Length)", resp.ContentLength)
		}
		fmt.Fprintf(stderr, "fetch: body truncated: first %d bytes printed (--max-bytes %d), %s\n", n, o.maxBytes, more)
	}
	if bodyErr != nil {
		fmt.Fprintf(stderr, "fetch: %s\n", bodyErr.message(o.timeout))
		return exitFailed
	}
	return code
}

// errSink wraps an error of the output, to tell it from one of the body.
var errSink = errors.New("writing the output")

// readBody reads resp.Body into sink, at most max bytes. truncated says
// there was more: Content-Length says so, or one more byte came. An error of
// the connection comes back with the count of bytes read before it.
func readBody(resp *http.Response, max int64, sink func([]byte) error) (n int64, truncated bool, err error) {
	if resp.Body == http.NoBody || resp.Body == nil { // HEAD, 1xx, 204, 304
		return 0, false, nil
	}
	buf := make([]byte, readSize)
	for n < max {
		k, rerr := resp.Body.Read(buf[:min(int64(len(buf)), max-n)])
		if k > 0 {
			if err := sink(buf[:k]); err != nil {
				return n, false, fmt.Errorf("%w: %v", errSink, err)
			}
			n += int64(k)
		}
		if rerr == io.EOF {
			return n, false, nil
		}
		if rerr != nil {
			return n, false, rerr
		}
	}
	if resp.ContentLength >= 0 {
		return n, resp.ContentLength > n, nil
	}
	// No length given (chunked, or until the server closes): one more byte
	// or the end tells.
	k, rerr := io.ReadFull(resp.Body, buf[:1])
	return n, k > 0 || rerr != io.EOF, nil
}

// writeHead prints the status line and the headers, sorted by name (text
// mode, HEAD: the answer has no body).
func writeHead(w io.Writer, resp *http.Response) {
	fmt.Fprintf(w, "%s %s\n", resp.Proto, resp.Status)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range resp.Header {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, v := range resp.Header[name] {
			fmt.Fprintf(w, "%s: %s\n", name, v)
		}
	}
}

// chunkSize is the size of chunkBuf's pieces; tests make it small.
var chunkSize = 64 << 10

// chunkBuf holds a body in pieces of chunkSize bytes: growing it never
// copies what it holds, so a 16 MiB body needs 16 MiB, not up to 32.
type chunkBuf struct {
	chunks [][]byte
	n      int
}

func (b *chunkBuf) write(p []byte) error {
	for len(p) > 0 {
		if len(b.chunks) == 0 || len(b.chunks[len(b.chunks)-1]) == chunkSize {
			b.chunks = append(b.chunks, make([]byte, 0, chunkSize))
		}
		last := &b.chunks[len(b.chunks)-1]
		k := min(len(p), chunkSize-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
		b.n += k
	}
	return nil
}

// runes calls f with the held bytes in pieces that never split a UTF-8
// sequence, and reports whether all of it is valid UTF-8. f may be nil.
func (b *chunkBuf) runes(f func([]byte)) bool {
	valid := true
	var joined, carry []byte
	for i, seg := range b.chunks {
		if len(carry) > 0 { // the incomplete rune at the end of the chunk before
			joined = append(append(joined[:0], carry...), seg...)
			seg = joined
		}
		cut := len(seg)
		if i < len(b.chunks)-1 {
			cut = runeCut(seg)
		}
		carry = append(carry[:0], seg[cut:]...)
		valid = valid && utf8.Valid(seg[:cut])
		if f != nil && cut > 0 {
			f(seg[:cut])
		}
	}
	return valid
}

// runeCut is where p ends without an incomplete UTF-8 sequence at its end.
func runeCut(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				return i
			}
			return len(p)
		}
	}
	return len(p)
}

// writeJSON prints the answer as one JSON document (the manifest's
// outputSchema), the body streamed from the pieces it was read into.
func writeJSON(w *bufio.Writer, a *answer, body *chunkBuf, truncated bool, bodyErr *exchangeError, timeout time.Duration) {
	headers := map[string][]string{}
	for k, v := range a.resp.Header {
		headers[strings.ToLower(k)] = v
	}
	text := body.runes(nil)
	encoding := "text"
	if !text {
		encoding = "base64"
	}
	head := agentctl.Obj(
		"url", a.url.Redacted(),
		"status", a.resp.StatusCode,
		"statusText", strings.TrimSpace(strings.TrimPrefix(a.resp.Status, fmt.Sprint(a.resp.StatusCode))),
		"headers", headers,
		"truncated", truncated,
		"length", body.n,
		"bodyEncoding", encoding,
	)
	if bodyErr != nil {
		head = append(head, agentctl.Member{Key: "error", Value: bodyErr.message(timeout)})
	}
	b := agentctl.AppendJSON(nil, head)
	w.Write(b[:len(b)-1]) // without the closing brace: the body follows
	w.WriteString(`,"body":"`)
	if text {
		var q []byte
		body.runes(func(p []byte) {
			q = agentctl.AppendQuote(q[:0], string(p))
			w.Write(q[1 : len(q)-1])
		})
	} else {
		enc := base64.NewEncoder(base64.StdEncoding, w)
		for _, c := range body.chunks {
			enc.Write(c)
		}
		enc.Close()
	}
	w.WriteString("\"}\n") // a write error stays in w: Flush reports it
}
