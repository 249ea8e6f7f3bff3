//go:build unix

package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-ctl/agent-ctl/tests/mcptest"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// installHello installs modules/hello into a new home.
func installHello(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	out, err := exec.Command(bin, "--home", home, "install", "--yes", "../../modules/hello").CombinedOutput()
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	return home
}

// TestMCPStdio runs `agent-ctl mcp` as an MCP client starts it, behind the
// default (container) walls, and calls a tool through it.
func TestMCPStdio(t *testing.T) {
	home := installHello(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.Command(bin, "--home", home, "--log-level", "debug", "mcp")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "hello" {
		t.Fatalf("tools/list: %v %+v", err, tools)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hello", Arguments: map[string]any{"name": "stdio", "shout": true}})
	if err != nil || res.IsError || mcptest.Text(res) != "HELLO, STDIO\n" {
		t.Fatalf("tools/call: %v %+v %q", err, res, mcptest.Text(res))
	}
	cs.Close()
	if !strings.Contains(stderr.String(), "isolation=container") {
		t.Errorf("the call did not run in a container; log:\n%s", stderr.String())
	}
}

// testCA makes a CA and a certificate for 127.0.0.1 signed by it.
func testCA(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "agent-ctl test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return certFile, keyFile, pool
}

var servingRE = regexp.MustCompile(`serving MCP at (\S+)`)

// startServe starts `agent-ctl serve` and returns its /mcp URL.
func startServe(tb testing.TB, home string, args ...string) string {
	tb.Helper()
	url, _ := startServePid(tb, home, args...)
	return url
}

// startServePid also returns the server's process ID.
func startServePid(tb testing.TB, home string, args ...string) (string, int) {
	tb.Helper()
	cmd := exec.Command(bin, append([]string{"--home", home, "serve", "--listen", "127.0.0.1:0"}, args...)...)
	r := bufio.NewReader(testutil.StartPiped(tb, cmd, testutil.Pipes{Stderr: true}).Stderr)
	for {
		line, err := r.ReadString('\n')
		if m := servingRE.FindStringSubmatch(line); m != nil {
			go io.Copy(io.Discard, r) // keep draining the log
			return m[1], cmd.Process.Pid
		}
		if err != nil {
			tb.Fatalf("serve did not start: %v (last line %q)", err, line)
		}
	}
}

// TestServeTLS serves over TLS with a certificate from a test CA: a client
// that trusts the CA and holds a token calls a tool; one that does not
// trust the CA, or has no token, gets nothing.
func TestServeTLS(t *testing.T) {
	home := installHello(t)
	out, err := exec.Command(bin, "--home", home, "token", "create", "e2e").Output()
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(out))
	cert, key, pool := testCA(t, t.TempDir())
	url := startServe(t, home, "--tls-cert", cert, "--tls-key", key)
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("serving at %s", url)
	}
	trusting := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cs := mcptest.Connect(t, "e2e", url, mcptest.Bearer{Token: token, Base: trusting}, nil)
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hello", Arguments: map[string]any{"name": "tls"}})
	if err != nil || mcptest.Text(res) != "hello, tls\n" {
		t.Fatalf("call over TLS: %v %v", err, res)
	}
	cs.Close()

	if _, err := (&http.Client{Transport: mcptest.Bearer{Token: token}}).Post(url, "application/json", strings.NewReader("{}")); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client that does not trust the test CA: %v, want a certificate error", err)
	}
	res2, err := (&http.Client{Transport: trusting}).Post(url, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token over TLS: status %d, want 401", res2.StatusCode)
	}
}

// TestServeRefuses: serve refuses, before listening, what would expose the
// tools.
func TestServeRefuses(t *testing.T) {
	home := t.TempDir()
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--listen", "0.0.0.0:0"}, "not a loopback address: refusing to serve without TLS"},
		{[]string{"--listen", "0.0.0.0:0", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--listen", "0.0.0.0:0", "--no-auth", "--tls-cert", "c", "--tls-key", "k"}, "--no-auth is accepted only on a loopback address"},
	} {
		out, err := exec.Command(bin, append([]string{"--home", home, "serve"}, tc.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.msg) {
			t.Errorf("serve %v: %v %q, want a refusal saying %q", tc.args, err, out, tc.msg)
		}
	}
}
