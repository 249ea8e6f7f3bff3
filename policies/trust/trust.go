// Package trust signs module directories and verifies them against the
// operator's trusted keys, in minisign's format: a signature file beside
// each of the manifest and the module (manifest.json.minisig,
// <module>.minisig), so that the minisign tool and agent-ctl verify each
// other's signatures.
//
// Verify is the check itself, against keys given by the caller; VerifyDir
// applies the operator's policy kept in $AGENTCTL_HOME (trust.json: the
// trusted keys and whether a signature is required).
//
//	res, err := trust.VerifyDir(home, dir)
//	if err != nil { … refused: err names the file and the reason … }
//	fmt.Println("signed by", res.Signer.Name) // empty: unsigned
package trust

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"aead.dev/minisign"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/untrusted"
	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// Why a module directory does not verify: the Reason of an *Error.
var (
	// ErrUnsigned: the signature file is missing.
	ErrUnsigned = errors.New("unsigned")
	// ErrUnknownKey: the signature was made by a key that is not trusted.
	ErrUnknownKey = errors.New("signed by a key that is not trusted")
	// ErrBadSignature: a trusted key's signature does not match the file:
	// the file changed after it was signed (tampered or damaged).
	ErrBadSignature = errors.New("signature does not match the file (changed after signing?)")
	// ErrMalformed: the signature file is not a minisign signature agent-ctl
	// accepts (unparsable, too large, or in minisign's legacy format).
	ErrMalformed = errors.New("malformed signature file")
	// ErrMixedSigners: the manifest and the module are signed by different
	// trusted keys, so no one key vouches for the pair.
	ErrMixedSigners = errors.New("signed by another key than the manifest")
)

const (
	// SigSuffix is appended to a file's name to name its signature file.
	SigSuffix = ".minisig"
	// Unsigned is how agent-ctl names the signer of a module no trusted key
	// vouches for.
	Unsigned = "unsigned"

	// maxSig bounds a signature file: four lines, of which only the two
	// comments vary; minisign's own comments are far shorter.
	maxSig = 8 << 10
)

// Error says why a module directory does not verify: the file (its name
// in the directory) and the reason, one of the sentinels above, with a
// detail.
type Error struct {
	// File is the signed file's name in the module directory.
	File string
	// Reason is ErrUnsigned, ErrUnknownKey, ErrBadSignature, ErrMalformed
	// or ErrMixedSigners.
	Reason error
	// Detail says more (the key ID, the parse error); may be empty.
	Detail string
	// none is set on an ErrUnsigned when no file in the directory has a
	// signature at all, as opposed to one file left unsigned.
	none bool
}

