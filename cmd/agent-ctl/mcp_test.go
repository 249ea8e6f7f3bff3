package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestMCPConfig: `mcp config` prints the stdio form, and with --http the
// form that connects to serve with the token in the Authorization header
// (from where each client's config file can take a secret, never the
// secret itself).
func TestMCPConfig(t *testing.T) {
	for _, tc := range []struct {
		client, key, auth string
	}{
		{"claude", "mcpServers", "Bearer ${AGENT_CTL_TOKEN}"},
		{"cursor", "mcpServers", "Bearer ${env:AGENT_CTL_TOKEN}"},
		{"vscode", "servers", "Bearer ${input:agent-ctl-token}"},
	} {
		t.Run(tc.client, func(t *testing.T) {
			code, out, errs := runCLI(t, "", "mcp", "config", "--http", "--url", "https://mcp.internal:8443/mcp", tc.client)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var doc map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			var servers map[string]struct {
				Type    string            `json:"type"`
				URL     string            `json:"url"`
				Headers map[string]string `json:"headers"`
			}
			if err := json.Unmarshal(doc[tc.key], &servers); err != nil {
				t.Fatalf("%s: %v\n%s", tc.key, err, out)
			}
			s := servers["agent-ctl"]
			if s.Type != "http" || s.URL != "https://mcp.internal:8443/mcp" || s.Headers["Authorization"] != tc.auth {
				t.Errorf("HTTP form: %+v\n%s", s, out)
			}
			if tc.client == "vscode" && !strings.Contains(string(doc["inputs"]), `"password": true`) {
				t.Errorf("vscode: the token input is not a secret:\n%s", out)
			}

			code, out, errs = runCLI(t, "", "mcp", "config", tc.client)
			if code != 0 || !strings.Contains(out, `"command"`) || !strings.Contains(out, `"mcp"`) {
				t.Errorf("stdio form: exit %d %s\n%s", code, errs, out)
			}
		})
	}
	for _, bad := range [][]string{
		{"--http", "--url", "http://192.0.2.1:8765/mcp", "claude"}, // plain http off loopback: serve refuses it
		{"--http", "--url", "ftp://127.0.0.1/mcp", "claude"},
		{"--url", "http://127.0.0.1:1/mcp", "claude"}, // --url without --http
		{"claude", "--http"}, // flag after the client
	} {
		if code, _, errs := runCLI(t, "", append([]string{"mcp", "config"}, bad...)...); code != 125 {
			t.Errorf("%v: exit %d (%s), want 125", bad, code, errs)
		}
	}
}
