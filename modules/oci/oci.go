// Package oci moves tools through OCI registries: Push publishes a module
// directory (manifest.json, the module it names and their minisign
// signatures) as one OCI artifact of agent-ctl's own artifact type, and
// Pull fetches one into a directory, checking every size and digest and
// accepting only the file names a module directory has, so that the
// result can go through the same install path as a local directory.
//
// It is the one package that imports oras-go.
//
//	d, err := oci.Push(ctx, "modules/hello", "oci://127.0.0.1:5000/tools/hello:1.0.0", &oci.Options{PlainHTTP: true})
//	p, err := oci.Pull(ctx, "oci://127.0.0.1:5000/tools/hello@"+d, dir, &oci.Options{PlainHTTP: true})
package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/untrusted"
	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// The artifact's types (docs/modules.md, "OCI registries").
const (
	// ArtifactType is the artifactType of a tool's OCI manifest.
	ArtifactType = "application/vnd.agent-ctl.tool.v1"
	// MediaTypeManifest is the layer holding manifest.json.
	MediaTypeManifest = "application/vnd.agent-ctl.tool.manifest.v1+json"
	// MediaTypeModule is the layer holding the module (.wasm).
	MediaTypeModule = "application/vnd.agent-ctl.tool.module.v1+wasm"
	// MediaTypeSignature is a layer holding a minisign signature
	// (manifest.json.minisig or <module>.minisig).
	MediaTypeSignature = "application/vnd.agent-ctl.tool.signature.v1+minisig"

	// Scheme prefixes a reference on the command line.
	Scheme = "oci://"

	manifestFile = "manifest.json"
	sigSuffix    = ".minisig"
)

// Limits on what Pull accepts: a registry is as untrusted as the module.
const (
	// MaxOCIManifest bounds the OCI manifest (ours is well under 2 KiB).
	MaxOCIManifest = 64 << 10
	// MaxSignature bounds a .minisig file (minisign's are under 1 KiB).
	MaxSignature = 16 << 10
	// MaxLayers: manifest.json, the module and a signature of each.
	MaxLayers = 4
	// MaxTotal bounds all layers together.
	MaxTotal = manifest.MaxSize + wasmfile.MaxSize + 2*MaxSignature
)

var (
	// ErrRefused is wrapped when an artifact is not an agent-ctl tool or
	// breaks a rule: its type, a layer's media type, name, size or digest.
	ErrRefused = errors.New("artifact refused")
	// ErrReference is wrapped when a reference does not parse.
	ErrReference = errors.New("bad OCI reference")
)

// Options configure Push and Pull. A nil *Options is the zero value.
type Options struct {
	// PlainHTTP talks to the registry over HTTP rather than HTTPS (a
	// loopback registry without TLS). False: HTTPS.
	PlainHTTP bool
	// DockerConfig is the Docker config file whose credentials (and
	// credential helpers) are used. Empty: $DOCKER_CONFIG/config.json, or
	// ~/.docker/config.json; a missing file means no credentials.
	DockerConfig string
	// Logger gets debug lines of each layer. Nil: discarded.
	Logger *slog.Logger
}

// IsReference reports whether s names an OCI artifact (oci://…) rather
// than a local directory or archive.
func IsReference(s string) bool { return strings.HasPrefix(s, Scheme) }

// ParseReference parses oci://HOST[:PORT]/REPO:TAG or
// oci://HOST[:PORT]/REPO@sha256:HEX. A tag or a digest is required.
func ParseReference(s string) (registry.Reference, error) {
	if !IsReference(s) {
		return registry.Reference{}, fmt.Errorf("%w %q: want %sHOST[:PORT]/REPO:TAG or …@sha256:DIGEST", ErrReference, s, Scheme)
	}
	ref, err := registry.ParseReference(strings.TrimPrefix(s, Scheme))
	if err != nil {
		return registry.Reference{}, fmt.Errorf("%w %q: %w", ErrReference, s, err)
	}
	if ref.Reference == "" {
		return registry.Reference{}, fmt.Errorf("%w %q: name a tag (:TAG) or a digest (@sha256:…)", ErrReference, s)
	}
	return ref, nil
}

