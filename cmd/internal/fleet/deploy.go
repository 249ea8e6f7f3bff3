package fleet

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
	"github.com/agent-ctl/agent-ctl/policies/trust"
)

// Deploys. `fleet deploy` packs a tool (its manifest and module, signed
// with the fleet's signing key as `agent-ctl sign` signs a directory),
// puts the archive into the JetStream object store ModuleBucket, records
// the rollout in the key-value bucket RolloutBucket, and sends each chosen
// node a deploy notice on its own subject (deploySubject): the object's
// name, the archive's and the module's digests and the nodes it is for,
// signed with the fleet key. The node checks the notice against the fleet
// key its join token carried, reads the object (direct gets only: its
// credentials may read the bucket's stream, never write it), checks the
// digest, verifies the signatures inside, installs it through the catalog
// as `agent-ctl install` does, and answers installed or refused.
const (
	// ModuleBucket is the object store that holds deployed tools.
	ModuleBucket = "AGENTCTL_MODULES"
	// RolloutBucket is the key-value bucket of the rollouts, by tool:
	// what `fleet ls` shows as each node's pending deploy.
	RolloutBucket = "AGENTCTL_ROLLOUTS"

	deployPrefix = "agentctl.deploy."
	// missedSubject is where an agent asks the controller, when it
	// (re)connects, for the notices of the last rollouts that chose it.
	// The answer goes to the asker's inbox, which names its node: only
	// that node may read it.
	missedSubject = "agentctl.deploys"
	// moduleStream is the object store's stream; agents read it with
	// direct gets.
	moduleStream = "OBJ_" + ModuleBucket

	deployKeyFile = "deploy.key"
	deployPubFile = "deploy.pub"
	deploysFile   = "deploys.json"

	fleetKeyBegin = "-----BEGIN AGENT-CTL FLEET SIGNING KEY-----"
	fleetKeyEnd   = "------END AGENT-CTL FLEET SIGNING KEY------"

	// FleetSigner is the signer name a deployed version is installed
	// under (then the key ID): the name the grants' carry-over rule
	// compares, so that grants given to one fleet-deployed version carry
	// over to the next one of the same fleet that asks for no more.
	FleetSigner = "fleet-"

	// maxNotice bounds a deploy notice.
	maxNotice = 64 << 10
	// maxArchive bounds a deployed archive: the module's own limit, and
	// room for the manifest and signatures.
	maxArchive = wasmfile.MaxSize + 4<<20
	// maxRollouts bounds the rollouts `fleet ls` reads.
	maxRollouts = 1024
)

func deploySubject(node string) string { return deployPrefix + node }

// deployReads are the JetStream API subjects a node may publish to, to
// read the module store: the stream's info and direct gets. Nothing that
// writes, and no consumer (a consumer may deliver to any subject).
var deployReads = []string{
	"$JS.API.STREAM.INFO." + moduleStream,
	"$JS.API.DIRECT.GET." + moduleStream,
	"$JS.API.DIRECT.GET." + moduleStream + ".>",
}

// ensureDeployKey creates the fleet's signing key on first use: a
// minisign key pair, the secret half unencrypted (the controller signs
// unattended) with mode 0600 in the fleet directory.
func (id *Identity) ensureDeployKey() error {
	path := filepath.Join(id.dir, deployKeyFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading the fleet signing key: %w", err)
	}
	pub, sec, err := trust.GenerateKey("")
	if err != nil {
		return err
	}
	// The public half first: a secret key without it is never left behind.
	if err := statefile.WriteFile(filepath.Join(id.dir, deployPubFile), pub, 0o644); err != nil {
		return fmt.Errorf("writing the fleet signing key: %w", err)
	}
	if err := statefile.WriteFile(path, sec, 0o600); err != nil {
		return fmt.Errorf("writing the fleet signing key: %w", err)
	}
	return nil
}

// DeployKey returns the fleet's signing key, which signs deploys.
func (id *Identity) DeployKey() (*trust.SecretKey, error) {
	b, err := statefile.ReadFile(filepath.Join(id.dir, deployKeyFile), 4<<10)
	if err != nil {
		return nil, fmt.Errorf("reading the fleet signing key: %w", err)
	}
	k, err := trust.ParseSecretKey(b, "")
	if err != nil {
		return nil, fmt.Errorf("reading the fleet signing key %s: %w", filepath.Join(id.dir, deployKeyFile), err)
	}
	return k, nil
}

// FleetKey returns the public half of the fleet's signing key, as join
// tokens carry it.
func (id *Identity) FleetKey() (trust.Key, error) {
	k, err := id.DeployKey()
	if err != nil {
		return trust.Key{}, err
	}
	pk := k.PublicKey()
	pk.Name = FleetSigner + pk.ID
	return pk, nil
}

// withFleetKey appends the fleet's public signing key to a credentials
// file, in a block of its own after the JWT and the seed, which NATS
// clients do not read (they take the first two blocks).
func (id *Identity) withFleetKey(creds []byte) ([]byte, error) {
	k, err := id.FleetKey()
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(creds, "\n%s\n%s\n%s\n", fleetKeyBegin, k.PublicKey, fleetKeyEnd), nil
}

