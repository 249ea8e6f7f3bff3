package testutil

import (
	"testing"

	"github.com/agent-ctl/agent-ctl/policies/trust"
)

// SecretKey makes a new unencrypted minisign secret key, for tests that
// sign with a key nobody trusts (a forged notice, a foreign signature).
// Unencrypted: an encrypted key costs seconds of scrypt per use.
func SecretKey(tb testing.TB) *trust.SecretKey {
	tb.Helper()
	_, sec, err := trust.GenerateKey("")
	if err != nil {
		tb.Fatal(err)
	}
	k, err := trust.ParseSecretKey(sec, "")
	if err != nil {
		tb.Fatal(err)
	}
	return k
}
