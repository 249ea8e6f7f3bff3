package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
)

// AgentOptions configures an Agent.
type AgentOptions struct {
	// URL is the fleet's NATS server (or cluster: comma-separated).
	URL string
	// Name is this node's name (see CheckNode); Creds its credentials
	// file from `agent-ctl fleet join-token`.
	Name, Creds string
	// Labels describe the node, for `fleet call --label`.
	Labels map[string]string
	// TLSCA, when set, is the CA file that verifies the server.
	TLSCA string
	// Version is agent-ctl's version, published in the status.
	Version string
	// Concurrency bounds the calls run at once; 0 means 4. A call past it
	// is answered at once with an error rather than queued.
	Concurrency int
	// StateDir is where the agent keeps what it must remember across
	// restarts (the fleet's kill list); empty keeps nothing.
	StateDir string
	// Interval is how often the status is published; 0 means 10 s.
	Interval time.Duration
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// An Agent serves one node's installed tools to the fleet.
type Agent struct {
	o     AgentOptions
	local *Local
	nc    *nats.Conn
	svc   micro.Service
	log   *slog.Logger
	slots chan struct{}

	mu      sync.Mutex
	running map[*CallRequest]*running
	ids     callIDs
	killed  *KillList
	deploys *deployer
	stop    chan struct{}
	done    chan struct{}
	// closing is set by Close; lost is closed, and lostErr set, when the
	// connection closed for good without it.
	closing bool
	lost    chan struct{}
	lostErr error
}

// StartAgent joins the fleet and serves local's tools until Close. It
// reconnects by itself for as long as it runs.
func StartAgent(local *Local, o AgentOptions) (*Agent, error) {
	if err := CheckNode(o.Name); err != nil {
		return nil, err
	}
	if err := checkCredsNode(o.Creds, o.Name); err != nil {
		return nil, err
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	a := &Agent{o: o, local: local, log: o.Logger, slots: make(chan struct{}, o.Concurrency),
		running: map[*CallRequest]*running{}, stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{}), killed: &KillList{}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if o.StateDir != "" {
		l, err := readKillList(filepath.Join(o.StateDir, killedFile))
		if err != nil {
			return nil, err
		}
		a.killed = l
	}
	opts := []nats.Option{
		nats.UserCredentials(o.Creds),
		nats.Name("agent-ctl agent " + o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { a.log.Warn("fleet: disconnected", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			a.log.Info("fleet: reconnected", "url", nc.ConnectedUrlRedacted())
			a.publish(true)
			go func() {
				a.fetchKills()
				a.deploys.catchUp()
			}()
		}),
		nats.CustomInboxPrefix(inboxPrefix(o.Name)),
		// Closed is for good (Close, or credentials refused): no answer
		// could reach anyone, so nothing keeps running.
		nats.ClosedHandler(a.closed),
		// Without a handler nats.go prints asynchronous errors (a
		// refused subject, a slow consumer) to stderr on its own.
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			a.log.Warn("fleet: server reported an error", "err", err)
		}),
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("joining the fleet at %s: %w", o.URL, err)
	}
	a.nc = nc
	// Kills first: no call is served before the node knows what the fleet
	// has killed (as far as the controller can be reached).
	if _, err := nc.Subscribe(killedSubject, func(m *nats.Msg) {
		var l KillList
		if err := json.Unmarshal(m.Data, &l); err != nil {
			a.log.Warn("fleet: malformed kill list", "err", err)
			return
		}
		a.applyKills(&l)
	}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("listening for kills: %w", err)
	}
	a.fetchKills()
	if err := a.startDeploys(); err != nil {
		nc.Close()
		return nil, err
	}
	md := map[string]string{"node": o.Name}
	for k, v := range o.Labels {
		md["label."+k] = v
	}
	a.svc, err = micro.AddService(nc, micro.Config{
		Name:        ServiceName,
		Version:     "1.0.0",
		Description: "agent-ctl tools of node " + o.Name,
		Metadata:    md,
		// A queue group, though a node's subjects are its own: two agents
		// run with one token (a copied credentials file) then take turns
		// at the node's calls rather than each running every call.
		QueueGroup: "agentctl." + o.Name,
	})
	if err == nil {
		err = a.svc.AddEndpoint("call", micro.HandlerFunc(a.handle), micro.WithEndpointSubject(callSubject(o.Name)))
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("serving the fleet's calls: %w", err)
	}
	a.publish(true)
	// The server answers the subscription and the first status in
	// order before the flush's PONG: a permissions violation on either is
	// known by now. An agent that cannot take its own calls must not look
	// joined (it would run, answering nothing, logging refusals forever).
	err = nc.FlushTimeout(30 * time.Second)
	if err == nil {
		if lerr := nc.LastError(); errors.Is(lerr, nats.ErrPermissionViolation) {
			err = fmt.Errorf("these credentials do not allow node %s's own subjects: %w", o.Name, lerr)
		}
	}
	if err != nil {
		a.svc.Stop()
		nc.Close()
		return nil, fmt.Errorf("joining the fleet as node %s: %w", o.Name, err)
	}
	go a.statusLoop()
	// Deploys sent while the node was away, after the kill list (a killed
	// module is refused) and once the node is serving.
	go a.deploys.catchUp()
	return a, nil
}

// checkCredsNode refuses credentials issued for another node than name,
// with a message that says so before anything is sent. The server's
// subject permissions are what keep an impostor out (see StartAgent);
// this only makes the usual mistake, a wrong --creds, plain.
func checkCredsNode(path, name string) error {
	b, err := statefile.ReadFile(path, maxCredsFile)
	if err != nil {
		return fmt.Errorf("reading credentials: %w", err)
	}
	tok, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return fmt.Errorf("reading credentials %s: %w", path, err)
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		return fmt.Errorf("reading credentials %s: %w", path, err)
	}
	if uc.Name != name {
		return fmt.Errorf("credentials %s are for node %q, not %q: mint this node's own with 'agent-ctl fleet join-token %s'", path, uc.Name, name, name)
	}
	return nil
}

