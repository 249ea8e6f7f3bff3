package oci_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/oci"
	"github.com/agent-ctl/agent-ctl/tests/registrytest"
)

var plain = &oci.Options{PlainHTTP: true, DockerConfig: "/nonexistent/config.json"}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// toolDir copies modules/hello (manifest.json, hello.wasm) into a new
// directory, with the signature files named in sigs (their content is not
// checked here: signatures are verified at install).
func toolDir(t *testing.T, sigs ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"manifest.json", "hello.wasm"} {
		b, err := os.ReadFile(filepath.Join("..", "hello", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range sigs {
		sig := "untrusted comment: signature from minisign secret key\nRUQf...\ntrusted comment: " + s + "\nAAAA\n"
		if err := os.WriteFile(filepath.Join(dir, s), []byte(sig), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sameFiles(t *testing.T, want, got string, names ...string) {
	t.Helper()
	for _, n := range names {
		a, err := os.ReadFile(filepath.Join(want, n))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(got, n))
		if err != nil {
			t.Fatalf("%s did not arrive: %v", n, err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs after the round trip", n)
		}
	}
	entries, _ := os.ReadDir(got)
	if len(entries) != len(names) {
		var have []string
		for _, e := range entries {
			have = append(have, e.Name())
		}
		t.Errorf("pulled %v, want exactly %v", have, names)
	}
}

func TestPushPull_roundTrip(t *testing.T) {
	reg := registrytest.Start(t)
	tests := []struct {
		name  string
		sigs  []string
		byRef func(tagRef, digest string) string
	}{
		{"by tag", nil, func(tagRef, _ string) string { return tagRef }},
		{"by digest", nil, func(tagRef, d string) string { return strings.SplitN(tagRef, ":1", 2)[0] + "@" + d }},
		{"signed, by digest", []string{"manifest.json.minisig", "hello.wasm.minisig"},
			func(tagRef, d string) string { return strings.SplitN(tagRef, ":1", 2)[0] + "@" + d }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := toolDir(t, tt.sigs...)
			ref := "oci://" + reg.Host + "/tools/hello" + string(rune('a'+i)) + ":1.0.0"
			d, err := oci.Push(ctx(t), src, ref, plain)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(d, "sha256:") || len(d) != 71 {
				t.Fatalf("Push returned %q, want sha256:HEX", d)
			}
			dst := t.TempDir()
			p, err := oci.Pull(ctx(t), tt.byRef(ref, d), dst, plain)
			if err != nil {
				t.Fatal(err)
			}
			if p.Digest != d {
				t.Errorf("pulled digest %s, pushed %s", p.Digest, d)
			}
			sameFiles(t, src, dst, append([]string{"manifest.json", "hello.wasm"}, tt.sigs...)...)
		})
	}
}

// TestPull_tamperedBlob edits the module's blob in the registry's storage
// (same size, one byte flipped): the registry serves it, Pull refuses it.
func TestPull_tamperedBlob(t *testing.T) {
	reg := registrytest.Start(t)
	src := toolDir(t)
	ref := "oci://" + reg.Host + "/tools/hello:1.0.0"
	if _, err := oci.Push(ctx(t), src, ref, plain); err != nil {
		t.Fatal(err)
	}
	wasm, _ := os.ReadFile(filepath.Join(src, "hello.wasm"))
	blob := reg.BlobPath(content.NewDescriptorFromBytes("", wasm).Digest.String())
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatalf("the module's blob is not where the registry keeps blobs: %v", err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(blob, b, 0o600); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	_, err = oci.Pull(ctx(t), ref, dst, plain)
	if !errors.Is(err, oci.ErrRefused) || !strings.Contains(err.Error(), "hello.wasm") {
		t.Fatalf("Pull of a tampered module: %v, want refused naming hello.wasm", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "hello.wasm")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the tampered module was left in the directory: %v", err)
	}
}

type layer struct {
	title, mediaType string
	data             []byte
}

// pushRaw publishes an artifact as a hostile publisher could, with oras
// directly, and returns its oci:// reference by tag.
func pushRaw(t *testing.T, host, repoName, artifactType string, layers []layer) string {
	t.Helper()
	repo, err := remote.NewRepository(host + "/" + repoName)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	var descs []ocispec.Descriptor
	for _, l := range layers {
		d := content.NewDescriptorFromBytes(l.mediaType, l.data)
		d.Annotations = map[string]string{ocispec.AnnotationTitle: l.title}
		if ok, _ := repo.Exists(ctx(t), d); !ok {
			if err := repo.Push(ctx(t), d, bytes.NewReader(l.data)); err != nil {
				t.Fatal(err)
			}
		}
		descs = append(descs, d)
	}
	desc, err := oras.PackManifest(ctx(t), repo, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{Layers: descs})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx(t), desc, "v1"); err != nil {
		t.Fatal(err)
	}
	return "oci://" + host + "/" + repoName + ":v1"
}

func TestPull_refused(t *testing.T) {
	reg := registrytest.Start(t)
	man, _ := os.ReadFile("../hello/manifest.json")
	wasm, _ := os.ReadFile("../hello/hello.wasm")
	good := func() []layer {
		return []layer{{"manifest.json", oci.MediaTypeManifest, man}, {"hello.wasm", oci.MediaTypeModule, wasm}}
	}
	big := append(slices.Clone(man), bytes.Repeat([]byte(" "), manifest.MaxSize)...)
	tests := []struct {
		name, artifactType string
		layers             []layer
		want               string
	}{
		{"wrong artifact type", "application/vnd.example.other", good(), `artifact type "application/vnd.example.other"`},
		{"oversized manifest layer", oci.ArtifactType,
			[]layer{{"manifest.json", oci.MediaTypeManifest, big}, {"hello.wasm", oci.MediaTypeModule, wasm}}, "more than the 1048576 allowed"},
		{"oversized signature layer", oci.ArtifactType,
			append(good(), layer{"hello.wasm.minisig", oci.MediaTypeSignature, bytes.Repeat([]byte("x"), oci.MaxSignature+1)}), "more than the 16384 allowed"},
		{"path in a title", oci.ArtifactType,
			append(good(), layer{"../manifest.json.minisig", oci.MediaTypeSignature, []byte("x")}), `layer "../manifest.json.minisig": not manifest.json`},
		{"unexpected file", oci.ArtifactType,
			append(good(), layer{"run.sh", oci.MediaTypeSignature, []byte("x")}), `layer "run.sh": not manifest.json`},
		{"unknown media type", oci.ArtifactType,
			append(good(), layer{"hello.wasm.minisig", "application/octet-stream", []byte("x")}), `media type "application/octet-stream", not one of a tool's`},
		{"module under another type", oci.ArtifactType,
			[]layer{{"manifest.json", oci.MediaTypeManifest, man}, {"hello.wasm", oci.MediaTypeSignature, []byte("x")}}, `"hello.wasm" has media type`},
		{"no module", oci.ArtifactType, good()[:1], "no layer holds the module hello.wasm"},
		{"no manifest", oci.ArtifactType, good()[1:], "no manifest.json layer"},
		{"two manifests", oci.ArtifactType,
			append(good(), layer{"manifest.json", oci.MediaTypeManifest, append(slices.Clone(man), ' ')}), `two layers named "manifest.json"`},
		{"too many layers", oci.ArtifactType, append(good(),
			layer{"a", oci.MediaTypeSignature, []byte("a")}, layer{"b", oci.MediaTypeSignature, []byte("b")}, layer{"c", oci.MediaTypeSignature, []byte("c")}), "5 layers"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := pushRaw(t, reg.Host, "bad/case"+string(rune('a'+i)), tt.artifactType, tt.layers)
			dst := t.TempDir()
			_, err := oci.Pull(ctx(t), ref, dst, plain)
			if !errors.Is(err, oci.ErrRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Pull: %v, want refused with %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(dst); len(entries) > 0 {
				t.Errorf("a refused artifact left %d files", len(entries))
			}
		})
	}
}

func TestParseReference(t *testing.T) {
	tests := []struct{ in, want string }{
		{"oci://127.0.0.1:5000/tools/hello:1.0.0", ""},
		{"oci://127.0.0.1:5000/tools/hello@sha256:" + strings.Repeat("a", 64), ""},
		{"127.0.0.1:5000/tools/hello:1.0.0", "want oci://"},
		{"oci://127.0.0.1:5000/tools/hello", "name a tag"},
		{"oci://127.0.0.1:5000/Tools/hello:1", "bad OCI reference"},
		{"oci://127.0.0.1:5000/tools/hello@sha256:abc", "bad OCI reference"},
	}
	for _, tt := range tests {
		_, err := oci.ParseReference(tt.in)
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseReference(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
}

// TestPushPull_credentials: a registry that wants a password gets the one
// the Docker config file holds for it; without the file, nothing.
func TestPushPull_credentials(t *testing.T) {
	reg := registrytest.StartAuth(t)
	ref := "oci://" + reg.Host + "/tools/hello:1.0.0"
	src := toolDir(t)
	if _, err := oci.Push(ctx(t), src, ref, plain); err == nil || !strings.Contains(err.Error(), "credential not found") {
		t.Fatalf("Push without credentials: %v, want refused for want of one", err)
	}
	conf := filepath.Join(t.TempDir(), "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte(registrytest.User + ":" + registrytest.Password))
	if err := os.WriteFile(conf, []byte(`{"auths":{"`+reg.Host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	withCreds := &oci.Options{PlainHTTP: true, DockerConfig: conf}
	d, err := oci.Push(ctx(t), src, ref, withCreds)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oci.Pull(ctx(t), ref, t.TempDir(), plain); err == nil || !strings.Contains(err.Error(), "credential not found") {
		t.Fatalf("Pull without credentials: %v, want refused for want of one", err)
	}
	dst := t.TempDir()
	p, err := oci.Pull(ctx(t), ref, dst, withCreds)
	if err != nil || p.Digest != d {
		t.Fatalf("Pull with credentials: %v %+v", err, p)
	}
	sameFiles(t, src, dst, "manifest.json", "hello.wasm")
}