// FleetKeyFromCreds reads the fleet's public signing key from a join
// token. An agent takes it from there, at join, and from nowhere else:
// it never trusts a key it learns later over the bus.
func FleetKeyFromCreds(path string) (trust.Key, error) {
	b, err := statefile.ReadFile(path, maxCredsFile)
	if err != nil {
		return trust.Key{}, fmt.Errorf("reading credentials: %w", err)
	}
	_, rest, ok := bytes.Cut(b, []byte(fleetKeyBegin))
	if !ok {
		return trust.Key{}, fmt.Errorf("credentials %s carry no fleet signing key (a join token minted before deploys): mint a new one with 'agent-ctl fleet join-token'", path)
	}
	text, _, ok := bytes.Cut(rest, []byte(fleetKeyEnd))
	if !ok {
		return trust.Key{}, fmt.Errorf("credentials %s: the fleet signing key's block is not closed", path)
	}
	k, err := trust.ParsePublicKey(string(text))
	if err != nil {
		return trust.Key{}, fmt.Errorf("credentials %s: the fleet signing key: %w", path, err)
	}
	k.Name = FleetSigner + k.ID
	return k, nil
}

// DeployPayload is what a deploy notice says, and what the fleet key
// signs (its exact JSON bytes).
type DeployPayload struct {
	// ID names the rollout.
	ID string `json:"id"`
	// Tool and Version are the manifest's.
	Tool    string `json:"tool"`
	Version string `json:"version"`
	// Module is the module's digest ("sha256:…"), as `fleet ls` shows it.
	Module string `json:"module"`
	// Object is the archive's name in ModuleBucket; Digest ("sha256:…")
	// and Size are the archive's.
	Object string `json:"object"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// Nodes are the nodes it is for: a node refuses a notice that does
	// not name it.
	Nodes []string  `json:"nodes"`
	Time  time.Time `json:"time"`
}

// DeployNotice is a signed DeployPayload, as sent to each node.
type DeployNotice struct {
	Payload []byte `json:"payload"`
	// Signature is a minisign signature of Payload by the fleet key.
	Signature string `json:"signature"`
}

// Deploy states, as nodes report them and `fleet ls` shows them.
const (
	DeployInstalled = "installed"
	DeployRefused   = "refused"
	DeployPending   = "pending"
)

// DeployResult is one node's answer to a deploy notice.
type DeployResult struct {
	Node    string `json:"node"`
	ID      string `json:"id,omitempty"`
	Tool    string `json:"tool,omitempty"`
	Version string `json:"version,omitempty"`
	Module  string `json:"module,omitempty"`
	// State is installed, refused or pending (the node did not answer).
	State string `json:"state"`
	// Reason says why it was refused or is pending.
	Reason string `json:"reason,omitempty"`
	// Grants says what became of the tool's grants on the node: a deploy
	// never grants anything (see docs/fleet.md).
	Grants string    `json:"grants,omitempty"`
	Time   time.Time `json:"time,omitzero"`
}

// Rollout is a deploy as `fleet ls` shows it: the payload and each
// chosen node's state.
type Rollout struct {
	DeployPayload
	Results []DeployResult `json:"results"`
}

// Pack writes the tool in src (a module directory, as install reads it:
// manifest.json and the module it names) to a .tar.gz archive at dst,
// signed with key: the archive holds the manifest, the module and their
// minisign signatures. It returns the manifest and the module's hex
// sha256.
func Pack(src, dst string, key *trust.SecretKey) (*manifest.Manifest, string, error) {
	m, raw, err := manifest.Load(src)
	if err != nil {
		return nil, "", fmt.Errorf("packing %s: %w", src, err)
	}
	module := m.ModuleFile()
	if module != filepath.Base(module) || strings.HasPrefix(module, ".") {
		return nil, "", fmt.Errorf("packing %s: module %q is not a file beside the manifest", src, module)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".pack-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, manifest.FileName), raw, 0o600); err != nil {
		return nil, "", err
	}
	if n, err := statefile.CopyNew(filepath.Join(src, module), filepath.Join(tmp, module), wasmfile.MaxSize+1); err != nil || n > wasmfile.MaxSize {
		if err == nil {
			err = fmt.Errorf("%s is larger than %d bytes", module, wasmfile.MaxSize)
		}
		return nil, "", fmt.Errorf("packing %s: %w", src, err)
	}
	if err := trust.Sign(tmp, key); err != nil {
		return nil, "", err
	}
	files := []string{manifest.FileName, manifest.FileName + trust.SigSuffix, module, module + trust.SigSuffix}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	h := sha256.New()
	for _, name := range files {
		fi, err := os.Stat(filepath.Join(tmp, name))
		if err != nil {
			return nil, "", err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: fi.Size(), Typeflag: tar.TypeReg, ModTime: fi.ModTime()}); err != nil {
			return nil, "", err
		}
		r, err := os.Open(filepath.Join(tmp, name))
		if err != nil {
			return nil, "", err
		}
		w := io.Writer(tw)
		if name == module {
			w = io.MultiWriter(tw, h)
		}
		_, err = io.Copy(w, r)
		r.Close()
		if err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	if err := gz.Close(); err != nil {
		return nil, "", err
	}
	return m, hex.EncodeToString(h.Sum(nil)), f.Close()
}

// SignNotice signs p with key.
func SignNotice(p *DeployPayload, key *trust.SecretKey) (*DeployNotice, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	sig := trust.SignMessage(key, b, "agent-ctl fleet deploy "+p.ID)
	return &DeployNotice{Payload: b, Signature: string(sig)}, nil
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