// handle answers one call. It runs the call in a goroutine of its own, so
// that one long call does not hold up the others.
func (a *Agent) handle(req micro.Request) {
	var cr CallRequest
	if len(req.Data()) > maxRequest {
		a.respond(req, &CallResult{Node: a.o.Name, ExitCode: 125, Error: fmt.Sprintf("request of %d bytes, above the %d-byte limit", len(req.Data()), maxRequest)})
		return
	}
	if err := json.Unmarshal(req.Data(), &cr); err != nil {
		a.respond(req, &CallResult{Node: a.o.Name, ExitCode: 125, Error: fmt.Sprintf("malformed request: %v", err)})
		return
	}
	if cr.Tool == "" && cr.Describe != "" {
		// A description (see Client.Describe): no slot, nothing run.
		info, err := a.local.Describe(cr.Describe)
		res := &CallResult{Node: a.o.Name, Tool: cr.Describe, Info: info}
		if err != nil {
			res.ExitCode, res.Error = supervisor.ExitNotFound, err.Error()
		}
		a.respond(req, res)
		return
	}
	if cr.Tool == "" && cr.Cancel != "" {
		a.cancelCall(req, cr.Cancel)
		return
	}
	if cr.Tool == "" {
		// A presence probe (see Client.Nodes): no slot, nothing run.
		a.respond(req, &CallResult{Node: a.o.Name})
		return
	}
	// answer sends the call's result: to every request that waits for it
	// when the call has an ID (see cancel.go).
	answer := func(res *CallResult, keep bool) { a.respond(req, res) }
	var entry *callEntry
	if cr.ID != "" {
		if entry = a.repeat(req, &cr); entry == nil {
			return
		}
		answer = func(res *CallResult, keep bool) { a.finish(cr.ID, entry, res, keep) }
	}
	select {
	case a.slots <- struct{}{}:
	default:
		answer(&CallResult{Node: a.o.Name, Tool: cr.Tool, ExitCode: 125, Error: fmt.Sprintf("node %s is busy: %d calls running", a.o.Name, cap(a.slots))}, false)
		return
	}
	ctx, cancelCause := context.WithCancelCause(context.Background())
	cancel := cancelCause
	if cr.Timeout > 0 {
		var stopTimer context.CancelFunc
		ctx, stopTimer = context.WithTimeout(ctx, time.Duration(cr.Timeout*float64(time.Second)))
		cancel = func(cause error) { cancelCause(cause); stopTimer() }
	}
	run := &running{cancel: cancel}
	a.mu.Lock()
	a.running[&cr] = run
	if entry != nil {
		entry.run = run
		if entry.cancel {
			run.cancel(errCancelled)
		}
	}
	a.mu.Unlock()
	go func() {
		defer func() {
			a.mu.Lock()
			delete(a.running, &cr)
			a.mu.Unlock()
			cancel(nil)
			<-a.slots
		}()
		var out, errs capped
		res := a.local.Call(ctx, &cr, &out, &errs, func(digest string) error { return a.admit(run, digest) })
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errKilled):
			res.ExitCode = supervisor.ExitInvalid
			res.Error = fmt.Sprintf("%s: stopped: module %s was killed fleet-wide", cr.Tool, res.Digest)
		case errors.Is(cause, errCancelled):
			res.Error = fmt.Sprintf("%s: %s", cr.Tool, errCancelled)
		}
		res.Node, res.ID = a.o.Name, cr.ID
		res.Stdout, res.Stderr = out.String(), errs.String()
		res.Truncated = out.cut || errs.cut
		a.log.Info("fleet call", "tool", cr.Tool, "call_id", cr.ID, "exit_code", res.ExitCode, "duration", res.Duration)
		answer(res, true)
	}()
}

