package trust

import (
	"bytes"
	"strings"

	"aead.dev/minisign"
)

// SignMessage signs msg (held whole in memory: a short message, such as a
// fleet's deploy notice) with key, in minisign's format with trustedComment
// signed too. VerifyMessage checks it; so does `minisign -V` on a file
// holding msg.
func SignMessage(key *SecretKey, msg []byte, trustedComment string) []byte {
	return minisign.SignWithComments(key.k, msg, trustedComment, "signature from agent-ctl secret key "+key.ID())
}

// PublicKey returns the secret key's public key, as ParsePublicKey
// returns it (no Name).
func (s *SecretKey) PublicKey() Key {
	pk := s.k.Public().(minisign.PublicKey)
	return Key{ID: keyID(pk.ID()), PublicKey: pk.String()}
}

// VerifyMessage checks sig, a minisign signature of msg, against keys and
// returns the key that made it and the signature's trusted comment, or an
// *Error whose File is name: ErrUnsigned for an empty signature,
// ErrMalformed, ErrUnknownKey (made by no key of keys) or ErrBadSignature
// (msg or the comment changed after signing).
func VerifyMessage(name string, msg, sig []byte, keys []Key) (Key, string, error) {
	sig = bytes.TrimRight(sig, "\r\n")
	if len(sig) == 0 {
		return Key{}, "", &Error{File: name, Reason: ErrUnsigned, Detail: "no signature"}
	}
	if len(sig) > maxSig {
		return Key{}, "", &Error{File: name, Reason: ErrMalformed, Detail: "signature larger than the limit"}
	}
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		return Key{}, "", &Error{File: name, Reason: ErrMalformed, Detail: strings.TrimPrefix(err.Error(), "minisign: ")}
	}
	id := keyID(s.KeyID)
	for _, k := range keys {
		if k.ID != id {
			continue
		}
		pk, err := k.public()
		if err != nil {
			return Key{}, "", &Error{File: name, Reason: ErrMalformed, Detail: "trusted key " + k.Name + ": " + err.Error()}
		}
		if !minisign.Verify(pk, msg, sig) {
			return Key{}, "", &Error{File: name, Reason: ErrBadSignature, Detail: "key " + id}
		}
		return k, s.TrustedComment, nil
	}
	return Key{}, "", &Error{File: name, Reason: ErrUnknownKey, Detail: "key ID " + id}
}
