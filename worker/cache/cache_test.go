package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const wasmtimeModule = "github.com/bytecodealliance/wasmtime-go/v39"

// writeEntry writes a valid cache entry for payload into a fresh directory
// and returns its path and bytes.
func writeEntry(t *testing.T, payload []byte) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "entry.cwasm")
	if err := Write(path, payload); err != nil {
		t.Fatalf("Write: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func TestCacheEntry_roundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("\x00asm\x01\x00\x00\x00"), 64<<10)
	tests := map[string][]byte{
		"empty":         {},
		"one byte":      {0x2a},
		"module header": []byte("\x00asm\x01\x00\x00\x00"),
		"magic inside":  append(append([]byte("x"), cacheMagic...), 'y'),
		"ends in magic": append([]byte("payload"), cacheMagic...),
		"512KiB":        big,
	}
	for name, payload := range tests {
		t.Run(name, func(t *testing.T) {
			path, b := writeEntry(t, payload)
			if want := len(payload) + trailerLen; len(b) != want {
				t.Errorf("entry is %d bytes, want payload %d + trailer %d", len(b), len(payload), trailerLen)
			}
			got, err := Read(path)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("Read returned %d bytes, want the %d written", len(got), len(payload))
			}
			if err := Verify(path); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if fi, err := os.Stat(path); err != nil {
				t.Fatal(err)
			} else if perm := fi.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("entry mode %v: readable by others", perm)
			}
		})
	}
}

// checkCorrupt asserts that the entry in b is refused as corrupt, by both
// Read and Verify, and that no payload leaks out.
func checkCorrupt(t *testing.T, b []byte, wantMsg string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "entry.cwasm")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err == nil {
		t.Fatalf("Read accepted a corrupt entry and returned %d bytes", len(got))
	}
	if got != nil {
		t.Errorf("Read returned %d bytes with its error, want none", len(got))
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Read error %v does not wrap ErrCorrupt", err)
	}
	if errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read error %v claims the entry does not exist: it would not be reported", err)
	}
	if !strings.Contains(err.Error(), wantMsg) {
		t.Errorf("Read error %q, want it to contain %q", err, wantMsg)
	}
	if err := Verify(path); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Verify error %v, want ErrCorrupt", err)
	}
}

func TestCacheEntry_truncated(t *testing.T) {
	payload := []byte("serialized module bytes: not real code, but long enough to cut anywhere")
	_, b := writeEntry(t, payload)
	cuts := map[string]int{
		"empty":               0,
		"one byte":            1,
		"shorter than magic":  len(cacheMagic) - 1,
		"trailer minus one":   trailerLen - 1,
		"exactly trailer":     trailerLen,
		"payload only":        len(payload),
		"payload and sum":     len(payload) + sha256.Size,
		"magic cut short":     len(b) - len(cacheMagic)/2,
		"last byte missing":   len(b) - 1,
		"first trailer byte":  len(payload) + 1,
		"half the payload":    len(payload) / 2,
		"one trailer missing": len(b) - trailerLen,
	}
	for name, n := range cuts {
		t.Run(name, func(t *testing.T) {
			checkCorrupt(t, b[:n], "no valid trailer")
		})
	}
	// Every other length too, whatever the message.
	for n := 0; n < len(b); n++ {
		path := filepath.Join(t.TempDir(), "entry.cwasm")
		if err := os.WriteFile(path, b[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := Read(path); !errors.Is(err, ErrCorrupt) || got != nil {
			t.Errorf("cut at %d of %d: Read = %d bytes, %v; want nil, ErrCorrupt", n, len(b), len(got), err)
		}
	}
}

func TestCacheEntry_flippedByte(t *testing.T) {
	payload := []byte("serialized module bytes")
	_, b := writeEntry(t, payload)
	tests := []struct {
		name string
		at   int
		want string
	}{
		{"payload start", 0, "fails its checksum"},
		{"payload middle", len(payload) / 2, "fails its checksum"},
		{"payload end", len(payload) - 1, "fails its checksum"},
		{"checksum start", len(payload), "fails its checksum"},
		{"checksum end", len(payload) + sha256.Size - 1, "fails its checksum"},
		{"magic start", len(b) - len(cacheMagic), "no valid trailer"},
		{"magic end", len(b) - 1, "no valid trailer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				c := bytes.Clone(b)
				c[tt.at] ^= mask
				checkCorrupt(t, c, tt.want)
			}
		})
	}
}

