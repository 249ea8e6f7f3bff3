package fleet_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

func isAuthErr(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "authorization")
}

// TestRevoke checks that a revoked node's connection is closed at once,
// that its token is refused from then on (after a controller restart
// too), and that a token issued after the revocation is valid.
func TestRevoke(t *testing.T) {
	home := t.TempDir()
	c, err := fleet.StartController(home, fleet.ControllerOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	old := joinToken(t, c, "a", 0)
	other := joinToken(t, c, "b", 0)
	nc, err := nats.Connect(c.URL(), nats.UserCredentials(old), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ncB, err := nats.Connect(c.URL(), nats.UserCredentials(other), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer ncB.Close()

	if _, err := c.Identity().Revoke("nobody"); err == nil {
		t.Error("revoking a node that was never issued a token succeeded")
	}
	n, err := c.Identity().Revoke("a")
	if err != nil || n != 1 {
		t.Fatalf("Revoke(a) = %d, %v; want 1 token", n, err)
	}
	admin, err := fleet.Dial(c.URL(), c.AdminCreds(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, nc.IsClosed, "the revoked node's connection is still open")
	if ncB.IsClosed() {
		t.Error("another node's connection was closed too")
	}
	if _, err := nats.Connect(c.URL(), nats.UserCredentials(old), nats.MaxReconnects(0)); !isAuthErr(err) {
		t.Fatalf("connect with a revoked token: %v, want an authorization error", err)
	}
	fresh := joinToken(t, c, "a", 0)
	nc2, err := nats.Connect(c.URL(), nats.UserCredentials(fresh), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("a token issued after the revocation: %v", err)
	}
	nc2.Close()

	// A restarted controller applies the recorded revocation itself.
	c.Close()
	if c, err = fleet.StartController(home, fleet.ControllerOptions{Listen: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := nats.Connect(c.URL(), nats.UserCredentials(old), nats.MaxReconnects(0)); !isAuthErr(err) {
		t.Fatalf("connect with a revoked token after a restart: %v, want an authorization error", err)
	}
	if nc3, err := nats.Connect(c.URL(), nats.UserCredentials(fresh), nats.MaxReconnects(0)); err != nil {
		t.Fatalf("the fresh token after a restart: %v", err)
	} else {
		nc3.Close()
	}
	toks, err := c.Identity().Tokens()
	if err != nil || len(toks) != 3 {
		t.Fatalf("Tokens() = %d tokens, %v; want 3", len(toks), err)
	}
	for _, tk := range toks {
		if tk.Revoked.IsZero() != (tk.Node == "b" || tk.Key != toks[0].Key) {
			t.Errorf("token %+v: revoked is wrong", tk)
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths; the certificate is its own CA, and serves both ways (a
// controller's clients, and a cluster node's routes, which it also dials).
func selfSigned(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "agent-ctl test controller"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestController_TLS checks that a controller with a certificate speaks
// only TLS, that a client without the CA is refused, and that one off
// loopback without TLS does not start.
func TestController_TLS(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", "[::]:0", ":0"} {
		if _, err := fleet.StartController(t.TempDir(), fleet.ControllerOptions{Listen: listen}); !errors.Is(err, fleet.ErrNeedTLS) {
			t.Errorf("listen %s without TLS: %v, want ErrNeedTLS", listen, err)
		}
	}
	if _, err := fleet.StartController(t.TempDir(), fleet.ControllerOptions{Listen: "127.0.0.1:0", TLSCert: "x.pem"}); err == nil {
		t.Error("--tls-cert without --tls-key was accepted")
	}

	cert, key := selfSigned(t)
	home := t.TempDir()
	c, err := fleet.StartController(home, fleet.ControllerOptions{Listen: "127.0.0.1:0", TLSCert: cert, TLSKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fleet.Dial(c.URL(), c.AdminCreds(), ""); err == nil {
		t.Fatal("a client that cannot verify the server's certificate connected")
	}
	cl, err := fleet.Dial(c.URL(), c.AdminCreds(), cert)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Nodes(t.Context()); err != nil {
		t.Fatal(err)
	}
	creds := joinToken(t, c, "a", 0)
	// A plain-text client is refused: the server requires TLS.
	if _, err := nats.Connect(c.URL(), nats.UserCredentials(creds), nats.MaxReconnects(0)); err == nil {
		t.Fatal("a client without TLS connected")
	}
	nc, err := nats.Connect(c.URL(), nats.UserCredentials(creds), nats.RootCAs(cert), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	if !nc.TLSRequired() {
		t.Error("the connection is not TLS")
	}
	nc.Close()
}
