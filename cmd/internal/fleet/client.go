package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// urlFile, in the controller's fleet directory, holds the URL it serves
// on, for fleet commands run with the controller's home.
const urlFile = "controller.url"

// A Client is a controller-side connection: it lists the fleet's nodes
// and calls their tools.
type Client struct {
	nc *nats.Conn
	js jetstream.JetStream

	mu sync.Mutex
	// reconnected is closed, and replaced, at each reconnect (retry.go).
	reconnected chan struct{}
}

// Endpoint returns the URL and credentials file the fleet commands use for
// the controller whose home is home (written when it starts).
func Endpoint(home string) (url, creds string, err error) {
	b, err := statefile.ReadFile(filepath.Join(Dir(home), urlFile), maxCredsFile)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("no fleet controller has run with home %s: start one with 'agent-ctl controller', or give --nats and --creds", home)
	}
	if err != nil {
		return "", "", err
	}
	return strings.TrimSpace(string(b)), filepath.Join(Dir(home), AdminCreds), nil
}

// Dial connects to the fleet at url with the credentials in creds
// (tlsCA, when set, verifies the server). url may list several servers of
// a cluster, comma-separated: the client fails over among them (and the
// others the cluster announces).
func Dial(url, creds, tlsCA string) (*Client, error) {
	c := &Client{reconnected: make(chan struct{})}
	opts := []nats.Option{nats.UserCredentials(creds), nats.Name("agent-ctl fleet"), nats.ReconnectHandler(c.onReconnect)}
	if tlsCA != "" {
		opts = append(opts, nats.RootCAs(tlsCA))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to the fleet at %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.nc, c.js = nc, js
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() { c.nc.Close() }

// Node is a node as its last status describes it.
type Node struct {
	Status
	// Online is true when the status is recent (within three of the
	// node's intervals), not the last one of a stopped agent, and an agent
	// is taking the node's calls now.
	Online bool `json:"online"`
	// Rollout is the state on this node of each tool's last rollout that
	// chose it (see Client.Rollouts; empty unless asked for).
	Rollout []DeployResult `json:"rollout,omitempty"`
}

// Nodes returns every node that has published a status, by name.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	s, err := c.js.Stream(ctx, StatusStream)
	if err != nil {
		return nil, fmt.Errorf("reading the fleet's status: %w", err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(statusPrefix+"*"))
	if err != nil {
		return nil, fmt.Errorf("reading the fleet's status: %w", err)
	}
	var out []Node
	for subj := range info.State.Subjects {
		m, err := s.GetLastMsgForSubject(ctx, subj)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", subj, err)
		}
		var st Status
		if err := json.Unmarshal(m.Data, &st); err != nil || st.Node != strings.TrimPrefix(subj, statusPrefix) {
			// The subject is the node's own (its credentials allow no
			// other): a body that names another node is not believed.
			st = Status{Node: strings.TrimPrefix(subj, statusPrefix), Time: m.Time}
		}
		interval := time.Duration(st.Interval * float64(time.Second))
		if interval <= 0 {
			interval = 10 * time.Second
		}
		out = append(out, Node{Status: st, Online: !st.Stopped && time.Since(m.Time) < 3*interval})
	}
	c.probe(ctx, out)
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, nil
}

// probe marks offline each node its status calls online but whose call
// subject no agent takes now: a killed agent's status stays fresh for up to
// three intervals, but the server drops its subscription as soon as its
// connection goes. Only the node's own credentials may subscribe there,
// so "no responders" is a fact about that node; any answer, or none in
// time (a busy node), leaves it online.
func (c *Client) probe(ctx context.Context, nodes []Node) {
	var wg sync.WaitGroup
	for i := range nodes {
		if !nodes[i].Online {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err := c.nc.RequestWithContext(pctx, callSubject(nodes[i].Node), probeRequest)
			if errors.Is(err, nats.ErrNoResponders) {
				nodes[i].Online = false
			}
		}()
	}
	wg.Wait()
}

// Call sends req to each of nodes at once and returns one result per node,
// in the order given; a node that did not answer within timeout gets a
// result whose Error says so. Each node's call has an ID of its own: the
// request is repeated until answered (see request), and the node is sent a
// cancel when the time runs out or ctx ends first.
func (c *Client) Call(ctx context.Context, nodes []string, req CallRequest, timeout time.Duration) []CallResult {
	req.Timeout = timeout.Seconds()
	out := make([]CallResult, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		r := req
		r.ID = newCallID()
		out[i] = CallResult{Node: n, Tool: req.Tool, ID: r.ID, ExitCode: 125}
		body, err := json.Marshal(r)
		if err != nil {
			out[i].Error = err.Error()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			cctx, cancel := context.WithTimeout(ctx, timeout+2*time.Second)
			defer cancel()
			m, err := c.request(cctx, n, r.ID, body)
			switch {
			case errors.Is(err, nats.ErrNoResponders):
				out[i].Error = "not connected (no agent answers for this node)"
			case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
				out[i].Error = fmt.Sprintf("no answer within %s", timeout+2*time.Second)
			case ctx.Err() != nil:
				out[i].Error = fmt.Sprintf("cancelled (%v): the node was asked to stop the call", context.Cause(ctx))
			case err != nil:
				out[i].Error = err.Error()
			default:
				var r CallResult
				if err := json.Unmarshal(m.Data, &r); err != nil {
					out[i].Error = fmt.Sprintf("malformed answer: %v", err)
				} else {
					// The answer came on this node's subject; its own
					// name for itself is not believed over that.
					r.Node, r.ID = n, out[i].ID
					out[i] = r
				}
			}
			if out[i].Duration == 0 {
				out[i].Duration = time.Since(t0).Seconds()
			}
		}()
	}
	wg.Wait()
	return out
}

// Describe asks node for its installed tool's description (what the
// controller's MCP face publishes of it). Only the node answers on its call
// subject, so the description is the node's own.
func (c *Client) Describe(ctx context.Context, node, tool string) (*ToolInfo, error) {
	body, err := json.Marshal(CallRequest{Describe: tool})
	if err != nil {
		return nil, err
	}
	m, err := c.nc.RequestWithContext(ctx, callSubject(node), body)
	if err != nil {
		return nil, fmt.Errorf("describing %s on node %s: %w", tool, node, err)
	}
	var r CallResult
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return nil, fmt.Errorf("describing %s on node %s: malformed answer: %w", tool, node, err)
	}
	switch {
	case r.Error != "":
		return nil, fmt.Errorf("describing %s on node %s: %s", tool, node, r.Error)
	case r.Info == nil:
		// An agent that predates Describe answers it as a presence probe.
		return nil, fmt.Errorf("describing %s on node %s: the node's agent does not describe its tools (upgrade it)", tool, node)
	case r.Info.Name != tool:
		return nil, fmt.Errorf("describing %s on node %s: the node described %q", tool, node, r.Info.Name)
	}
	return r.Info, nil
}

