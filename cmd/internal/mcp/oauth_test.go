//go:build unix

package mcp_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	agentmcp "github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/mcptest"
)

// authServer is an OAuth authorization server of the test's own, on
// loopback: RFC 8414 metadata, a JWKS it can rotate, and a mint.
type authServer struct {
	*httptest.Server
	fetches atomic.Int32 // JWKS fetches

	mu   sync.Mutex
	keys map[string]crypto.Signer // published, by kid
}

func newAuthServer(t *testing.T) *authServer {
	a := &authServer{keys: map[string]crypto.Signer{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": a.URL, "jwks_uri": a.URL + "/jwks",
			"token_endpoint": a.URL + "/token", "code_challenge_methods_supported": []string{"S256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		a.fetches.Add(1)
		a.mu.Lock()
		defer a.mu.Unlock()
		var keys []map[string]string
		b64 := base64.RawURLEncoding.EncodeToString
		for kid, k := range a.keys {
			switch pub := k.Public().(type) {
			case *rsa.PublicKey:
				keys = append(keys, map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
					"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())})
			case *ecdsa.PublicKey:
				point, err := pub.Bytes() // 0x04, then X and Y
				if err != nil {
					t.Error(err)
					continue
				}
				keys = append(keys, map[string]string{"kty": "EC", "kid": kid, "crv": "P-256",
					"x": b64(point[1:33]), "y": b64(point[33:])})
			case ed25519.PublicKey:
				keys = append(keys, map[string]string{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(pub)})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	a.Server = httptest.NewServer(mux)
	t.Cleanup(a.Close)
	return a
}

func (a *authServer) publish(kid string, k crypto.Signer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys[kid] = k
}

// mint signs claims with key k under kid, with the method its type
// calls for.
func mint(t *testing.T, kid string, k crypto.Signer, c jwt.MapClaims) string {
	t.Helper()
	var m jwt.SigningMethod
	switch k.(type) {
	case *rsa.PrivateKey:
		m = jwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		m = jwt.SigningMethodES256
	case ed25519.PrivateKey:
		m = jwt.SigningMethodEdDSA
	}
	tok := jwt.NewWithClaims(m, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOAuth(t *testing.T) {
	e := setup(t)
	as := newAuthServer(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	as.publish("rsa-1", rsaKey)
	as.publish("ec-1", ecKey)
	as.publish("ed-1", edKey)

	sup, err := supervisor.New(&supervisor.Options{Home: e.home})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	srv := agentmcp.New(e.cat, sup, &agentmcp.Options{Logger: slog.New(countCalls{slog.DiscardHandler, &calls})})
	ts := httptest.NewUnstartedServer(nil)
	audience := "http://" + ts.Listener.Addr().String() + "/mcp"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// RefreshMin 1ns: every unknown kid refetches here (the bound is
	// tested in TestOAuth_refreshBounded).
	oa, err := agentmcp.NewOAuth(ctx, agentmcp.OAuthOptions{Issuer: as.URL, Audience: audience, RefreshMin: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.HTTPHandler(&agentmcp.HTTPOptions{OAuth: oa})
	ts.Start()
	t.Cleanup(ts.Close) // after the clients' cleanups: their event streams end first

	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": as.URL, "aud": audience, "sub": "alice", "exp": now.Add(5 * time.Minute).Unix(),
			"iat": now.Unix(), "scope": "tools"}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, good())
	hs.Header["kid"] = "rsa-1"
	hsToken, _ := hs.SignedString(pubDER) // the public key as an HMAC secret
	none := jwt.NewWithClaims(jwt.SigningMethodNone, good())
	none.Header["kid"] = "rsa-1"
	noneToken, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	esAsRS := mint(t, "rsa-1", ecKey, good()) // ES256 under an RSA key's kid

	const call = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"hello","arguments":{}}}`
	const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	metaURL := "http://" + ts.Listener.Addr().String() + "/.well-known/oauth-protected-resource/mcp"
	for _, tc := range []struct {
		name, token, body string
		status            int
	}{
		{"valid RS256", mint(t, "rsa-1", rsaKey, good()), initialize, 200},
		{"valid ES256", mint(t, "ec-1", ecKey, good()), initialize, 200},
		{"valid EdDSA", mint(t, "ed-1", edKey, good()), initialize, 200},
		{"aud in a list", mint(t, "rsa-1", rsaKey, with("aud", []string{"https://other.example", audience})), initialize, 200},
		{"expired within leeway", mint(t, "rsa-1", rsaKey, with("exp", now.Add(-10*time.Second).Unix())), initialize, 200},
		{"no token", "", call, 401},
		{"wrong aud", mint(t, "rsa-1", rsaKey, with("aud", "https://other.example/mcp")), call, 401},
		{"no aud", mint(t, "rsa-1", rsaKey, with("aud", nil)), call, 401},
		{"wrong iss", mint(t, "rsa-1", rsaKey, with("iss", "https://evil.example")), call, 401},
		{"expired", mint(t, "rsa-1", rsaKey, with("exp", now.Add(-5*time.Minute).Unix())), call, 401},
		{"no exp", mint(t, "rsa-1", rsaKey, with("exp", nil)), call, 401},
		{"not yet valid", mint(t, "rsa-1", rsaKey, with("nbf", now.Add(5*time.Minute).Unix())), call, 401},
		{"no sub", mint(t, "rsa-1", rsaKey, with("sub", nil)), call, 401},
		{"bad signature", mint(t, "rsa-1", otherRSA, good()), call, 401},
		{"alg none", noneToken, call, 401},
		{"HS256 with the public key", hsToken, call, 401},
		{"alg not the key's", esAsRS, call, 401},
		{"unknown kid", mint(t, "nobody", otherRSA, good()), call, 401},
		{"not a JWT", "act_whatever", call, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", ts.URL+"/mcp", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			// Which check failed is logged, not told.
			if b := string(body); strings.Contains(b, "token is") || strings.Contains(b, "token has") || strings.Contains(b, "kid") {
				t.Errorf("401 body tells why: %q", b)
			}
			if tc.status == 401 {
				want := fmt.Sprintf(`Bearer realm="agent-ctl", resource_metadata=%q`, metaURL)
				if tc.token != "" {
					want += `, error="invalid_token"`
				}
				if got := res.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != want {
					t.Errorf("WWW-Authenticate %q, want %q", got, want)
				}
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d calls ran for refused requests", n)
	}

	// The protected resource metadata, where the 401 says.
	res, err := http.Get(metaURL)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	json.NewDecoder(res.Body).Decode(&meta)
	res.Body.Close()
	if res.StatusCode != 200 || meta.Resource != audience || len(meta.AuthorizationServers) != 1 || meta.AuthorizationServers[0] != as.URL {
		t.Fatalf("metadata: %d %+v", res.StatusCode, meta)
	}

	// A real client with a valid token calls a tool.
	cs := mcptest.Connect(t, "t", ts.URL+"/mcp", mcptest.Bearer{Token: mint(t, "rsa-1", rsaKey, good())}, nil)
	r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hello", Arguments: map[string]any{"name": "oauth"}})
	if err != nil || mcptest.Text(r) != "hello, oauth\n" {
		t.Fatalf("call with a valid token: %v %v", err, r)
	}

	// The session is bound to its subject: bob's valid token cannot use
	// alice's session.
	req, _ := http.NewRequest("POST", ts.URL+"/mcp", strings.NewReader(call))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", cs.ID())
	req.Header.Set("Authorization", "Bearer "+mint(t, "rsa-1", rsaKey, with("sub", "bob")))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("another subject in alice's session: status %d, want 403", res.StatusCode)
	}

	// Rotation: the issuer publishes a new key; a token under its kid is
	// accepted (the key set is fetched again for the unknown kid).
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	as.publish("ec-2", newKey)
	cs2 := mcptest.Connect(t, "t", ts.URL+"/mcp", mcptest.Bearer{Token: mint(t, "ec-2", newKey, good())}, nil)
	r, err = cs2.CallTool(ctx, &mcp.CallToolParams{Name: "hello", Arguments: map[string]any{"name": "rotated"}})
	if err != nil || mcptest.Text(r) != "hello, rotated\n" {
		t.Fatalf("call with a token of a rotated-in key: %v %v", err, r)
	}
}

// TestOAuth_refreshBounded: tokens with made-up key ids do not make the
// server fetch the key set once each.
func TestOAuth_refreshBounded(t *testing.T) {
	as := newAuthServer(t)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	as.publish("ec-1", k)
	ctx := context.Background()
	oa, err := agentmcp.NewOAuth(ctx, agentmcp.OAuthOptions{Issuer: as.URL, Audience: "https://mcp.example/mcp", RefreshMin: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"iss": as.URL, "aud": "https://mcp.example/mcp", "sub": "a", "exp": time.Now().Add(time.Minute).Unix()}
	for i := range 50 {
		if _, err := oa.Verify(ctx, mint(t, fmt.Sprint("made-up-", i), k, claims)); err == nil {
			t.Fatal("token with an unknown kid accepted")
		}
	}
	if n := as.fetches.Load(); n != 1 {
		t.Errorf("%d key set fetches for 50 unknown kids within RefreshMin, want 1 (the first)", n)
	}
	if ti, err := oa.Verify(ctx, mint(t, "ec-1", k, claims)); err != nil || ti.UserID != "oauth:a" {
		t.Errorf("valid token: %v %+v", err, ti)
	}
}

// TestNewOAuth: an issuer that cannot be used stops serve from starting.
func TestNewOAuth(t *testing.T) {
	as := newAuthServer(t)
	ctx := context.Background()
	for _, tc := range []struct{ name, issuer, audience string }{
		{"issuer over http off loopback", "http://mcp.example", "https://mcp.example/mcp"},
		{"relative audience", as.URL, "/mcp"},
		{"no metadata", as.URL + "/tenant", "https://mcp.example/mcp"},
		{"metadata names another issuer", strings.Replace(as.URL, "127.0.0.1", "localhost", 1), "https://mcp.example/mcp"},
		{"no usable key", as.URL, "https://mcp.example/mcp"}, // nothing published yet
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := agentmcp.NewOAuth(ctx, agentmcp.OAuthOptions{Issuer: tc.issuer, Audience: tc.audience}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestNewOAuth_oidcDiscovery: an issuer with a path that publishes only
// OpenID Connect discovery metadata (at issuer + /.well-known/...).
func TestNewOAuth_oidcDiscovery(t *testing.T) {
	as := newAuthServer(t) // its /jwks serves the keys
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	as.publish("ec-1", k)
	mux := http.NewServeMux()
	var oidc *httptest.Server
	mux.HandleFunc("GET /tenant/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": oidc.URL + "/tenant", "jwks_uri": as.URL + "/jwks"})
	})
	oidc = httptest.NewServer(mux)
	defer oidc.Close()
	ctx := context.Background()
	oa, err := agentmcp.NewOAuth(ctx, agentmcp.OAuthOptions{Issuer: oidc.URL + "/tenant", Audience: "https://mcp.example/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, "ec-1", k, jwt.MapClaims{"iss": oidc.URL + "/tenant", "aud": "https://mcp.example/mcp", "sub": "a", "exp": time.Now().Add(time.Minute).Unix()})
	if _, err := oa.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
}
