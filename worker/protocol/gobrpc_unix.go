//go:build unix

package protocol

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
)

// The worker serves the supervisor's calls only on Unix; on Windows
// go-plugin's own server does (serve_windows.go).

// rpcMethod decodes a call's argument with dec and answers it.
type rpcMethod func(dec *gob.Decoder) (reply any, err error)

// errBadArgument ends serving: a stream whose argument does not decode
// is out of step, and nothing after it can be trusted.
var errBadArgument = errors.New("decoding an argument")

// method makes an rpcMethod of f, whose argument is an A.
func method[A, R any](f func(A, *R) error) rpcMethod {
	return func(dec *gob.Decoder) (any, error) {
		var a A
		if err := dec.Decode(&a); err != nil {
			return nil, fmt.Errorf("%w: %w", errBadArgument, err)
		}
		r := new(R)
		return r, f(a, r)
	}
}

// serveRPC answers calls on conn, one at a time and in order, until the
// supervisor closes the stream or sends something that does not decode. A
// call of a method not in methods gets net/rpc's error for it.
func serveRPC(conn io.ReadWriteCloser, methods map[string]rpcMethod) {
	defer conn.Close()
	w := bufio.NewWriter(conn)
	dec, enc := gob.NewDecoder(bufio.NewReader(conn)), gob.NewEncoder(w)
	for {
		var req rpcRequest
		if err := dec.Decode(&req); err != nil {
			return
		}
		var reply any
		var err error
		if m, ok := methods[req.ServiceMethod]; ok {
			reply, err = m(dec)
			if errors.Is(err, errBadArgument) {
				return
			}
		} else {
			if dec.Decode(discard) != nil {
				return
			}
			err = fmt.Errorf("rpc: can't find method %s", req.ServiceMethod)
		}
		resp := rpcResponse{ServiceMethod: req.ServiceMethod, Seq: req.Seq}
		if err != nil {
			resp.Error, reply = err.Error(), struct{}{}
		}
		if enc.Encode(&resp) != nil || enc.Encode(reply) != nil || w.Flush() != nil {
			return
		}
	}
}