func repository(ref registry.Reference, opts *Options) (*remote.Repository, error) {
	var store credentials.Store
	var err error
	if opts.DockerConfig != "" {
		store, err = credentials.NewStore(opts.DockerConfig, credentials.StoreOptions{})
	} else {
		store, err = credentials.NewStoreFromDocker(credentials.StoreOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("reading registry credentials: %w", err)
	}
	repo := &remote.Repository{Reference: ref, PlainHTTP: opts.PlainHTTP}
	repo.Client = &auth.Client{
		Client:     retry.DefaultClient,
		Cache:      auth.NewCache(),
		Credential: credentials.Credential(store),
	}
	repo.ManifestMediaTypes = []string{ocispec.MediaTypeImageManifest}
	return repo, nil
}

func logger(opts *Options) *slog.Logger {
	if opts.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return opts.Logger
}

// Push publishes the module directory dir (manifest.json, the module it
// names, and manifest.json.minisig and <module>.minisig when present) to
// ref, which must name a tag, and returns the artifact's digest
// (sha256:…). The manifest and the module are checked as install checks
// them: nothing is published that would not install.
func Push(ctx context.Context, dir, ref string, opts *Options) (_ string, err error) {
	defer func() { err = untrusted.Error(err) }() // as Pull's
	if opts == nil {
		opts = &Options{}
	}
	r, err := ParseReference(ref)
	if err != nil {
		return "", err
	}
	if _, err := r.Digest(); err == nil {
		return "", fmt.Errorf("%w %q: publish to a tag, not a digest", ErrReference, ref)
	}
	raw, err := readRegular(filepath.Join(dir, manifestFile), manifest.MaxSize)
	if err != nil {
		return "", fmt.Errorf("publishing %s: %w", dir, err)
	}
	m, err := manifest.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("publishing %s: %w", dir, err)
	}
	if _, err := m.Compile(); err != nil {
		return "", fmt.Errorf("publishing %s: %w", dir, err)
	}
	module := m.ModuleFile()
	if _, err := wasmfile.Check(filepath.Join(dir, module)); err != nil {
		return "", fmt.Errorf("publishing %s: %w", dir, err)
	}
	type layer struct{ name, mediaType string }
	layers := []layer{{manifestFile, MediaTypeManifest}, {module, MediaTypeModule}}
	for _, s := range []string{manifestFile + sigSuffix, module + sigSuffix} {
		if _, err := os.Lstat(filepath.Join(dir, s)); err == nil {
			layers = append(layers, layer{s, MediaTypeSignature})
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("publishing %s: %w", dir, err)
		}
	}
	repo, err := repository(r, opts)
	if err != nil {
		return "", err
	}
	var descs []ocispec.Descriptor
	for _, l := range layers {
		// Read whole: the largest is a module of at most 256 MiB, and the
		// digest must be of the bytes sent, not of a file that may change.
		b, err := readRegular(filepath.Join(dir, l.name), limitOf(l.mediaType))
		if err != nil {
			return "", fmt.Errorf("publishing %s: %w", dir, err)
		}
		desc := content.NewDescriptorFromBytes(l.mediaType, b)
		desc.Annotations = map[string]string{ocispec.AnnotationTitle: l.name}
		exists, err := repo.Exists(ctx, desc)
		if err != nil {
			return "", fmt.Errorf("publishing %s to %s: %w", l.name, r, err)
		}
		if !exists {
			if err := repo.Push(ctx, desc, bytes.NewReader(b)); err != nil {
				return "", fmt.Errorf("publishing %s to %s: %w", l.name, r, err)
			}
		}
		logger(opts).Debug("layer published", "file", l.name, "digest", desc.Digest.String(), "size", desc.Size)
		descs = append(descs, desc)
	}
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, ArtifactType, oras.PackManifestOptions{
		Layers: descs,
		ManifestAnnotations: map[string]string{
			ocispec.AnnotationTitle:   m.Name,
			ocispec.AnnotationVersion: m.Version,
		},
	})
	if err != nil {
		return "", fmt.Errorf("publishing %s to %s: %w", m.Name, r, err)
	}
	if err := repo.Tag(ctx, desc, r.Reference); err != nil {
		return "", fmt.Errorf("tagging %s as %s: %w", desc.Digest, r, err)
	}
	return desc.Digest.String(), nil
}

