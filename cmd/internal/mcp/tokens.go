package mcp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// Tokens are the bearer tokens `agent-ctl serve` accepts, stored only as
// sha256 hashes in a file (0600) under the agent-ctl home. The file is
// re-read when it changes, so a revoked token stops working at the next
// request.
type Tokens struct {
	path string

	mu    sync.Mutex
	stamp catalog.Stamp
	list  []Token
}

// Token is one stored token: its name and the hash of its secret.
type Token struct {
	Name    string    `json:"name"`
	Hash    string    `json:"sha256"`
	Created time.Time `json:"created"`
}

// TokensPath is where the tokens live under home.
func TokensPath(home string) string { return filepath.Join(home, "tokens.json") }

// OpenTokens returns the token file at path (missing means none).
func OpenTokens(path string) *Tokens { return &Tokens{path: path} }

// Compiled on first use: agent-ctl starts (and each container init) need not pay for it.
var tokenNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })

// ErrToken is wrapped by token management errors a user can fix.
var ErrToken = errors.New("token")

func (t *Tokens) load() ([]Token, error) {
	stamp := catalog.StampOf(t.path)
	if stamp == (catalog.Stamp{}) {
		return nil, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if stamp == t.stamp {
		return t.list, nil
	}
	list, err := t.read()
	if err != nil {
		return nil, err
	}
	t.list, t.stamp = list, stamp
	return list, nil
}

// maxTokensFile bounds the token file: tens of thousands of tokens, and
// no more memory than that for a damaged one.
const maxTokensFile = 4 << 20

// read reads the token file as it is now (missing means none).
func (t *Tokens) read() ([]Token, error) {
	b, err := statefile.ReadFile(t.path, maxTokensFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading tokens: %w", err)
	}
	var list []Token
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("reading tokens: %s is not valid: %w (fix it by hand, or move it aside and create the tokens again)", t.path, err)
	}
	return list, nil
}

// update changes the token file as one step among the agent-ctl processes
// that change it: under the file's lock it reads the list as it is now
// (never the cached copy), lets change edit it and writes it back.
// Without the lock, two concurrent changes each wrote back what they had
// read, and a revoked token could come back.
func (t *Tokens) update(change func([]Token) ([]Token, error)) error {
	if err := os.MkdirAll(filepath.Dir(t.path), 0o700); err != nil {
		return err
	}
	l, err := statefile.Lock(t.path)
	if err != nil {
		return fmt.Errorf("locking tokens: %w", err)
	}
	defer l.Release()
	list, err := t.read()
	if err != nil {
		return err
	}
	if list, err = change(list); err != nil {
		return err
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	if err := statefile.WriteFile(t.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing tokens: %w", err)
	}
	return nil
}

func hash(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

// Create makes a new token and returns its secret, which is shown once and
// never stored.
func (t *Tokens) Create(name string) (string, error) {
	if !tokenNameRE().MatchString(name) {
		return "", fmt.Errorf("%w: name %q: use letters, digits, '.', '_' or '-' (at most 64)", ErrToken, name)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	secret := "act_" + base64.RawURLEncoding.EncodeToString(raw)
	err := t.update(func(list []Token) ([]Token, error) {
		for _, tok := range list {
			if tok.Name == name {
				return nil, fmt.Errorf("%w: %s exists (revoke it first)", ErrToken, name)
			}
		}
		list = append(list, Token{Name: name, Hash: hash(secret), Created: time.Now().UTC().Truncate(time.Second)})
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		return list, nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// List returns the stored tokens (names and dates; secrets are not kept).
func (t *Tokens) List() ([]Token, error) { return t.load() }

// Revoke removes a token.
func (t *Tokens) Revoke(name string) error {
	return t.update(func(list []Token) ([]Token, error) {
		out := list[:0:0]
		for _, tok := range list {
			if tok.Name != name {
				out = append(out, tok)
			}
		}
		if len(out) == len(list) {
			return nil, fmt.Errorf("%w: no token named %q (see agent-ctl token list)", ErrToken, name)
		}
		return out, nil
	})
}

// Check returns the name of the token whose secret this is. Every stored
// hash is compared, in constant time, whatever matches.
func (t *Tokens) Check(secret string) (string, bool) {
	list, err := t.load()
	if err != nil || secret == "" {
		return "", false
	}
	h := []byte(hash(secret))
	name, ok := "", false
	for _, tok := range list {
		if subtle.ConstantTimeCompare(h, []byte(tok.Hash)) == 1 {
			name, ok = tok.Name, true
		}
	}
	return name, ok
}
