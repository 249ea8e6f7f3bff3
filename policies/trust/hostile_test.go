package trust

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"aead.dev/minisign"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

// TestVerify_hostileComment: the module digest in a manifest signature's
// trusted comment is the signer's text; when it does not match, the
// refusal quotes it escaped, never raw.
func TestVerify_hostileComment(t *testing.T) {
	alice, aliceKey := newKey(t, "alice")
	dir := signed(t, alice)
	raw, err := os.ReadFile(filepath.Join(dir, manifest.FileName))
	if err != nil {
		t.Fatal(err)
	}
	r := minisign.NewReader(bytes.NewReader(raw))
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	sig := r.SignWithComments(alice.k, "timestamp:1\tfile:manifest.json\thashed\t"+moduleTag+"\x1b[2J\x1b]0;t\x07", "x")
	if err := os.WriteFile(filepath.Join(dir, manifest.FileName+SigSuffix), sig, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(dir, []Key{aliceKey})
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify: %v, want ErrBadSignature", err)
	}
	msg := err.Error()
	if strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		t.Errorf("Verify: %q holds a control character", msg)
	}
	if want := `for module sha256:\x1b[2J\x1b]0;t\a;`; !strings.Contains(msg, want) {
		t.Errorf("Verify: %q, want it to hold %q", msg, want)
	}
}