func TestCacheEntry_wrongMagic(t *testing.T) {
	payload := []byte("serialized module bytes")
	sum := sha256.Sum256(payload)
	tests := map[string][]byte{
		"older version": []byte("agent-ctl.cwasm0"),
		"zeros":         make([]byte, len(cacheMagic)),
		"upper case":    []byte("AGENT-CTL.CWASM1"),
	}
	for name, magic := range tests {
		t.Run(name, func(t *testing.T) {
			b := append(append(bytes.Clone(payload), sum[:]...), magic...)
			checkCorrupt(t, b, "no valid trailer")
		})
	}
	t.Run("no magic", func(t *testing.T) {
		// A checksum alone, without the magic, is not an entry either.
		b := append(bytes.Clone(payload), sum[:]...)
		checkCorrupt(t, b, "no valid trailer")
	})
	t.Run("raw module", func(t *testing.T) {
		checkCorrupt(t, bytes.Repeat([]byte("\x00asm\x01\x00\x00\x00"), 16), "no valid trailer")
	})
}

func TestCacheEntry_missing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.cwasm")
	got, err := Read(path)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read(missing) error %v, want os.ErrNotExist", err)
	}
	if errors.Is(err, ErrCorrupt) {
		t.Errorf("Read(missing) error %v wraps ErrCorrupt: a cache miss is not a problem", err)
	}
	if got != nil {
		t.Errorf("Read(missing) returned %d bytes", len(got))
	}
	if err := Verify(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Verify(missing) error %v, want os.ErrNotExist", err)
	}
}

func TestWriteCacheEntry_noOverwrite(t *testing.T) {
	path, before := writeEntry(t, []byte("first"))
	err := Write(path, []byte("second"))
	if !errors.Is(err, os.ErrExist) {
		t.Fatalf("Write over an existing entry: error %v, want os.ErrExist", err)
	}
	after, rerr := os.ReadFile(path)
	if rerr != nil {
		t.Fatalf("the existing entry is gone after a refused write: %v", rerr)
	}
	if !bytes.Equal(after, before) {
		t.Error("a refused write changed the existing entry")
	}
	if got, err := Read(path); err != nil || string(got) != "first" {
		t.Errorf("Read = %q, %v; want %q", got, err, "first")
	}
}

func TestWriteCacheEntry_noOverwriteSymlink(t *testing.T) {
	// O_EXCL also refuses a symlink planted at the path, even a dangling one,
	// so a write cannot be redirected elsewhere.
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "entry.cwasm")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := Write(link, []byte("payload")); !errors.Is(err, os.ErrExist) {
		t.Errorf("Write through a symlink: error %v, want os.ErrExist", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Write created the symlink's target (Lstat: %v)", err)
	}
}

func TestWriteCacheEntry_missingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "entry.cwasm")
	if err := Write(path, []byte("payload")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Write into a missing directory: error %v, want os.ErrNotExist", err)
	}
}

