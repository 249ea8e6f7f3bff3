package fleet

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
	"github.com/agent-ctl/agent-ctl/policies/trust"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
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
	b, err := os.ReadFile(path)
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
	raw, err := statefile.ReadFile(filepath.Join(src, trust.ManifestFile), 1<<20)
	if err != nil {
		return nil, "", fmt.Errorf("packing %s: %w", src, err)
	}
	m, err := manifest.Parse(raw)
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
	if err := os.WriteFile(filepath.Join(tmp, trust.ManifestFile), raw, 0o600); err != nil {
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
	files := []string{trust.ManifestFile, trust.ManifestFile + trust.SigSuffix, module, module + trust.SigSuffix}
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

// Deploy ships the archive (from Pack) of tool m, whose module's hex
// sha256 is module, to nodes: it puts the archive into ModuleBucket,
// records the rollout, sends each node a notice signed with key, and
// waits up to timeout for each answer. A node that does not answer is
// pending.
func (c *Client) Deploy(ctx context.Context, archive string, m *manifest.Manifest, module string, key *trust.SecretKey, nodes []string, timeout time.Duration) (*Rollout, error) {
	if len(nodes) == 0 {
		return nil, errors.New("deploying: no node chosen")
	}
	for _, n := range nodes {
		if err := CheckNode(n); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, io.LimitReader(f, maxArchive+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", archive, err)
	}
	if size > maxArchive {
		return nil, fmt.Errorf("deploying %s: the archive is larger than %d bytes", m.Name, int64(maxArchive))
	}
	digest := hex.EncodeToString(h.Sum(nil))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	obs, err := c.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: ModuleBucket, Description: "agent-ctl tools deployed to the fleet, signed with the fleet key", Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the fleet's module store: %w", err)
	}
	obj := "sha256-" + digest
	if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: obj, Description: m.Name + " " + m.Version}, f); err != nil {
		return nil, fmt.Errorf("storing %s %s in the fleet's module store: %w", m.Name, m.Version, err)
	}
	p := &DeployPayload{ID: newID(), Tool: m.Name, Version: m.Version, Module: "sha256:" + module, Object: obj,
		Digest: "sha256:" + digest, Size: size, Nodes: slices.Clone(nodes), Time: time.Now().UTC()}
	notice, err := SignNotice(p, key)
	if err != nil {
		return nil, err
	}
	if err := c.recordRollout(ctx, p.Tool, notice); err != nil {
		return nil, err
	}
	return &Rollout{DeployPayload: *p, Results: c.SendNotice(ctx, notice, nodes, timeout)}, nil
}

// recordRollout keeps the signed notice of a rollout of tool, replacing
// the tool's last one: what `fleet ls` shows, and what a node that was
// away gets when it comes back.
func (c *Client) recordRollout(ctx context.Context, tool string, n *DeployNotice) error {
	kv, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: RolloutBucket, Description: "the last rollout of each agent-ctl tool", History: 1, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("opening the fleet's rollouts: %w", err)
	}
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, tool, b); err != nil {
		return fmt.Errorf("recording the rollout of %s: %w", tool, err)
	}
	return nil
}

// SendNotice sends notice to each of nodes at once and returns each
// node's answer, in the order given.
func (c *Client) SendNotice(ctx context.Context, notice *DeployNotice, nodes []string, timeout time.Duration) []DeployResult {
	body, err := json.Marshal(notice)
	out := make([]DeployResult, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		out[i] = DeployResult{Node: n, State: DeployPending}
		if err != nil {
			out[i].Reason = err.Error()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			m, err := c.nc.RequestWithContext(cctx, deploySubject(n), body)
			switch {
			case errors.Is(err, nats.ErrNoResponders):
				out[i].Reason = "not connected (no agent answers for this node)"
			case errors.Is(err, context.DeadlineExceeded):
				out[i].Reason = fmt.Sprintf("no answer within %s", timeout)
			case err != nil:
				out[i].Reason = err.Error()
			default:
				var r DeployResult
				if err := json.Unmarshal(m.Data, &r); err != nil || (r.State != DeployInstalled && r.State != DeployRefused) {
					out[i].Reason = fmt.Sprintf("malformed answer: %q", m.Data)
					return
				}
				r.Node = n // the subject's node, not the body's
				out[i] = r
			}
		}()
	}
	wg.Wait()
	return out
}

