package fleet

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// tokensFile records the join tokens a controller issued (their users'
// public keys, never their seeds) and the ones revoked, so that a revoked
// token is refused at its next connect, across controller restarts too.
const tokensFile = "tokens.json"

// reloadSubject is where the fleet's admin asks a running controller to
// apply the revocations recorded in its fleet directory. Agents may not
// publish to it (their permissions allow only their own status subject).
const reloadSubject = "agentctl.admin.reload"

// Token is one issued join token.
type Token struct {
	Node string `json:"node"`
	// Key is the public key of the token's user.
	Key     string    `json:"key"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires,omitzero"`
	// Revoked is when the token was revoked; zero while it is valid.
	Revoked time.Time `json:"revoked,omitzero"`
}

type tokenRegistry struct {
	Tokens []Token `json:"tokens"`
}

// maxTokens bounds the registry: issuing a token past it fails with a
// clear error rather than growing the account's JWT without bound.
const maxTokens = 10000

// updateTokens changes the registry under its lock.
func (id *Identity) updateTokens(f func(r *tokenRegistry) error) error {
	path := filepath.Join(id.dir, tokensFile)
	held, err := statefile.Lock(path + ".lock")
	if err != nil {
		return fmt.Errorf("locking the token registry: %w", err)
	}
	defer held.Release()
	r, err := id.tokens()
	if err != nil {
		return err
	}
	if err := f(r); err != nil {
		return err
	}
	return writeJSONFile(path, "the token registry", r)
}

// tokens reads the registry; a missing one is empty.
func (id *Identity) tokens() (*tokenRegistry, error) {
	r := &tokenRegistry{}
	if err := readJSONFile(filepath.Join(id.dir, tokensFile), "the token registry", r); err != nil {
		return nil, err
	}
	return r, nil
}

// Tokens lists the join tokens issued, oldest first.
func (id *Identity) Tokens() ([]Token, error) {
	r, err := id.tokens()
	if err != nil {
		return nil, err
	}
	return r.Tokens, nil
}

// Revoke revokes every join token issued for node so far and returns how
// many were still valid. A running controller applies it when asked
// (Client.Reload); a controller started later applies it at start.
func (id *Identity) Revoke(node string) (int, error) {
	if err := CheckNode(node); err != nil {
		return 0, err
	}
	n, found := 0, false
	err := id.updateTokens(func(r *tokenRegistry) error {
		now := time.Now().UTC()
		for i := range r.Tokens {
			t := &r.Tokens[i]
			if t.Node != node {
				continue
			}
			found = true
			if t.Revoked.IsZero() {
				t.Revoked = now
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("no join token was issued for node %q", node)
	}
	return n, nil
}

// revocations maps each revoked token's user key to when it was revoked,
// as an account JWT carries them.
func (id *Identity) revocations() (map[string]int64, error) {
	r, err := id.tokens()
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, t := range r.Tokens {
		if !t.Revoked.IsZero() {
			// A user JWT issued at or before this second is refused.
			out[t.Key] = t.Revoked.Unix() + 1
		}
	}
	return out, nil
}

// recordToken adds an issued token to the registry.
func (id *Identity) recordToken(t Token) error {
	return id.updateTokens(func(r *tokenRegistry) error {
		if len(r.Tokens) >= maxTokens {
			return fmt.Errorf("the fleet has issued %d join tokens, the most it records; remove revoked ones from %s", maxTokens, filepath.Join(id.dir, tokensFile))
		}
		if slices.ContainsFunc(r.Tokens, func(o Token) bool { return o.Key == t.Key }) {
			return fmt.Errorf("join token key %s issued twice", t.Key)
		}
		r.Tokens = append(r.Tokens, t)
		return nil
	})
}
