package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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

// The receiving side of deploys: a node's deployer checks each notice and
// installs the tool through the catalog. What a deploy is, and its wire
// format, are in deploy.go.

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
	m, _, err := manifest.Load(dir)
	if err != nil {
		return err
	}
	if m.Name != p.Tool || m.Version != p.Version {
		return fmt.Errorf("the archive holds %s %s, the notice names %s %s", m.Name, m.Version, p.Tool, p.Version)
	}
	f, err := statefile.Open(filepath.Join(dir, m.ModuleFile()))
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
