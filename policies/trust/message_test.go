package trust_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/policies/trust"
	"github.com/agent-ctl/agent-ctl/tests/trusttest"
)

// TestVerifyMessage checks a signed message against the keys given: the
// signer's key verifies it, and every change, another key or no signature
// is refused with its reason.
func TestVerifyMessage(t *testing.T) {
	signer, other := trusttest.NewKey(t), trusttest.NewKey(t)
	pub := signer.PublicKey()
	pub.Name = "fleet"
	msg := []byte(`{"tool":"hello","version":"1.0.0"}`)
	sig := trust.SignMessage(signer, msg, "deploy 1")
	for _, tc := range []struct {
		name     string
		msg, sig []byte
		keys     []trust.Key
		reason   error
	}{
		{"good", msg, sig, []trust.Key{pub}, nil},
		{"message changed", bytes.Replace(msg, []byte("1.0.0"), []byte("1.0.1"), 1), sig, []trust.Key{pub}, trust.ErrBadSignature},
		{"trusted comment changed", msg, bytes.Replace(sig, []byte("deploy 1"), []byte("deploy 2"), 1), []trust.Key{pub}, trust.ErrBadSignature},
		{"another key", msg, trust.SignMessage(other, msg, "deploy 1"), []trust.Key{pub}, trust.ErrUnknownKey},
		{"no keys", msg, sig, nil, trust.ErrUnknownKey},
		{"unsigned", msg, nil, []trust.Key{pub}, trust.ErrUnsigned},
		{"malformed", msg, []byte("not a signature"), []trust.Key{pub}, trust.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, comment, err := trust.VerifyMessage("notice", tc.msg, tc.sig, tc.keys)
			if tc.reason == nil {
				if err != nil || k.Name != "fleet" || comment != "deploy 1" {
					t.Fatalf("VerifyMessage = %+v, %q, %v; want the fleet key and its comment", k, comment, err)
				}
				return
			}
			var e *trust.Error
			if !errors.Is(err, tc.reason) || !errors.As(err, &e) || e.File != "notice" || !strings.Contains(err.Error(), "notice") {
				t.Fatalf("VerifyMessage: %v, want a *trust.Error for %q: %v", err, "notice", tc.reason)
			}
		})
	}
}