// Rollouts returns the last rollout of each tool, with each chosen node's
// state as its status reports it (pending until it reports this rollout),
// by tool; it adds each node's states to its Rollout too.
func (c *Client) Rollouts(ctx context.Context, nodes []Node) ([]Rollout, error) {
	kv, err := c.js.KeyValue(ctx, RolloutBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the fleet's rollouts: %w", err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the fleet's rollouts: %w", err)
	}
	byNode := map[string]*Node{}
	for i := range nodes {
		byNode[nodes[i].Node] = &nodes[i]
	}
	var out []Rollout
	for k := range keys.Keys() {
		if len(out) >= maxRollouts {
			break
		}
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue // deleted meanwhile
		}
		var r Rollout
		var n DeployNotice
		if err := json.Unmarshal(e.Value(), &n); err != nil {
			return nil, fmt.Errorf("reading the rollout of %s: %w", k, err)
		}
		if err := json.Unmarshal(n.Payload, &r.DeployPayload); err != nil {
			return nil, fmt.Errorf("reading the rollout of %s: %w", k, err)
		}
		for _, n := range r.Nodes {
			res := DeployResult{Node: n, ID: r.ID, Tool: r.Tool, Version: r.Version, Module: r.Module, State: DeployPending}
			if nd := byNode[n]; nd != nil {
				for _, d := range nd.Deploys {
					if d.ID == r.ID {
						res = d
						res.Node = n
					}
				}
				if res.State == DeployPending && !nd.Online {
					res.Reason = "node offline"
				}
			} else {
				res.Reason = "node never seen"
			}
			if nd := byNode[n]; nd != nil {
				nd.Rollout = append(nd.Rollout, res)
			}
			r.Results = append(r.Results, res)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tool < out[j].Tool })
	return out, nil
}

// serveMissedDeploys answers an agent's request for the notices of the
// last rollouts that chose it. The node is the one its reply inbox names
// (only it may read there), not one the request names.
func (c *Controller) serveMissedDeploys() error {
	js, err := jetstream.New(c.nc)
	if err != nil {
		return err
	}
	_, err = c.nc.Subscribe(missedSubject, func(m *nats.Msg) {
		rest, ok := strings.CutPrefix(m.Reply, "_INBOX_AGENT.")
		node, _, _ := strings.Cut(rest, ".")
		if !ok || CheckNode(node) != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		notices := []DeployNotice{}
		if kv, err := js.KeyValue(ctx, RolloutBucket); err == nil {
			if keys, err := kv.ListKeys(ctx); err == nil {
				for k := range keys.Keys() {
					e, err := kv.Get(ctx, k)
					if err != nil {
						continue
					}
					var n DeployNotice
					var p DeployPayload
					if json.Unmarshal(e.Value(), &n) != nil || json.Unmarshal(n.Payload, &p) != nil || !slices.Contains(p.Nodes, node) {
						continue
					}
					notices = append(notices, n)
				}
			}
		}
		b, err := json.Marshal(notices)
		if err == nil {
			_ = m.Respond(b)
		}
	})
	if err != nil {
		return fmt.Errorf("serving missed deploys: %w", err)
	}
	return nil
}

// catchUp asks the controller for the notices of the last rollouts that
// chose this node and takes those newer than what it has taken: the
// deploys sent while it was away. Each still goes through every check.
func (d *deployer) catchUp() {
	if d == nil || d.key == nil {
		return
	}
	m, err := d.a.nc.Request(missedSubject, nil, 10*time.Second)
	if err != nil {
		d.a.log.Warn("fleet: missed deploys could not be fetched", "err", err)
		return
	}
	var notices []DeployNotice
	if err := json.Unmarshal(m.Data, &notices); err != nil {
		d.a.log.Warn("fleet: malformed list of missed deploys", "err", err)
		return
	}
	for _, n := range notices {
		var p DeployPayload
		b, err := json.Marshal(n)
		if err != nil || json.Unmarshal(n.Payload, &p) != nil {
			continue
		}
		// Under the deploy lock: a notice taken meanwhile (sent live as
		// the node came back) is skipped, not refused as a replay.
		d.mu.Lock()
		d.smu.Lock()
		taken := !p.Time.After(d.state.Newest[p.Tool])
		d.smu.Unlock()
		if !taken {
			d.handleLocked(&nats.Msg{Data: b})
		}
		d.mu.Unlock()
	}
}

// deployer is an agent's side of deploys.
type deployer struct {
	a   *Agent
	key *trust.Key // nil: the join token carried none, every deploy is refused
	js  jetstream.JetStream
	err error // why key is nil

	mu sync.Mutex // one deploy at a time
	// state is what the node reports in its status, and what keeps a
	// notice from being replayed.
	smu   sync.Mutex
	state deployState
}