func (a *Agent) respond(req micro.Request, res *CallResult) {
	b, err := json.Marshal(res)
	if err == nil {
		err = req.Respond(b)
	}
	if err != nil {
		a.log.Warn("fleet: answering a call", "tool", res.Tool, "err", err)
	}
}

// capped keeps the first maxOutput bytes written to it.
type capped struct {
	bytes.Buffer
	cut bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := maxOutput - c.Len(); len(p) > room {
		c.cut = true
		c.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.Buffer.Write(p)
}

// closed runs when the connection has closed for good. Unless Close
// closed it, the agent is lost: it can take no call and publish no
// status again (an expired token, say, is refused at every reconnect),
// so its owner must hear of it rather than keep a process that looks
// joined.
func (a *Agent) closed(nc *nats.Conn) {
	a.cancelAll()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing {
		return
	}
	select {
	case <-a.lost:
	default:
		a.lostErr = nc.LastError()
		if a.lostErr == nil {
			a.lostErr = nats.ErrConnectionClosed
		}
		close(a.lost)
	}
}

// Lost is closed when the agent's connection to the fleet has closed for
// good other than by Close; Err then says why.
func (a *Agent) Lost() <-chan struct{} { return a.lost }

// Err is why the agent was lost (see Lost), or nil.
func (a *Agent) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lostErr
}

func (a *Agent) cancelAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.running {
		r.cancel(nil)
	}
}

// running is a call in flight.
type running struct {
	cancel context.CancelCauseFunc
	digest string // of its module, once admitted
}

// errKilled is the cause of a call stopped by the kill switch.
var errKilled = errors.New("module killed fleet-wide")

// recordKill writes the line of a kill received in the node's audit log.
// A kill is applied even when it cannot be recorded (logged): refusing
// the module matters more than the line.
func (a *Agent) recordKill(k Killed, stopped int) {
	if a.local == nil || a.local.Supervisor == nil {
		return
	}
	msg := "module killed fleet-wide"
	if k.Reason != "" {
		msg += ": " + k.Reason
	}
	msg += fmt.Sprintf("; %d running call(s) stopped", stopped)
	if err := a.local.Supervisor.Record(&audit.Record{Caller: "controller", Frontend: "fleet",
		Digest: strings.TrimPrefix(k.Digest, "sha256:"), Outcome: "killed", ExitCode: supervisor.ExitInvalid, Error: msg}); err != nil {
		a.log.Error("fleet: recording a kill in the audit log", "digest", k.Digest, "err", err)
	}
}

// admit refuses a killed module and records the digest of an admitted
// one, under the lock that applyKills takes: a call is either refused or
// stopped, never missed.
func (a *Agent) admit(r *running, digest string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.killed.Has(digest) {
		return fmt.Errorf("module %s was killed fleet-wide: this node refuses it", digest)
	}
	r.digest = digest
	return nil
}