func (e *Error) Error() string {
	s := fmt.Sprintf("verifying signature of %s: %v", e.File, e.Reason)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Unwrap returns the reason, for errors.Is.
func (e *Error) Unwrap() error { return e.Reason }

// Key is a trusted public key.
type Key struct {
	// Name is the operator's name for the key, unique among the keys.
	Name string `json:"name"`
	// ID is the key's minisign key ID, 16 upper-case hex digits, as the
	// minisign tool prints it.
	ID string `json:"id"`
	// PublicKey is the key in minisign's base64 form (the second line of
	// a minisign.pub file; what `minisign -P` takes).
	PublicKey string `json:"public_key"`
	// Added is when the key was trusted.
	Added time.Time `json:"added"`
}

// ParsePublicKey reads a minisign public key: the base64 key itself, or
// the text of a minisign .pub file (an untrusted comment line, then the
// key). It returns the key with its ID; the Name is left for the caller.
func ParsePublicKey(text string) (Key, error) {
	var pk minisign.PublicKey
	if err := pk.UnmarshalText([]byte(strings.TrimSpace(text))); err != nil {
		return Key{}, fmt.Errorf("parsing public key: %w", err)
	}
	return Key{ID: keyID(pk.ID()), PublicKey: pk.String()}, nil
}

func keyID(id uint64) string { return fmt.Sprintf("%016X", id) }

func (k Key) public() (minisign.PublicKey, error) {
	var pk minisign.PublicKey
	err := pk.UnmarshalText([]byte(k.PublicKey))
	return pk, err
}

// SecretKey is a minisign secret key, decrypted, ready to sign.
type SecretKey struct{ k minisign.PrivateKey }

// ID is the key's minisign key ID (16 upper-case hex digits).
func (s *SecretKey) ID() string { return keyID(s.k.ID()) }

// KeyEncrypted reports whether the minisign secret key in text is
// encrypted, so that a password is needed to load it.
func KeyEncrypted(text []byte) bool { return minisign.IsEncrypted(text) }

// ParseSecretKey reads a minisign secret key file's text, decrypting it
// with password when it is encrypted (minisign -G without -W).
func ParseSecretKey(text []byte, password string) (*SecretKey, error) {
	if minisign.IsEncrypted(text) {
		k, err := minisign.DecryptKey(password, text)
		if err != nil {
			return nil, fmt.Errorf("decrypting secret key (wrong password?): %w", err)
		}
		return &SecretKey{k}, nil
	}
	var k minisign.PrivateKey
	if err := k.UnmarshalText(text); err != nil {
		return nil, fmt.Errorf("parsing secret key: %w", err)
	}
	return &SecretKey{k}, nil
}

// GenerateKey makes a new key pair and returns the texts of its minisign
// public key file and secret key file; the secret key is encrypted with
// password (minisign's scrypt parameters), or left unencrypted when
// password is empty, as `minisign -G -W` does.
func GenerateKey(password string) (public, secret []byte, err error) {
	pk, sk, err := minisign.GenerateKey(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	public, _ = pk.MarshalText()
	public = append(public, '\n')
	if password == "" {
		secret, err = sk.MarshalText()
	} else {
		secret, err = minisign.EncryptKey(password, sk)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("encoding secret key: %w", err)
	}
	return public, append(secret, '\n'), nil
}

// Sign signs the module directory dir with key: it writes
// manifest.json.minisig and <module>.minisig beside the manifest and the
// module it names, replacing earlier signatures. The signatures are
// minisign's pre-hashed ones, with minisign's trusted comment (timestamp
// and file name), which `minisign -V` verifies. The manifest's trusted
// comment also names the module's sha256, so that Verify refuses the
// manifest beside another module, even one the same key signed.
func Sign(dir string, key *SecretKey) error {
	m, raw, err := manifest.Load(dir)
	if err != nil {
		return fmt.Errorf("signing %s: %w", dir, err)
	}
	module := m.ModuleFile()
	f, err := statefile.Open(filepath.Join(dir, module))
	if err != nil {
		return fmt.Errorf("signing %s: %w", module, err)
	}
	h := sha256.New()
	r := minisign.NewReader(io.TeeReader(f, h))
	_, err = io.Copy(io.Discard, r)
	f.Close()
	if err != nil {
		return fmt.Errorf("signing %s: %w", module, err)
	}
	now := "timestamp:" + strconv.FormatInt(time.Now().Unix(), 10)
	untrusted := "signature from agent-ctl secret key " + key.ID()
	sig := r.SignWithComments(key.k, now+"\tfile:"+module+"\thashed", untrusted)
	if err := statefile.WriteFile(filepath.Join(dir, module+SigSuffix), sig, 0o644); err != nil {
		return fmt.Errorf("writing signature of %s: %w", module, err)
	}
	mr := minisign.NewReader(bytes.NewReader(raw))
	io.Copy(io.Discard, mr)
	sig = mr.SignWithComments(key.k, now+"\tfile:"+manifest.FileName+"\thashed\t"+moduleTag+hex.EncodeToString(h.Sum(nil)), untrusted)
	if err := statefile.WriteFile(filepath.Join(dir, manifest.FileName+SigSuffix), sig, 0o644); err != nil {
		return fmt.Errorf("writing signature of %s: %w", manifest.FileName, err)
	}
	return nil
}

// moduleTag starts the field of the manifest's trusted comment that names
// the module's sha256.
const moduleTag = "module-sha256:"

// Verify checks the signatures of the module directory dir: the manifest's
// and the module's (the file the manifest names) must both be made by one
// of keys and match their files, and where the manifest's signature names
// the module's sha256 (agent-ctl sign's do; minisign -S's do not), the
// module must be that one. It returns the key, or an *Error naming the
// first file that does not verify and why.
func Verify(dir string, keys []Key) (Key, error) {
	m, raw, err := manifest.Load(dir)
	if err != nil {
		return Key{}, fmt.Errorf("verifying %s: %w", dir, err)
	}
	module := m.ModuleFile()
	k, comment, _, err := verifyFile(dir, manifest.FileName, keys, func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Reason == ErrUnsigned {
			if _, serr := os.Lstat(filepath.Join(dir, module+SigSuffix)); errors.Is(serr, os.ErrNotExist) {
				e.none = true
			}
		}
		return Key{}, err
	}
	mk, _, digest, err := verifyFile(dir, module, keys, func() (io.ReadCloser, error) {
		return statefile.Open(filepath.Join(dir, module))
	})
	if err != nil {
		return Key{}, err
	}
	if mk.ID != k.ID {
		return Key{}, &Error{File: module, Reason: ErrMixedSigners,
			Detail: fmt.Sprintf("%s by %s, %s by %s", module, mk.Name, manifest.FileName, k.Name)}
	}
	for _, field := range strings.Split(comment, "\t") {
		if want, ok := strings.CutPrefix(field, moduleTag); ok && want != digest {
			return Key{}, &Error{File: module, Reason: ErrBadSignature,
				// want is the signer's text, not necessarily hex: shown escaped.
				Detail: fmt.Sprintf("key %s signed %s for module sha256:%s; this one is sha256:%s", k.Name, manifest.FileName, showText(short(want)), short(digest))}
		}
	}
	return k, nil
}

// showText is untrusted.Show, under a name that Sign's local variable
// "untrusted" (minisign's untrusted comment) does not hide.
var showText = untrusted.Show

func short(digest string) string { return digest[:min(12, len(digest))] }

// verifyFile checks dir/name's signature against keys, hashing what open
// returns as the file's content: streamed, never held in memory whole, and
// opened only once the signature names a trusted key.
//
// It returns the key, the signature's trusted comment (verified) and the
// content's sha256.
func verifyFile(dir, name string, keys []Key, open func() (io.ReadCloser, error)) (Key, string, string, error) {
	sigName := name + SigSuffix
	text, err := statefile.ReadFile(filepath.Join(dir, sigName), maxSig)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return Key{}, "", "", &Error{File: name, Reason: ErrUnsigned, Detail: "no " + sigName}
	case errors.Is(err, statefile.ErrTooLarge):
		return Key{}, "", "", &Error{File: name, Reason: ErrMalformed, Detail: fmt.Sprintf("%s is larger than %d bytes", sigName, maxSig)}
	case err != nil:
		return Key{}, "", "", fmt.Errorf("verifying signature of %s: %w", name, err)
	}
	text = bytes.TrimRight(text, "\r\n")
	var sig minisign.Signature
	if err := sig.UnmarshalText(text); err != nil {
		return Key{}, "", "", &Error{File: name, Reason: ErrMalformed, Detail: sigName + ": " + strings.TrimPrefix(err.Error(), "minisign: ")}
	}
	if sig.Algorithm != minisign.HashEdDSA {
		// Legacy signatures sign the whole file, not its hash: checking one
		// needs the whole module in memory. minisign -V -H refuses them too.
		return Key{}, "", "", &Error{File: name, Reason: ErrMalformed, Detail: sigName + " is in minisign's legacy format; sign without -l"}
	}
	id := keyID(sig.KeyID)
	var key Key
	for _, k := range keys {
		if k.ID == id {
			key = k
			break
		}
	}
	if key.ID == "" {
		return Key{}, "", "", &Error{File: name, Reason: ErrUnknownKey, Detail: "key ID " + id}
	}
	pk, err := key.public()
	if err != nil {
		return Key{}, "", "", fmt.Errorf("reading trusted key %s: %w", key.Name, err)
	}
	f, err := open()
	if err != nil {
		return Key{}, "", "", fmt.Errorf("verifying signature of %s: %w", name, err)
	}
	h := sha256.New()
	r := minisign.NewReader(io.TeeReader(io.LimitReader(f, wasmfile.MaxSize+1), h))
	n, err := io.Copy(io.Discard, r)
	f.Close()
	if err == nil && n > wasmfile.MaxSize {
		err = fmt.Errorf("larger than %d bytes", int64(wasmfile.MaxSize))
	}
	if err != nil {
		return Key{}, "", "", fmt.Errorf("verifying signature of %s: %w", name, err)
	}
	if !r.Verify(pk, text) {
		return Key{}, "", "", &Error{File: name, Reason: ErrBadSignature, Detail: "key " + key.Name}
	}
	return key, sig.TrustedComment, hex.EncodeToString(h.Sum(nil)), nil
}
