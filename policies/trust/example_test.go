package trust_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/agent-ctl/agent-ctl/policies/trust"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// A module directory signed with a new key verifies against that key
// trusted as "alice", and no longer once its module changes.
func ExampleVerify() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	wasm, _ := os.ReadFile(fixtures.Path("hello.wasm"))
	os.WriteFile(filepath.Join(dir, "hello.wasm"), wasm, 0o644)
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"name":"greet","version":"1.0.0",
		"description":"says hello","inputSchema":{"type":"object"},"module":"hello.wasm"}`), 0o644)

	pub, sec, _ := trust.GenerateKey("") // unencrypted: no password
	sk, _ := trust.ParseSecretKey(sec, "")
	key, _ := trust.ParsePublicKey(string(pub))
	key.Name = "alice"
	if err := trust.Sign(dir, sk); err != nil {
		fmt.Println(err)
	}
	signer, err := trust.Verify(dir, []trust.Key{key})
	fmt.Println(signer.Name, err)

	os.WriteFile(filepath.Join(dir, "hello.wasm"), append(wasm, 0), 0o644)
	_, err = trust.Verify(dir, []trust.Key{key})
	fmt.Println(err)
	// Output:
	// alice <nil>
	// verifying signature of hello.wasm: signature does not match the file (changed after signing?) (key alice)
}
