package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
	"github.com/agent-ctl/agent-ctl/policies/trust"
)

// The sending side of deploys: the client behind `fleet deploy` and `fleet
// ls`, and the controller answering a returning node's missed deploys.
// What a deploy is, and its wire format, are in deploy.go.

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
	f, err := statefile.Open(archive)
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
