package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
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
	// 127.0.0.1:4222. Port 0 picks a free port (see Controller.URL). The
	// host must be a loopback address until the controller serves TLS.
	Listen string
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// A Controller is the fleet's embedded NATS server, with JetStream and its
// state under the controller's home.
type Controller struct {
	srv *server.Server
	id  *Identity
	// Created is true when this start created the fleet's identity.
	Created bool
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
	if !loopback(host) {
		return nil, fmt.Errorf("listening on %s: not a loopback address, and the controller serves no TLS yet: calls, their output and the server's identity would cross the network unprotected (listen on 127.0.0.1, see docs/fleet.md)", net.JoinHostPort(host, strconv.Itoa(port)))
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	oc, err := id.operatorClaims()
	if err != nil {
		return nil, err
	}
	accounts, err := id.accountJWTs()
	if err != nil {
		return nil, err
	}
	res := &server.MemAccResolver{}
	for pub, tok := range accounts {
		if err := res.Store(pub, tok); err != nil {
			return nil, fmt.Errorf("loading account %s: %w", pub, err)
		}
	}
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
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("starting the fleet's NATS server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("starting the fleet's NATS server on %s: not ready after 30s", net.JoinHostPort(host, strconv.Itoa(port)))
	}
	c := &Controller{srv: srv, id: id, Created: created}
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

// loopback reports whether host names only this machine. An empty host,
// or 0.0.0.0, is every interface: not loopback.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL is the address agents and fleet commands connect to.
func (c *Controller) URL() string { return c.srv.ClientURL() }

// AdminCreds is the path of the admin's credentials file.
func (c *Controller) AdminCreds() string { return filepath.Join(c.id.dir, AdminCreds) }

// Identity is the controller's fleet identity, which issues join tokens.
func (c *Controller) Identity() *Identity { return c.id }

// Close stops the server, waiting for it to finish.
func (c *Controller) Close() {
	c.srv.Shutdown()
	c.srv.WaitForShutdown()
}

// setup creates what the fleet's commands rely on: the stream that keeps
// each node's last status.
func (c *Controller) setup() error {
	nc, err := nats.Connect(c.URL(), nats.UserCredentials(c.AdminCreds()), nats.Name("agent-ctl controller"))
	if err != nil {
		return fmt.Errorf("connecting to the fleet's NATS server: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              StatusStream,
		Description:       "the last status of each agent-ctl agent",
		Subjects:          []string{statusPrefix + "*"},
		MaxMsgsPerSubject: 1,
		MaxMsgSize:        maxStatus,
		Storage:           jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("creating the status stream: %w", err)
	}
	return nil
}
