package protocol

import (
	"fmt"
	"time"
)

// Errno is what an agent_ctl host function returns to the module; the
// values are the ABI of docs/host-functions.md. The constants, and every
// SDK's copy of them, are generated from one table (errnogen/table.go).
type Errno int32

//go:generate go run ./errnogen -root ../..

func (e Errno) String() string {
	if e >= 0 && int(e) < len(errnoNames) {
		return errnoNames[e]
	}
	return fmt.Sprintf("errno(%d)", int32(e))
}

// Per-call bounds of the network host functions (docs/host-functions.md).
const (
	MaxConns        = 16
	MaxIO           = 64 << 10
	MaxProbes       = 65536
	MaxProbeText    = 4 << 20
	ProbeParallel   = 256
	DefaultNetWait  = 5 * time.Second
	MaxNetWait      = 30 * time.Second
	MaxHostnameText = 253
)

// Network is what the supervisor does on a module's behalf: the agent_ctl
// host functions, checked against the call's network grants. The worker
// reaches it over the go-plugin connection it already has.
type Network interface {
	Connect(host string, port int, timeout time.Duration) (handle int32, errno Errno)
	Send(handle int32, data []byte) (n int, errno Errno)
	Recv(handle int32, max int, timeout time.Duration) (data []byte, errno Errno)
	Close(handle int32) Errno
	// Probe connects to each HOST:PORT line of targets and reports one
	// status byte per line (the errno values OK..Invalid).
	Probe(targets string, timeout time.Duration) ([]byte, Errno)
}

// Wire messages of the Net service.
type (
	NetConnectArgs struct {
		Host    string
		Port    int
		Timeout time.Duration
	}
	NetSendArgs struct {
		Handle int32
		Data   []byte
	}
	NetRecvArgs struct {
		Handle  int32
		Max     int
		Timeout time.Duration
	}
	NetProbeArgs struct {
		Targets string
		Timeout time.Duration
	}
	NetReply struct {
		Errno  Errno
		Handle int32
		N      int
		Data   []byte
	}
)

// netService serves a Network in the supervisor.
type netService struct{ n Network }

func (s *netService) Connect(a NetConnectArgs, r *NetReply) error {
	r.Handle, r.Errno = s.n.Connect(a.Host, a.Port, a.Timeout)
	return nil
}

func (s *netService) Send(a NetSendArgs, r *NetReply) error {
	r.N, r.Errno = s.n.Send(a.Handle, a.Data)
	return nil
}

func (s *netService) Recv(a NetRecvArgs, r *NetReply) error {
	r.Data, r.Errno = s.n.Recv(a.Handle, a.Max, a.Timeout)
	return nil
}

func (s *netService) Close(h int32, r *NetReply) error {
	r.Errno = s.n.Close(h)
	return nil
}

func (s *netService) Probe(a NetProbeArgs, r *NetReply) error {
	r.Data, r.Errno = s.n.Probe(a.Targets, a.Timeout)
	return nil
}

// netClient is the worker's view of the supervisor's Network.
type netClient struct{ c *rpcConn }

func dialNetwork(b dialer, id uint32) (*netClient, error) {
	conn, err := b.Dial(id)
	if err != nil {
		return nil, fmt.Errorf("connecting to the supervisor's network service: %w", err)
	}
	return &netClient{c: newRPCConn(conn)}, nil
}

func (n *netClient) call(method string, args any) NetReply {
	var r NetReply
	if err := n.c.Call("Net."+method, args, &r); err != nil {
		r.Errno = IOError
	}
	return r
}

func (n *netClient) Connect(host string, port int, timeout time.Duration) (int32, Errno) {
	r := n.call("Connect", NetConnectArgs{Host: host, Port: port, Timeout: timeout})
	return r.Handle, r.Errno
}

func (n *netClient) Send(h int32, data []byte) (int, Errno) {
	r := n.call("Send", NetSendArgs{Handle: h, Data: data})
	return r.N, r.Errno
}

func (n *netClient) Recv(h int32, max int, timeout time.Duration) ([]byte, Errno) {
	r := n.call("Recv", NetRecvArgs{Handle: h, Max: max, Timeout: timeout})
	return r.Data, r.Errno
}

func (n *netClient) Close(h int32) Errno { return n.call("Close", h).Errno }

func (n *netClient) Probe(targets string, timeout time.Duration) ([]byte, Errno) {
	r := n.call("Probe", NetProbeArgs{Targets: targets, Timeout: timeout})
	return r.Data, r.Errno
}
