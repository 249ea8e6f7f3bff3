package trust

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// BenchmarkVerify and BenchmarkStage measure what signatures add to an
// install of update-config's 4.9 MB Go module: checking both files in
// place, and copying them to a private directory and checking the copy.
func benchModule(b *testing.B) (home, dir string) {
	wasm, err := os.ReadFile(filepath.Join(fixtures.Dir(), "..", "..", "modules", "update-config", "update-config.wasm"))
	if err != nil {
		b.Skip("modules/update-config is not built (make modules builds it)")
	}
	dir = b.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.wasm"), wasm, 0o644)
	os.WriteFile(filepath.Join(dir, manifest.FileName), []byte(testManifest), 0o644)
	sk, k := newKey(b, "alice")
	if err := Sign(dir, sk); err != nil {
		b.Fatal(err)
	}
	home = b.TempDir()
	if err := Update(home, func(p *Policy) error { p.Require = true; return p.Add(k) }); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(wasm)))
	return home, dir
}

func BenchmarkVerify(b *testing.B) {
	home, dir := benchModule(b)
	for b.Loop() {
		if _, err := VerifyDir(home, dir); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStage(b *testing.B) {
	home, dir := benchModule(b)
	for b.Loop() {
		_, _, cleanup, err := Stage(home, dir)
		cleanup()
		if err != nil {
			b.Fatal(err)
		}
	}
}
