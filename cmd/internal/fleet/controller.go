package fleet

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// ControllerOptions configures a Controller.
type ControllerOptions struct {
	// Listen is the NATS client address, HOST:PORT; empty means
	// 127.0.0.1:4222. Port 0 picks a free port (see Controller.URL). Off
	// loopback it needs TLSCert and TLSKey.
	Listen string
	// TLSCert and TLSKey are the server's certificate and key files (PEM).
	// With them every client connection is TLS; without them the
	// controller listens on a loopback address only.
	TLSCert, TLSKey string
	// Cluster joins this controller to others (cluster.go); the zero
	// value runs it alone.
	Cluster ClusterOptions
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// ErrNeedTLS refuses a controller that would listen off loopback in clear
// text: credentials and results would cross the network readable.
var ErrNeedTLS = errors.New("a controller that listens on a non-loopback address needs TLS (--tls-cert and --tls-key)")

// loopback reports whether host names only this machine. An empty host,
// or 0.0.0.0, is every interface: not loopback.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// A Controller is the fleet's embedded NATS server, with JetStream and its
// state under the controller's home.
type Controller struct {
	srv *server.Server
	id  *Identity
	log *slog.Logger
	// nc is the controller's own admin connection, which serves reloads.
	nc  *nats.Conn
	res *server.MemAccResolver
	// own is the server's certificate, which the controller's own
	// in-process connection pins; nil without TLS.
	own []byte
	// Created is true when this start created the fleet's identity.
	Created bool
	// replicas is how many copies the fleet's streams keep: 1 alone, up
	// to 3 in a cluster.
	replicas int
	// clustered is true when the server is a node of a cluster.
	clustered bool
	// closed is closed by Close.
	closed chan struct{}
	// kv is the cluster's state bucket (clusterstate.go), nil until the
	// cluster has created it and always nil alone; stateMu guards it.
	stateMu sync.Mutex
	kv      jetstream.KeyValue
	// retrying is true while a failed share is retried.
	retrying atomic.Bool
	// reloadMu serializes Reload: the admin's requests and the cluster's
	// revocations arrive on different goroutines.
	reloadMu sync.Mutex
}

// StartController starts the fleet's NATS server for the controller whose
// home is home, creating its identity on first start.
func StartController(home string, o ControllerOptions) (*Controller, error) {
	dir := Dir(home)
	id, created, err := LoadIdentity(dir)
	if err != nil {
		return nil, err
	}
	host, port := "127.0.0.1", 4222
	if o.Listen != "" {
		h, p, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("invalid --listen %q: %w", o.Listen, err)
		}
		if port, err = strconv.Atoi(p); err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("invalid --listen %q: bad port", o.Listen)
		}
		host = h
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if o.TLSCert == "" && !loopback(host) {
		return nil, fmt.Errorf("listening on %s: %w", host, ErrNeedTLS)
	}
	oc, err := id.operatorClaims()
	if err != nil {
		return nil, err
	}
	accounts, err := id.accountClaims()
	if err != nil {
		return nil, err
	}
	res := &server.MemAccResolver{}
	for pub, ac := range accounts {
		tok, err := ac.Encode(id.operator)
		if err != nil {
			return nil, fmt.Errorf("signing account %s: %w", pub, err)
		}
		if err := res.Store(pub, tok); err != nil {
			return nil, fmt.Errorf("loading account %s: %w", pub, err)
		}
	}
	var own []byte
	opts := &server.Options{
		ServerName:       "agent-ctl",
		Host:             host,
		Port:             port,
		TrustedOperators: []*jwt.OperatorClaims{oc},
		AccountResolver:  res,
		SystemAccount:    oc.SystemAccount,
		JetStream:        true,
		StoreDir:         filepath.Join(dir, "jetstream"),
		NoSigs:           true,
		NoLog:            true,
		MaxPayload:       maxPayload,
	}
	if o.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: o.TLSCert, KeyFile: o.TLSKey})
		if err != nil {
			return nil, fmt.Errorf("loading the controller's TLS certificate: %w", err)
		}
		opts.TLS, opts.TLSConfig, opts.TLSTimeout = true, tc, 5
		if len(tc.Certificates) == 0 || len(tc.Certificates[0].Certificate) == 0 {
			return nil, errors.New("loading the controller's TLS certificate: no certificate in " + o.TLSCert)
		}
		own = tc.Certificates[0].Certificate[0]
	}
	replicas, err := o.applyCluster(opts, id)
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("starting the fleet's NATS server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("starting the fleet's NATS server on %s: not ready after 30s", net.JoinHostPort(host, strconv.Itoa(port)))
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{srv: srv, id: id, log: log, res: res, own: own, Created: created, replicas: replicas, clustered: o.Cluster.Name != "", closed: make(chan struct{})}
	if err := c.setup(); err != nil {
		c.Close()
		return nil, err
	}
	if err := statefile.WriteFile(filepath.Join(dir, urlFile), []byte(c.URL()+"\n"), 0o600); err != nil {
		c.Close()
		return nil, fmt.Errorf("writing the controller's URL: %w", err)
	}
	return c, nil
}