// Reload asks the running controller to apply the revocations recorded in
// its fleet directory (Identity.Revoke). Only the fleet's admin may ask.
func (c *Client) Reload(ctx context.Context) error {
	m, err := c.nc.RequestWithContext(ctx, reloadSubject, nil)
	if err != nil {
		return fmt.Errorf("asking the controller to apply the revocation: %w", err)
	}
	if r := string(m.Data); r != "ok" {
		return fmt.Errorf("the controller did not apply the revocation: %s", strings.TrimPrefix(r, "error: "))
	}
	return nil
}

// Kill adds the module digest to the fleet's kill list through the
// controller, which announces it to every agent: they refuse the module
// from then on and stop its running calls.
func (c *Client) Kill(ctx context.Context, digest, reason string) error {
	if err := CheckDigest(digest); err != nil {
		return err
	}
	b, err := json.Marshal(Killed{Digest: digest, Reason: reason})
	if err != nil {
		return err
	}
	m, err := c.nc.RequestWithContext(ctx, killSubject, b)
	if err != nil {
		return fmt.Errorf("asking the controller to kill %s: %w", digest, err)
	}
	if r := string(m.Data); r != "ok" {
		return fmt.Errorf("the controller did not kill %s: %s", digest, strings.TrimPrefix(r, "error: "))
	}
	return nil
}