func TestKey(t *testing.T) {
	d1 := strings.Repeat("ab", sha256.Size)
	d2 := strings.Repeat("cd", sha256.Size)

	k1 := Key(d1)
	if again := Key(d1); again != k1 {
		t.Errorf("Key is not deterministic: %s then %s", k1, again)
	}
	if k2 := Key(d2); k2 == k1 {
		t.Errorf("Key(%s) == Key(%s) == %s", d1, d2, k1)
	}
	if Key("") == Key("a") {
		t.Error("Key ignores its digest")
	}

	for _, d := range []string{d1, d2, "", "../../etc/passwd", "a/b\x00c"} {
		k := Key(d)
		name, ok := strings.CutSuffix(k, ".cwasm")
		if !ok {
			t.Errorf("Key(%q) = %q, want a .cwasm name", d, k)
			continue
		}
		if b, err := hex.DecodeString(name); err != nil || len(b) != sha256.Size || name != strings.ToLower(name) {
			t.Errorf("Key(%q) = %q, want 64 lower-case hex digits before .cwasm", d, k)
		}
		if filepath.Base(k) != k {
			t.Errorf("Key(%q) = %q is not a plain file name", d, k)
		}
	}

	// The key covers the engine fingerprint, not just the module: a new
	// wasmtime must not load code compiled by the old one.
	if !strings.Contains(fingerprint, EngineVersion) {
		t.Errorf("fingerprint %q does not name EngineVersion %q", fingerprint, EngineVersion)
	}
	sum := sha256.Sum256([]byte(d1))
	if k1 == hex.EncodeToString(sum[:])+".cwasm" {
		t.Error("Key is the digest's own hash: it ignores the engine fingerprint")
	}
}

// TestEngineVersionMatchesModuleGraph reads go.mod, because test binaries
// carry no module dependencies in their build info (golang/go#76926).
func TestEngineVersionMatchesModuleGraph(t *testing.T) {
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var version string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == wasmtimeModule {
			version = f[1]
		}
		if len(f) >= 1 && (f[0] == "replace" || strings.HasPrefix(line, "replace")) && strings.Contains(line, wasmtimeModule) {
			t.Fatalf("go.mod replaces %s; EngineVersion cannot name the code that runs", wasmtimeModule)
		}
	}
	if version == "" {
		t.Fatalf("go.mod does not require %s", wasmtimeModule)
	}
	if want := "wasmtime-go/v39@" + version; EngineVersion != want {
		t.Errorf("EngineVersion = %q, but go.mod has %q: bump EngineVersion with wasmtime-go", EngineVersion, want)
	}
}

// TestCopy: the streaming check the supervisor promotes with
// agrees with Read on every cut and flipped byte of an entry, and
// copies exactly the entry when it is sound.
func TestCopy(t *testing.T) {
	payload := []byte("serialized module bytes, long enough to cut and flip anywhere")
	_, b := writeEntry(t, payload)
	var out bytes.Buffer
	if err := Copy(&out, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("sound entry: %v", err)
	}
	if !bytes.Equal(out.Bytes(), b) {
		t.Errorf("copied %d bytes, want the %d of the entry", out.Len(), len(b))
	}
	for n := 0; n < len(b); n++ {
		if err := Copy(io.Discard, bytes.NewReader(b[:n]), int64(n)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("cut at %d: %v, want ErrCorrupt", n, err)
		}
		// A file that shrinks between fstat and the read.
		if err := Copy(io.Discard, bytes.NewReader(b[:n]), int64(len(b))); !errors.Is(err, ErrCorrupt) {
			t.Errorf("shrunk to %d: %v, want ErrCorrupt", n, err)
		}
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x80
		if err := Copy(io.Discard, bytes.NewReader(c), int64(len(c))); !errors.Is(err, ErrCorrupt) {
			t.Errorf("byte %d flipped: %v, want ErrCorrupt", i, err)
		}
	}
	// Bytes past the size (a file that grew) are not read.
	out.Reset()
	if err := Copy(&out, bytes.NewReader(append(bytes.Clone(b), "more"...)), int64(len(b))); err != nil || !bytes.Equal(out.Bytes(), b) {
		t.Errorf("grown file: %v, copied %d bytes; want the %d of the entry", err, out.Len(), len(b))
	}
}
