package supervisor

import (
	"path/filepath"
	"runtime"
	"testing"
)

// BenchmarkDigestCheck measures what checking an installed module against
// its recorded digest adds to a call (Call.Digest): the digest cache's hit
// (the file's identity unchanged since it was hashed) and the comparison,
// against hashing the file again, which the cache saves every call of an
// unchanged module. hello-go is a Go module of megabytes.
func BenchmarkDigestCheck(b *testing.B) {
	_, self, _, _ := runtime.Caller(0)
	for _, name := range []string{"hello.wasm", "hello-go.wasm"} {
		path := filepath.Join(filepath.Dir(self), "..", "modules", "hello", name)
		var c digestCache
		f, want, err := c.open(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
		b.Run(name+"/cached", func(b *testing.B) {
			for range b.N {
				f, got, err := c.open(path)
				if err != nil || got != want {
					b.Fatalf("%v %s", err, got)
				}
				f.Close()
			}
		})
		b.Run(name+"/hashed", func(b *testing.B) {
			for range b.N {
				var fresh digestCache
				f, got, err := fresh.open(path)
				if err != nil || got != want {
					b.Fatalf("%v %s", err, got)
				}
				f.Close()
			}
		})
	}
}