// applyKills merges l into the node's kill list, keeps it, and stops the
// running calls of every module now killed. Each newly killed module gets
// a line in the node's audit log (outcome "killed") before its calls are
// stopped; each stopped call's own line says "cancelled" with the kill as
// its error.
func (a *Agent) applyKills(l *KillList) {
	a.mu.Lock()
	var fresh []Killed
	for _, k := range l.Killed {
		if CheckDigest(k.Digest) == nil && !a.killed.Has(k.Digest) && !slices.ContainsFunc(fresh, func(f Killed) bool { return f.Digest == k.Digest }) {
			fresh = append(fresh, k)
		}
	}
	added := a.killed.merge(l)
	var stop []*running
	for _, r := range a.running {
		if r.digest != "" && a.killed.Has(r.digest) {
			stop = append(stop, r)
		}
	}
	for _, k := range fresh {
		if !a.killed.Has(k.Digest) {
			continue // past the list's bound
		}
		n := 0
		for _, r := range stop {
			if r.digest == k.Digest {
				n++
			}
		}
		a.recordKill(k, n)
	}
	for _, r := range stop {
		r.cancel(fmt.Errorf("module %s was killed fleet-wide: %w", r.digest, errKilled))
	}
	stopped := len(stop)
	snapshot := &KillList{Killed: slices.Clone(a.killed.Killed)}
	a.mu.Unlock()
	if !added {
		return
	}
	a.log.Warn("fleet: kill list updated", "killed", len(snapshot.Killed), "calls_stopped", stopped)
	if a.o.StateDir != "" {
		if err := os.MkdirAll(a.o.StateDir, 0o700); err != nil {
			a.log.Error("fleet: keeping the kill list", "err", err)
		} else if err := writeKillList(filepath.Join(a.o.StateDir, killedFile), snapshot); err != nil {
			a.log.Error("fleet: keeping the kill list", "err", err)
		}
	}
	a.publish(false)
}

// fetchKills asks the controller for the kill list.
func (a *Agent) fetchKills() {
	m, err := a.nc.Request(killsSubject, nil, 5*time.Second)
	if err != nil {
		a.log.Warn("fleet: the kill list could not be fetched; the last one kept applies", "err", err)
		return
	}
	var l KillList
	if err := json.Unmarshal(m.Data, &l); err != nil {
		a.log.Warn("fleet: malformed kill list", "err", err)
		return
	}
	a.applyKills(&l)
}

// Running returns how many calls are running their module.
func (a *Agent) Running() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, r := range a.running {
		if r.digest != "" {
			n++
		}
	}
	return n
}

// Killed returns the digests this node refuses.
func (a *Agent) Killed() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.killed.Killed))
	for _, k := range a.killed.Killed {
		out = append(out, k.Digest)
	}
	return out
}

// statusLoop publishes the status every interval, and soon after the
// installed tools change.
func (a *Agent) statusLoop() {
	defer close(a.done)
	tick := time.NewTicker(min(a.o.Interval, 2*time.Second))
	defer tick.Stop()
	last := time.Now()
	prev := a.local.Tools()
	for {
		select {
		case <-a.stop:
			return
		case <-tick.C:
		}
		tools := a.local.Tools()
		changed := !slices.Equal(tools, prev)
		if changed || time.Since(last) >= a.o.Interval {
			a.publishTools(tools, false)
			prev, last = tools, time.Now()
		}
	}
}

func (a *Agent) publish(_ bool) { a.publishTools(a.local.Tools(), false) }

func (a *Agent) publishTools(tools []ToolStatus, stopped bool) {
	st := Status{Node: a.o.Name, Labels: maps.Clone(a.o.Labels), Tools: tools, Version: a.o.Version,
		Time: time.Now().UTC(), Interval: a.o.Interval.Seconds(), Stopped: stopped, Killed: a.Killed(), Deploys: a.deploys.results()}
	b, err := json.Marshal(st)
	if err == nil && len(b) > maxStatus {
		err = fmt.Errorf("status of %d bytes, above the %d-byte limit", len(b), maxStatus)
	}
	if err == nil {
		err = a.nc.Publish(statusSubject(a.o.Name), b)
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		a.log.Warn("fleet: publishing status", "err", err)
	}
}

// Close leaves the fleet: no new calls are taken, running ones are
// answered (ctx bounds the wait, then they are stopped), and a last status
// says the node stopped.
func (a *Agent) Close(ctx context.Context) error {
	a.mu.Lock()
	a.closing = true
	a.mu.Unlock()
	close(a.stop)
	<-a.done
	err := a.svc.Stop()
	for {
		a.mu.Lock()
		n := len(a.running)
		a.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			a.cancelAll()
		case <-time.After(50 * time.Millisecond):
			continue
		}
		break
	}
	a.publishTools(a.local.Tools(), true)
	if derr := a.nc.Drain(); err == nil {
		err = derr
	}
	return err
}
