package protocol

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"sync"
)

// The worker's side of net/rpc's wire format: on each stream, one gob
// stream each way; a call is a request header then its argument, an answer
// a response header then its reply (an empty struct when Error is set).
// gob matches struct fields by name, so these headers read and write
// net/rpc's own Request and Response. The worker speaks it without the
// net/rpc package, which links net/http, crypto/tls and html/template (for
// its HTTP transport and debug page) into every worker.

// rpcRequest is net/rpc's Request header.
type rpcRequest struct {
	ServiceMethod string
	Seq           uint64
}

// rpcResponse is net/rpc's Response header.
type rpcResponse struct {
	ServiceMethod string
	Seq           uint64
	Error         string
}

// discard is nil: a gob decoder given it drops the next value.
var discard any

// rpcConn calls a net/rpc server over one stream, one call at a time.
type rpcConn struct {
	c io.ReadWriteCloser

	mu  sync.Mutex
	w   *bufio.Writer
	enc *gob.Encoder
	dec *gob.Decoder
	seq uint64
}

func newRPCConn(c io.ReadWriteCloser) *rpcConn {
	w := bufio.NewWriter(c)
	return &rpcConn{c: c, w: w, enc: gob.NewEncoder(w), dec: gob.NewDecoder(bufio.NewReader(c))}
}

// Call calls serviceMethod with args and decodes its answer into reply.
func (c *rpcConn) Call(serviceMethod string, args, reply any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	if err := c.enc.Encode(&rpcRequest{ServiceMethod: serviceMethod, Seq: c.seq}); err != nil {
		return err
	}
	if err := c.enc.Encode(args); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	var resp rpcResponse
	if err := c.dec.Decode(&resp); err != nil {
		return err
	}
	if resp.Seq != c.seq {
		return fmt.Errorf("answer %d to call %d", resp.Seq, c.seq)
	}
	if resp.Error != "" {
		_ = c.dec.Decode(discard)
		return errors.New(resp.Error)
	}
	return c.dec.Decode(reply)
}

// Close closes the stream.
func (c *rpcConn) Close() error { return c.c.Close() }