// Pulled is an artifact Pull fetched.
type Pulled struct {
	// Digest is the artifact's (its OCI manifest's) digest, sha256:….
	Digest string
	// Files are the file names written, manifest.json first.
	Files []string
}

// Pull fetches the tool artifact ref names into dst, an existing empty
// directory the caller owns (and removes on error). Everything is checked
// before or while it is written: the OCI manifest's size, digest (against
// the reference's digest when it names one), media type and artifact type;
// each layer's media type, title (manifest.json, the module the manifest
// names, or a .minisig of either; each at most once), size and digest. An
// artifact that breaks a rule is an error wrapping ErrRefused.
func Pull(ctx context.Context, ref, dst string, opts *Options) (_ *Pulled, err error) {
	// The registry writes part of an error's text (the message of its
	// error answer, which oras quotes): shown escaped, still wrapped.
	defer func() { err = untrusted.Error(err) }()
	if opts == nil {
		opts = &Options{}
	}
	r, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	repo, err := repository(r, opts)
	if err != nil {
		return nil, err
	}
	refused := func(format string, a ...any) error {
		return fmt.Errorf("fetching %s: %w: %s", r, ErrRefused, fmt.Sprintf(format, a...))
	}
	desc, rc, err := repo.Manifests().FetchReference(ctx, r.Reference)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", r, err)
	}
	defer rc.Close()
	if want, err := r.Digest(); err == nil && desc.Digest != want {
		return nil, refused("the registry answered %s for %s", desc.Digest, want)
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return nil, refused("media type %q, not an OCI image manifest", desc.MediaType)
	}
	if desc.Size > MaxOCIManifest {
		return nil, refused("OCI manifest of %d bytes, more than %d", desc.Size, MaxOCIManifest)
	}
	// ReadAll reads exactly desc.Size bytes and checks them against its
	// digest: for a tag, the one the registry named; for a digest, ours.
	raw, err := content.ReadAll(rc, desc)
	if err != nil {
		return nil, refused("OCI manifest: %v", err)
	}
	var om ocispec.Manifest
	if err := json.Unmarshal(raw, &om); err != nil {
		return nil, refused("OCI manifest: %v", err)
	}
	if om.MediaType != "" && om.MediaType != ocispec.MediaTypeImageManifest {
		return nil, refused("OCI manifest says media type %q", om.MediaType)
	}
	if om.ArtifactType != ArtifactType {
		got := om.ArtifactType
		if got == "" {
			got = om.Config.MediaType
		}
		return nil, refused("artifact type %q, not an agent-ctl tool (%s)", got, ArtifactType)
	}
	if len(om.Layers) > MaxLayers {
		return nil, refused("%d layers, more than %d", len(om.Layers), MaxLayers)
	}
	var total int64
	byTitle := map[string]ocispec.Descriptor{}
	for _, l := range om.Layers {
		title := l.Annotations[ocispec.AnnotationTitle]
		if _, dup := byTitle[title]; dup {
			return nil, refused("two layers named %q", title)
		}
		if limitOf(l.MediaType) == 0 {
			return nil, refused("layer %q has media type %q, not one of a tool's", title, l.MediaType)
		}
		if l.Size < 0 || l.Size > limitOf(l.MediaType) {
			return nil, refused("layer %q of %d bytes, more than the %d allowed for %s", title, l.Size, limitOf(l.MediaType), l.MediaType)
		}
		if total += l.Size; total > MaxTotal {
			return nil, refused("layers of more than %d bytes together", int64(MaxTotal))
		}
		if l.Digest.Algorithm() != digest.SHA256 || l.Digest.Validate() != nil {
			return nil, refused("layer %q: digest %q is not a sha256", title, l.Digest)
		}
		byTitle[title] = l
	}
	// manifest.json first: it names the module, and so the other names.
	mdesc, ok := byTitle[manifestFile]
	if !ok || mdesc.MediaType != MediaTypeManifest {
		return nil, refused("no %s layer of media type %s", manifestFile, MediaTypeManifest)
	}
	mraw, err := fetchBytes(ctx, repo, mdesc)
	if err != nil {
		return nil, refused("%s: %v", manifestFile, err)
	}
	m, err := manifest.Parse(mraw)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", r, err)
	}
	module := m.ModuleFile()
	allowed := map[string]string{
		manifestFile:             MediaTypeManifest,
		module:                   MediaTypeModule,
		manifestFile + sigSuffix: MediaTypeSignature,
		module + sigSuffix:       MediaTypeSignature,
	}
	for title, l := range byTitle {
		want, ok := allowed[title]
		if !ok {
			return nil, refused("layer %q: not %s, the module it names (%s), or a signature of either", title, manifestFile, module)
		}
		if l.MediaType != want {
			return nil, refused("layer %q has media type %q, want %q", title, l.MediaType, want)
		}
	}
	if _, ok := byTitle[module]; !ok {
		return nil, refused("no layer holds the module %s the manifest names", module)
	}
	if err := writeNew(filepath.Join(dst, manifestFile), bytes.NewReader(mraw)); err != nil {
		return nil, fmt.Errorf("fetching %s: %w", r, err)
	}
	p := &Pulled{Digest: desc.Digest.String(), Files: []string{manifestFile}}
	for _, name := range []string{module, manifestFile + sigSuffix, module + sigSuffix} {
		l, ok := byTitle[name]
		if !ok {
			continue
		}
		if err := fetchFile(ctx, repo, l, filepath.Join(dst, name)); err != nil {
			if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, refused("layer %q: %v", name, err)
			}
			return nil, fmt.Errorf("fetching %s: layer %q: %w", r, name, err)
		}
		logger(opts).Debug("layer fetched", "file", name, "digest", l.Digest.String(), "size", l.Size)
		p.Files = append(p.Files, name)
	}
	return p, nil
}