// deployState is the node's record of its deploys, kept in its state
// directory.
type deployState struct {
	// Last is the last deploy of each tool, as the status reports it.
	Last map[string]DeployResult `json:"last"`
	// Newest is the time of the newest notice accepted for each tool: an
	// older (or as old) one is a replay, refused.
	Newest map[string]time.Time `json:"newest"`
}

func (a *Agent) startDeploys() error {
	d := &deployer{a: a, state: deployState{Last: map[string]DeployResult{}, Newest: map[string]time.Time{}}}
	if k, err := FleetKeyFromCreds(a.o.Creds); err != nil {
		d.err = err
		a.log.Warn("fleet: deploys will be refused", "err", err)
	} else {
		d.key = &k
	}
	if a.o.StateDir != "" {
		if err := readJSONFile(filepath.Join(a.o.StateDir, deploysFile), "the deploy record", &d.state); err != nil {
			return err
		}
		// A record may hold null for either.
		if d.state.Last == nil {
			d.state.Last = map[string]DeployResult{}
		}
		if d.state.Newest == nil {
			d.state.Newest = map[string]time.Time{}
		}
	}
	js, err := jetstream.New(a.nc)
	if err != nil {
		return err
	}
	d.js = js
	a.deploys = d
	_, err = a.nc.QueueSubscribe(deploySubject(a.o.Name), "agentctl."+a.o.Name, func(m *nats.Msg) {
		// A deploy takes seconds (fetch, verify, install): off the
		// connection's dispatch goroutine.
		go d.handle(m)
	})
	if err != nil {
		return fmt.Errorf("listening for deploys: %w", err)
	}
	return nil
}

// results returns the last deploy of each tool, by tool.
func (d *deployer) results() []DeployResult {
	if d == nil {
		return nil
	}
	d.smu.Lock()
	defer d.smu.Unlock()
	out := make([]DeployResult, 0, len(d.state.Last))
	for _, r := range d.state.Last {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tool < out[j].Tool })
	return out
}

func (d *deployer) handle(m *nats.Msg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.handleLocked(m)
}

// handleLocked is handle under d.mu.
func (d *deployer) handleLocked(m *nats.Msg) {
	res, p := d.deploy(m.Data)
	res.Node, res.Time = d.a.o.Name, time.Now().UTC()
	if res.State == DeployRefused {
		d.a.log.Warn("fleet: deploy refused", "tool", res.Tool, "version", res.Version, "reason", res.Reason)
	} else {
		d.a.log.Info("fleet: deployed", "tool", res.Tool, "version", res.Version, "module", res.Module)
	}
	d.audit(&res, p)
	if p != nil {
		// Only a notice the fleet key signed changes what the node
		// reports; anyone's forgery is in the audit log and the answer.
		d.smu.Lock()
		d.state.Last[p.Tool] = res
		if res.State == DeployInstalled || p.Time.After(d.state.Newest[p.Tool]) {
			d.state.Newest[p.Tool] = p.Time
		}
		snapshot, _ := json.MarshalIndent(d.state, "", "  ")
		d.smu.Unlock()
		if d.a.o.StateDir != "" {
			err := os.MkdirAll(d.a.o.StateDir, 0o700)
			if err == nil {
				err = statefile.WriteFile(filepath.Join(d.a.o.StateDir, deploysFile), snapshot, 0o600)
			}
			if err != nil {
				d.a.log.Error("fleet: keeping the deploy record", "err", err)
			}
		}
		d.a.publish(false)
	}
	b, err := json.Marshal(res)
	if err == nil && m.Reply != "" {
		err = m.Respond(b)
	}
	if err != nil {
		d.a.log.Warn("fleet: answering a deploy", "err", err)
	}
}

// audit records the deploy in the node's audit log: installed, or
// refused and why.
func (d *deployer) audit(res *DeployResult, p *DeployPayload) {
	sup := d.a.local.Supervisor
	if sup == nil {
		return
	}
	rec := &audit.Record{Caller: "controller", Frontend: "fleet-deploy", Tool: res.Tool, Version: res.Version,
		Digest: strings.TrimPrefix(res.Module, "sha256:"), Outcome: "deployed"}
	if p != nil {
		rec.Module = ModuleBucket + "/" + p.Object
	}
	if res.State == DeployRefused {
		rec.Outcome, rec.ExitCode, rec.Error = "error", supervisor.ExitInvalid, "deploy refused: "+res.Reason
	}
	if err := sup.Record(rec); err != nil {
		d.a.log.Error("fleet: recording a deploy in the audit log", "err", err)
	}
}

