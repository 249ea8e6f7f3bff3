package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// identityFile holds the controller's seeds; everything else (the
// operator's and the accounts' JWTs, the admin's credentials) is derived
// from them.
const identityFile = "identity.json"

// AdminCreds is the file, in the controller's fleet directory, of the
// credentials the fleet commands use by default.
const AdminCreds = "admin.creds"

// Identity is a controller's fleet identity: an operator, the fleet's
// account and the system account, each an nkey. The operator signs the
// accounts; the fleet account signs every user (the admin and each agent).
type Identity struct {
	dir      string
	operator nkeys.KeyPair
	account  nkeys.KeyPair
	system   nkeys.KeyPair
}

type seeds struct {
	Operator string `json:"operator"`
	Account  string `json:"account"`
	System   string `json:"system"`
}

// Dir is where a controller whose home is home keeps its fleet state.
func Dir(home string) string { return filepath.Join(home, "fleet") }

// LoadIdentity reads the identity kept in dir, creating it (and the admin's
// credentials) on first use; created says which.
func LoadIdentity(dir string) (id *Identity, created bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("creating fleet directory: %w", err)
	}
	path := filepath.Join(dir, identityFile)
	b, err := statefile.ReadFile(path, maxCredsFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		id, err = newIdentity(dir)
		if err != nil {
			return nil, false, err
		}
		created = true
	case err != nil:
		return nil, false, fmt.Errorf("reading fleet identity: %w", err)
	default:
		var s seeds
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, false, fmt.Errorf("reading fleet identity %s: %w", path, err)
		}
		id = &Identity{dir: dir}
		for _, k := range []struct {
			seed   string
			prefix nkeys.PrefixByte
			dst    *nkeys.KeyPair
		}{{s.Operator, nkeys.PrefixByteOperator, &id.operator}, {s.Account, nkeys.PrefixByteAccount, &id.account}, {s.System, nkeys.PrefixByteAccount, &id.system}} {
			kp, err := nkeys.FromSeed([]byte(k.seed))
			if err != nil {
				return nil, false, fmt.Errorf("reading fleet identity %s: %w", path, err)
			}
			if pub, err := kp.PublicKey(); err != nil || pub == "" || pub[0] != prefixChar(k.prefix) {
				return nil, false, fmt.Errorf("reading fleet identity %s: a seed of the wrong kind", path)
			}
			*k.dst = kp
		}
	}
	// The fleet's signing key (deploys), for a fleet made before it too.
	if err := id.ensureDeployKey(); err != nil {
		return nil, false, err
	}
	if _, err := os.Stat(filepath.Join(dir, AdminCreds)); errors.Is(err, os.ErrNotExist) {
		creds, _, err := id.userCreds("admin", nil, 0)
		if err != nil {
			return nil, false, err
		}
		if err := statefile.WriteFile(filepath.Join(dir, AdminCreds), creds, 0o600); err != nil {
			return nil, false, fmt.Errorf("writing admin credentials: %w", err)
		}
	}
	return id, created, nil
}

func prefixChar(p nkeys.PrefixByte) byte {
	switch p {
	case nkeys.PrefixByteOperator:
		return 'O'
	case nkeys.PrefixByteAccount:
		return 'A'
	}
	return 'U'
}

func newIdentity(dir string) (*Identity, error) {
	id := &Identity{dir: dir}
	var err error
	if id.operator, err = nkeys.CreateOperator(); err != nil {
		return nil, err
	}
	if id.account, err = nkeys.CreateAccount(); err != nil {
		return nil, err
	}
	if id.system, err = nkeys.CreateAccount(); err != nil {
		return nil, err
	}
	var s seeds
	for _, k := range []struct {
		kp  nkeys.KeyPair
		dst *string
	}{{id.operator, &s.Operator}, {id.account, &s.Account}, {id.system, &s.System}} {
		seed, err := k.kp.Seed()
		if err != nil {
			return nil, err
		}
		*k.dst = string(seed)
	}
	if err := writeJSONFile(filepath.Join(dir, identityFile), "fleet identity", s); err != nil {
		return nil, err
	}
	return id, nil
}

