package protocol

import (
	"bytes"
	"encoding/gob"
	"errors"
	"net"
	"sync/atomic"
)

// The handshake keeps a stray agent-ctl binary from being mistaken for a
// worker and refuses workers of another protocol version. Both halves of
// the wire read it from here: go-plugin's client in the supervisor, and
// the worker's own server (serve_unix.go), which does not link go-plugin.
const (
	protocolVersion = 1
	cookieKey       = "AGENT_CTL_WORKER"
	cookieValue     = "7b0f1c52-worker-one-call"
)

// dialer opens a stream to the supervisor by broker ID (go-plugin's
// MuxBroker.Dial has this shape; so has the worker's own broker).
type dialer interface {
	Dial(id uint32) (net.Conn, error)
}

const pluginName = "worker"

// PrepareReply carries a Prepare answer and its typed error over net/rpc,
// which would otherwise flatten the error to a string.
type PrepareReply struct {
	Prepared Prepared
	Err      *Error
}

// RunReply carries a Run answer and its typed error, as PrepareReply does.
type RunReply struct {
	Result Result
	Err    *Error
}

// rpcServer runs inside the worker.
type rpcServer struct {
	impl Worker
	// broker opens streams to the supervisor: go-plugin's MuxBroker in
	// a worker served by go-plugin, the worker's own otherwise.
	broker dialer
	// ran is set by the first Run, over the RPC or the call channel: a
	// worker serves one call.
	ran atomic.Bool
}

func (s *rpcServer) Prepare(req Request, reply *PrepareReply) error {
	p, err := s.impl.Prepare(&req)
	if p != nil {
		reply.Prepared = *p
	}
	reply.Err = toWire(err)
	if err == nil && req.CallFD > 0 {
		// Waiting in the kernel from now on, so that the call wakes
		// this goroutine's thread directly.
		go s.serveCall(req.CallFD)
	}
	return nil
}

func (s *rpcServer) Run(args RunArgs, reply *RunReply) error {
	s.run(&args, reply)
	return nil
}

// run serves a call that arrived over either path.
func (s *rpcServer) run(args *RunArgs, reply *RunReply) {
	if !s.ran.CompareAndSwap(false, true) {
		reply.Err = toWire(errors.New("the worker has served its call already"))
		return
	}
	var network Network
	if args.NetID != 0 {
		nc, err := dialNetwork(s.broker, args.NetID)
		if err != nil {
			reply.Err = toWire(err)
			return
		}
		defer nc.c.Close()
		network = nc
	}
	r, err := s.impl.Run(args, network)
	if r != nil {
		reply.Result = *r
	}
	reply.Err = toWire(err)
}

func toWire(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: KindInternal, Msg: err.Error()}
}

// WarmCodec encodes and decodes each message type once, so that gob
// compiles its codecs off the call path (it caches them per type).
func WarmCodec() {
	var buf bytes.Buffer
	enc, dec := gob.NewEncoder(&buf), gob.NewDecoder(&buf)
	for _, pair := range [][2]any{
		{&Request{Dirs: []Dir{{}}}, &Request{}},
		{&PrepareReply{Err: &Error{}}, &PrepareReply{}},
		{&RunReply{Result: Result{Frames: []string{""}}, Err: &Error{}}, &RunReply{}},
		{&RunArgs{Args: []string{""}, Env: []string{""}, NetID: 1}, &RunArgs{}},
	} {
		if enc.Encode(pair[0]) == nil {
			_ = dec.Decode(pair[1])
		}
	}
}
