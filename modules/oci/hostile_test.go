package oci_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/oci"
)

// TestPull_hostileRegistry: a registry's error answer carries a message of
// its choosing, which oras puts into its error's text; Pull's error shows
// it escaped (Push's too), so the install message cannot drive the operator's terminal.
func TestPullPush_hostileRegistry(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead { // no such blob: push goes on to upload it
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"errors": [{"code": "DENIED", "message": "\u001b[2J\u001b]52;c;cHduZWQ=\u0007gone\r\u202e"}]}`))
	}))
	defer srv.Close()
	ref := "oci://" + strings.TrimPrefix(srv.URL, "http://") + "/tools/hello:1.0.0"
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"pull", func() error { _, err := oci.Pull(ctx(t), ref, t.TempDir(), plain); return err }},
		{"push", func() error { _, err := oci.Push(ctx(t), "../hello", ref, plain); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil {
				t.Fatal("succeeded against a registry that refuses everything")
			}
			msg := err.Error()
			if strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\u202e' }) {
				t.Errorf("%q holds a control character", msg)
			}
			if want := `denied: \x1b[2J\x1b]52;c;cHduZWQ=\agone\r\u202e`; !strings.Contains(msg, want) {
				t.Errorf("%q, want it to hold %q", msg, want)
			}
		})
	}
}
