package fleet

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// A cluster of controllers: embedded servers joined by routes, JetStream
// clustered, so that the fleet survives the loss of one. Every node runs
// with the same fleet identity (identity.json, copied from the first
// controller's home): the same operator and accounts, so a join token or
// the admin's credentials work on any node, and the route secret below is
// the same on each.

// ClusterOptions joins a controller's server to others.
type ClusterOptions struct {
	// Name is the cluster's name, the same on every node (letters, digits,
	// "-" and "_"); empty: no cluster, the other fields are refused.
	Name string
	// Listen is the route address, HOST:PORT; empty means 127.0.0.1:6222.
	// Off loopback it needs TLS (ControllerOptions.TLSCert, TLSKey and
	// CA).
	Listen string
	// Routes are the other nodes' route URLs (nats-route://HOST:PORT);
	// listing this node's own is harmless, so every node may be given the
	// same list. A route off loopback needs TLS as Listen does.
	Routes []string
	// CA is the CA file that verifies the other nodes' certificates: with
	// TLS, routes are mutual TLS (each node presents
	// ControllerOptions.TLSCert to the others).
	CA string
}

// ErrClusterNeedTLS refuses cluster routes off loopback in clear text:
// every message of the fleet crosses them.
var ErrClusterNeedTLS = errors.New("cluster routes off loopback need TLS (--tls-cert, --tls-key and --cluster-ca)")

// routeUser is the user name the routes authenticate with; the password
// is routeSecret.
const routeUser = "agentctl-route"

var clusterName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// routeSecret is the routes' password: derived from the fleet account's
// seed, so every node that holds the fleet identity has it, and no one
// else can join the cluster as a server (which would see every message).
func (id *Identity) routeSecret() (string, error) {
	seed, err := id.account.Seed()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append([]byte("agent-ctl cluster routes\x00"), seed...))
	return hex.EncodeToString(sum[:]), nil
}

// applyCluster sets the server's cluster options from o. It returns the
// number of replicas the fleet's streams get: one per node up to three.
func (o *ControllerOptions) applyCluster(opts *server.Options, id *Identity) (replicas int, err error) {
	c := o.Cluster
	if c.Name == "" {
		if c.Listen != "" || len(c.Routes) > 0 || c.CA != "" {
			return 0, errors.New("--cluster-listen, --routes and --cluster-ca need --cluster NAME")
		}
		return 1, nil
	}
	if !clusterName.MatchString(c.Name) {
		return 0, fmt.Errorf("invalid --cluster %q: want letters, digits, '-' and '_', at most 64", c.Name)
	}
	listen := c.Listen
	if listen == "" {
		listen = "127.0.0.1:6222"
	}
	host, p, err := net.SplitHostPort(listen)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("invalid --cluster-listen %q: want HOST:PORT with a fixed port", listen)
	}
	if len(c.Routes) == 0 {
		return 0, errors.New("--cluster needs --routes: the other nodes' route URLs")
	}
	var routes []*url.URL
	clear := loopback(host)
	others := map[string]bool{}
	for _, r := range c.Routes {
		u, err := url.Parse(strings.TrimSpace(r))
		if err != nil || (u.Scheme != "nats-route" && u.Scheme != "nats") || u.Hostname() == "" || u.Port() == "" || u.User != nil {
			return 0, fmt.Errorf("invalid route %q: want nats-route://HOST:PORT", r)
		}
		clear = clear && loopback(u.Hostname())
		if !(u.Port() == p && (u.Hostname() == host || loopback(u.Hostname()) && loopback(host))) {
			others[u.Host] = true
		}
		routes = append(routes, u)
	}
	if !clear && (o.TLSCert == "" || c.CA == "") {
		return 0, fmt.Errorf("routing %s to %s: %w", listen, strings.Join(c.Routes, ","), ErrClusterNeedTLS)
	}
	if c.CA != "" && o.TLSCert == "" {
		return 0, errors.New("--cluster-ca needs --tls-cert and --tls-key: each node presents its certificate to the others")
	}
	secret, err := id.routeSecret()
	if err != nil {
		return 0, fmt.Errorf("deriving the route secret: %w", err)
	}
	for _, u := range routes {
		u.User = url.UserPassword(routeUser, secret)
	}
	opts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: port, Username: routeUser, Password: secret}
	opts.Routes = routes
	if c.CA != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: o.TLSCert, KeyFile: o.TLSKey, CaFile: c.CA, Verify: true})
		if err != nil {
			return 0, fmt.Errorf("loading the cluster's TLS configuration: %w", err)
		}
		// A node is both server and client of its routes: the CA
		// verifies the others' certificates both ways (as nats-server's
		// own configuration files do for clusters).
		tc.ClientAuth, tc.RootCAs = tls.RequireAndVerifyClientCert, tc.ClientCAs
		opts.Cluster.TLSConfig, opts.Cluster.TLSTimeout = tc, 5
	}
	// JetStream's cluster knows its nodes by name: unique and stable
	// across restarts (the route address is both on one host, the host
	// name across hosts).
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "host"
	}
	opts.ServerName = fmt.Sprintf("agent-ctl-%s-%d", hostname, port)
	return min(len(others)+1, 3), nil
}

// createStream creates (or updates) the status stream. In a cluster it
// keeps trying, in the background, until a JetStream leader is elected,
// which takes a quorum of nodes: the first node waits for the second.
func (c *Controller) createStream(js jetstream.JetStream) error {
	cfg := jetstream.StreamConfig{
		Name:              StatusStream,
		Description:       "the last status of each agent-ctl agent",
		Subjects:          []string{statusPrefix + "*"},
		MaxMsgsPerSubject: 1,
		MaxMsgSize:        maxStatus,
		Storage:           jetstream.FileStorage,
		Replicas:          c.replicas,
	}
	if !c.clustered {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("creating the status stream: %w", err)
		}
		return nil
	}
	go func() {
		for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := js.CreateOrUpdateStream(ctx, cfg)
			cancel()
			if err == nil {
				c.log.Info("fleet: status stream ready", "replicas", c.replicas)
				return
			}
			c.log.Info("fleet: waiting for the cluster to create the status stream", "err", err)
			select {
			case <-c.closed:
				return
			case <-time.After(wait):
			}
		}
	}()
	return nil
}