// deploy checks and installs what a notice names. It returns the result
// and, when the fleet key signed the notice, its payload.
func (d *deployer) deploy(data []byte) (DeployResult, *DeployPayload) {
	refuse := func(p *DeployPayload, format string, args ...any) (DeployResult, *DeployPayload) {
		r := DeployResult{State: DeployRefused, Reason: fmt.Sprintf(format, args...)}
		if p != nil {
			r.ID, r.Tool, r.Version, r.Module = p.ID, p.Tool, p.Version, p.Module
		}
		return r, p
	}
	if len(data) > maxNotice {
		return refuse(nil, "notice of %d bytes, above the %d-byte limit", len(data), maxNotice)
	}
	var n DeployNotice
	if err := json.Unmarshal(data, &n); err != nil {
		return refuse(nil, "malformed notice: %v", err)
	}
	// What the unverified payload claims, for the record only.
	var claimed DeployPayload
	_ = json.Unmarshal(n.Payload, &claimed)
	unverified := func(format string, args ...any) (DeployResult, *DeployPayload) {
		r, _ := refuse(&claimed, format, args...)
		return r, nil
	}
	if d.key == nil {
		return unverified("%v", d.err)
	}
	if _, _, err := trust.VerifyMessage("deploy notice", n.Payload, []byte(n.Signature), []trust.Key{*d.key}); err != nil {
		return unverified("not signed by the fleet key this node joined with: %v", err)
	}
	var p DeployPayload
	if err := json.Unmarshal(n.Payload, &p); err != nil {
		return unverified("malformed notice: %v", err)
	}
	if !slices.Contains(p.Nodes, d.a.o.Name) {
		return unverified("the notice is for nodes %s, not this one", strings.Join(p.Nodes, ","))
	}
	if CheckDigest(p.Digest) != nil || CheckDigest(p.Module) != nil || p.Object != "sha256-"+strings.TrimPrefix(p.Digest, "sha256:") {
		return refuse(&p, "malformed notice: bad digest or object name")
	}
	if p.Size <= 0 || p.Size > maxArchive {
		return refuse(&p, "archive of %d bytes, out of bounds", p.Size)
	}
	d.smu.Lock()
	newest := d.state.Newest[p.Tool]
	d.smu.Unlock()
	if !p.Time.After(newest) {
		// Answered and audited, but what the node reports stays what the
		// newer notice did.
		r, _ := refuse(&p, "a replayed notice: this node has taken a notice for %s as new as %s", p.Tool, newest.Format(time.RFC3339Nano))
		return r, nil
	}
	d.a.mu.Lock()
	killed := d.a.killed.Has(p.Module)
	d.a.mu.Unlock()
	if killed {
		return refuse(&p, "module %s was killed fleet-wide: this node refuses it", p.Module)
	}
	tmpRoot := d.a.o.StateDir
	if tmpRoot == "" {
		tmpRoot = os.TempDir()
	}
	if err := os.MkdirAll(tmpRoot, 0o700); err != nil {
		return refuse(&p, "creating a directory for the deploy: %v", err)
	}
	tmp, err := os.MkdirTemp(tmpRoot, ".deploy-")
	if err != nil {
		return refuse(&p, "creating a directory for the deploy: %v", err)
	}
	defer os.RemoveAll(tmp)
	archive := filepath.Join(tmp, "tool.tar.gz")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	got, err := d.fetch(ctx, p.Object, p.Size, archive)
	if err != nil {
		return refuse(&p, "fetching %s from the fleet's module store: %v", p.Object, err)
	}
	if got != p.Digest {
		return refuse(&p, "the archive's digest is %s, the notice says %s (tampered in the store?)", got, p.Digest)
	}
	_, dir, err := store.Unpack(archive, tmp)
	if err != nil {
		return refuse(&p, "unpacking: %v", err)
	}
	if _, err := trust.Verify(dir, []trust.Key{*d.key}); err != nil {
		return refuse(&p, "%v", err)
	}
	// The signatures inside bind the manifest and the module to each
	// other; the notice binds them to this rollout. Checked before the
	// install: what is not what the notice names is never installed.
	if err := matchesNotice(dir, &p); err != nil {
		return refuse(&p, "%v", err)
	}
	ch, err := d.a.local.Catalog.Install(dir, &store.InstallOptions{Signer: d.key.Name})
	if err != nil {
		return refuse(&p, "installing: %v", err)
	}
	t := ch.Tool
	res := DeployResult{ID: p.ID, Tool: p.Tool, Version: p.Version, Module: p.Module, State: DeployInstalled, Grants: grantsNote(ch)}
	if sup := d.a.local.Supervisor; sup != nil {
		// As install does: the first call does not compile. A failure is
		// not the deploy's: that call compiles it.
		if _, err := sup.PrecompileDigest(ctx, t.Module, t.Digest, policies.IsolationDefault); err != nil {
			d.a.log.Warn("fleet: deployed module not precompiled; its first call compiles it", "tool", p.Tool, "err", err)
		}
	}
	return res, &p
}

