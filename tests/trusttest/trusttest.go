// Package trusttest makes minisign keys for the tests of what checks
// signatures (policies/trust, the fleet's deploy notices, end to end):
// the signer no one trusts, whose signatures must be refused.
//
// It is a package of its own, not part of tests/testutil, because it
// imports policies/trust, whose own tests import tests/testutil.
package trusttest

import (
	"testing"

	"github.com/agent-ctl/agent-ctl/policies/trust"
)

// NewKey makes a new key pair and returns its secret key, unencrypted.
func NewKey(tb testing.TB) *trust.SecretKey {
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