// URL is the address agents and fleet commands connect to.
func (c *Controller) URL() string { return c.srv.ClientURL() }

// AdminCreds is the path of the admin's credentials file.
func (c *Controller) AdminCreds() string { return filepath.Join(c.id.dir, AdminCreds) }

// Identity is the controller's fleet identity, which issues join tokens.
func (c *Controller) Identity() *Identity { return c.id }

// Close stops the server, waiting for it to finish.
func (c *Controller) Close() {
	close(c.closed)
	if c.nc != nil {
		c.nc.Close()
	}
	c.srv.Shutdown()
	c.srv.WaitForShutdown()
}

// setup creates what the fleet's commands rely on: the stream that keeps
// each node's last status, and the admin's reload request.
func (c *Controller) setup() error {
	// A generous connect timeout: on a loaded machine the in-process
	// handshake alone has taken more than the default 2 s.
	opts := []nats.Option{nats.UserCredentials(c.AdminCreds()), nats.Name("agent-ctl controller"), nats.InProcessServer(c.srv), nats.Timeout(30 * time.Second)}
	if c.own != nil {
		// The in-process connection is a pipe to this server, which still
		// speaks TLS on it: it trusts exactly the server's own certificate,
		// whoever signed it.
		opts = append(opts, nats.Secure(&tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, // replaced by the pin below
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) == 0 || !bytes.Equal(raw[0], c.own) {
					return errors.New("the in-process connection met another certificate than the controller's own")
				}
				return nil
			},
		}))
	}
	nc, err := nats.Connect(c.URL(), opts...)
	if err != nil {
		return fmt.Errorf("connecting to the fleet's NATS server: %w", err)
	}
	c.nc = nc
	if _, err := nc.Subscribe(reloadSubject, func(m *nats.Msg) {
		reply := "ok"
		if err := c.Reload(); err != nil {
			c.log.Error("reloading the fleet's revocations", "err", err)
			reply = "error: " + err.Error()
		} else {
			// The admin recorded a revocation in this home: the
			// cluster's other controllers apply it too.
			c.shareRevocations()
		}
		_ = m.Respond([]byte(reply))
	}); err != nil {
		return fmt.Errorf("serving reloads: %w", err)
	}
	if err := c.serveKills(); err != nil {
		return err
	}
	if err := c.serveMissedDeploys(); err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := c.createStream(js); err != nil {
		return err
	}
	c.startState(js)
	return nil
}

// Reload applies the revocations recorded in the fleet directory to the
// running server: a revoked agent's connection is closed, and it is
// refused at its next connect.
func (c *Controller) Reload() error {
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	accounts, err := c.id.accountClaims()
	if err != nil {
		return err
	}
	pub, err := c.id.account.PublicKey()
	if err != nil {
		return err
	}
	acc, err := c.srv.LookupAccount(pub)
	if err != nil {
		return fmt.Errorf("looking up the fleet account: %w", err)
	}
	ac := accounts[pub]
	tok, err := ac.Encode(c.id.operator)
	if err != nil {
		return fmt.Errorf("signing the fleet account: %w", err)
	}
	if err := c.res.Store(pub, tok); err != nil {
		return fmt.Errorf("storing the fleet account: %w", err)
	}
	c.srv.UpdateAccountClaims(acc, ac)
	return nil
}