// operatorClaims returns the operator's self-signed claims.
func (id *Identity) operatorClaims() (*jwt.OperatorClaims, error) {
	pub, err := id.operator.PublicKey()
	if err != nil {
		return nil, err
	}
	sys, err := id.system.PublicKey()
	if err != nil {
		return nil, err
	}
	oc := jwt.NewOperatorClaims(pub)
	oc.Name = "agent-ctl"
	oc.SystemAccount = sys
	// Round-trip through the encoded form: the server trusts what it
	// decodes, with its issuer and signature checked.
	tok, err := oc.Encode(id.operator)
	if err != nil {
		return nil, fmt.Errorf("signing operator: %w", err)
	}
	return jwt.DecodeOperatorClaims(tok)
}

// accountClaims returns the claims of the fleet's account and of the
// system account, keyed by account public key, with the revoked join
// tokens in the fleet account's.
func (id *Identity) accountClaims() (map[string]*jwt.AccountClaims, error) {
	revoked, err := id.revocations()
	if err != nil {
		return nil, err
	}
	out := map[string]*jwt.AccountClaims{}
	for _, a := range []struct {
		kp   nkeys.KeyPair
		name string
		js   bool
	}{{id.account, "agent-ctl", true}, {id.system, "SYS", false}} {
		pub, err := a.kp.PublicKey()
		if err != nil {
			return nil, err
		}
		ac := jwt.NewAccountClaims(pub)
		ac.Name = a.name
		if a.js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
			for key, at := range revoked {
				ac.RevokeAt(key, time.Unix(at, 0))
			}
		}
		// Round-trip through the encoded form, as for the operator.
		tok, err := ac.Encode(id.operator)
		if err != nil {
			return nil, fmt.Errorf("signing account %s: %w", a.name, err)
		}
		if out[pub], err = jwt.DecodeAccountClaims(tok); err != nil {
			return nil, fmt.Errorf("signing account %s: %w", a.name, err)
		}
	}
	return out, nil
}

// userCreds returns a credentials file (the user's JWT and its seed) for a
// new user of the fleet account named name, with perms (nil: none
// withheld), expiring after ttl (0: never).
func (id *Identity) userCreds(name string, perms *jwt.Permissions, ttl time.Duration) (creds []byte, uc *jwt.UserClaims, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, nil, err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, nil, err
	}
	uc = jwt.NewUserClaims(pub)
	uc.Name = name
	if perms != nil {
		uc.Permissions = *perms
	}
	if ttl > 0 {
		uc.Expires = time.Now().Add(ttl).Unix()
	}
	tok, err := uc.Encode(id.account)
	if err != nil {
		return nil, nil, fmt.Errorf("signing user %s: %w", name, err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, nil, err
	}
	creds, err = jwt.FormatUserConfig(tok, seed)
	return creds, uc, err
}

// JoinToken returns the credentials of the agent named node: it may
// answer calls addressed to it (and the micro service's discovery
// requests) and publish its own status, and nothing else — no call to
// another node, no status in another's name, no reading of any inbox.
// ttl 0 never expires.
func (id *Identity) JoinToken(node string, ttl time.Duration) ([]byte, error) {
	if err := CheckNode(node); err != nil {
		return nil, err
	}
	perms := &jwt.Permissions{
		// Its status, asking for the kill list (the answer comes to its
		// own inboxes, which no other node may read), reading the module
		// store (deployReads) and taking its own deploys.
		Pub:  jwt.Permission{Allow: append(jwt.StringList{statusSubject(node), killsSubject, missedSubject}, deployReads...)},
		Sub:  jwt.Permission{Allow: jwt.StringList{callSubject(node), "$SRV.>", killedSubject, inboxPrefix(node) + ".>", deploySubject(node)}},
		Resp: &jwt.ResponsePermission{MaxMsgs: 1},
	}
	creds, uc, err := id.userCreds(node, perms, ttl)
	if err != nil {
		return nil, err
	}
	// The fleet's public signing key rides in the token: the node trusts
	// the deploys it signs, from join on, and no key it hears of later.
	if creds, err = id.withFleetKey(creds); err != nil {
		return nil, err
	}
	t := Token{Node: node, Key: uc.Subject, Issued: time.Unix(uc.IssuedAt, 0).UTC()}
	if uc.Expires > 0 {
		t.Expires = time.Unix(uc.Expires, 0).UTC()
	}
	// Recorded before it is handed out: a token the controller cannot
	// revoke is never issued.
	if err := id.recordToken(t); err != nil {
		return nil, err
	}
	return creds, nil
}