// matchesNotice checks that the module directory dir holds the tool,
// version and module p names.
func matchesNotice(dir string, p *DeployPayload) error {
	raw, err := statefile.ReadFile(filepath.Join(dir, trust.ManifestFile), 1<<20)
	if err != nil {
		return err
	}
	m, err := manifest.Parse(raw)
	if err != nil {
		return err
	}
	if m.Name != p.Tool || m.Version != p.Version {
		return fmt.Errorf("the archive holds %s %s, the notice names %s %s", m.Name, m.Version, p.Tool, p.Version)
	}
	f, err := os.Open(filepath.Join(dir, m.ModuleFile()))
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, wasmfile.MaxSize+1)); err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != p.Module {
		return fmt.Errorf("the archive's module is %s, the notice names %s", got, p.Module)
	}
	return nil
}

// grantsNote says what an install did to the tool's grants, as install
// prints it. A deploy grants nothing: grants are the node operator's.
func grantsNote(ch *catalog.Change) string {
	asks := ch.Tool.Manifest().Asks()
	switch {
	case ch.GrantsErr != nil:
		return "grants not settled: " + ch.GrantsErr.Error()
	case ch.Held:
		return fmt.Sprintf("grants held: they were given for %s; calls are refused until this node's operator confirms them ('agent-ctl grant %s --confirm')", ch.HeldFor, ch.Tool.Name())
	case ch.Carried:
		return "grants carried over: signed by the same fleet key as the granted version, and it asks for nothing beyond them"
	case len(asks.Dirs)+len(asks.Env)+len(asks.Net) > 0 && len(ch.Grants.Dirs)+len(ch.Grants.Env)+len(ch.Grants.Net) == 0:
		return fmt.Sprintf("nothing granted: it asks for capabilities; this node's operator grants them ('agent-ctl grant %s ...')", ch.Tool.Name())
	}
	return ""
}

// fetch reads the object name of ModuleBucket into path, at most size
// bytes, and returns its digest ("sha256:…"). It uses direct gets only
// (the meta message, then each chunk by subject), which is all a node's
// credentials allow on the bucket's stream: nats.go's ObjectStore.Get
// would create a consumer, and a consumer may deliver to any subject.
func (d *deployer) fetch(ctx context.Context, name string, size int64, path string) (string, error) {
	s, err := d.js.Stream(ctx, moduleStream)
	if err != nil {
		return "", err
	}
	meta, err := s.GetLastMsgForSubject(ctx, "$O."+ModuleBucket+".M."+base64.URLEncoding.EncodeToString([]byte(name)))
	if err != nil {
		return "", fmt.Errorf("reading the object's meta: %w", err)
	}
	var info jetstream.ObjectInfo
	if err := json.Unmarshal(meta.Data, &info); err != nil {
		return "", fmt.Errorf("reading the object's meta: %w", err)
	}
	if info.Deleted || info.NUID == "" {
		return "", jetstream.ErrObjectNotFound
	}
	if int64(info.Size) != size {
		return "", fmt.Errorf("the object holds %d bytes, the notice says %d", info.Size, size)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	w := io.MultiWriter(f, h)
	chunks := "$O." + ModuleBucket + ".C." + info.NUID
	var read int64
	for seq := uint64(1); read < size; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(chunks))
		if err != nil {
			return "", fmt.Errorf("reading chunk at %d of %d bytes: %w", read, size, err)
		}
		if read+int64(len(m.Data)) > size {
			return "", fmt.Errorf("the object holds more than the %d bytes its meta says", size)
		}
		if _, err := w.Write(m.Data); err != nil {
			return "", err
		}
		read += int64(len(m.Data))
		seq = m.Sequence + 1
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
