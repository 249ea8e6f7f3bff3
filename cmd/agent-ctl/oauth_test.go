package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestServe_oauthFlags: --oauth-issuer and --audience go together, never
// with --no-auth, and an issuer serve cannot read stops it from starting
// (it would refuse every token).
func TestServe_oauthFlags(t *testing.T) {
	for _, bad := range [][]string{
		{"--oauth-issuer", "https://auth.example"},
		{"--audience", "https://mcp.example/mcp"},
		{"--no-auth", "--oauth-issuer", "https://auth.example", "--audience", "https://mcp.example/mcp"},
	} {
		if code, _, errs := runCLI(t, "", append([]string{"serve", "--listen", "127.0.0.1:0"}, bad...)...); code != 125 || !strings.Contains(errs, "oauth-issuer") {
			t.Errorf("%v: exit %d (%s), want 125", bad, code, errs)
		}
	}
	nothing := httptest.NewServer(http.NotFoundHandler()) // no metadata there
	defer nothing.Close()
	code, _, errs := runCLI(t, "", "serve", "--listen", "127.0.0.1:0", "--pool", "0",
		"--oauth-issuer", nothing.URL, "--audience", "http://127.0.0.1:1/mcp")
	if code != 125 || !strings.Contains(errs, "no authorization server metadata") {
		t.Errorf("unreadable issuer: exit %d: %s", code, errs)
	}
}