// limitOf is the largest layer of a media type; 0 for an unknown type, so
// that only the types of a tool are ever fetched.
func limitOf(mediaType string) int64 {
	switch mediaType {
	case MediaTypeManifest:
		return manifest.MaxSize
	case MediaTypeModule:
		return wasmfile.MaxSize
	case MediaTypeSignature:
		return MaxSignature
	}
	return 0
}

func fetchBytes(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor) ([]byte, error) {
	rc, err := repo.Blobs().Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return content.ReadAll(rc, desc)
}

// fetchFile streams a layer into a new file, checking its size and digest
// as it goes; a file that fails the check is removed.
func fetchFile(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, path string) error {
	rc, err := repo.Blobs().Fetch(ctx, desc)
	if err != nil {
		return err
	}
	defer rc.Close()
	vr := content.NewVerifyReader(rc, desc)
	if err := writeNew(path, vr); err != nil {
		os.Remove(path)
		return err
	}
	if err := vr.Verify(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// writeNew creates path (never following or replacing anything there) and
// copies r into it.
func writeNew(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readRegular reads a regular file (not a link) of at most limit bytes.
func readRegular(path string, limit int64) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", filepath.Base(path))
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", filepath.Base(path), limit)
	}
	// The size can change after the Lstat: the read is bounded again.
	return statefile.ReadFile(path, limit)
}
