package supervisor

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// PoolOptions sizes the warm pool of a long-running supervisor (agent-ctl
// mcp, serve). The zero value of each field is a default for a 2-core host.
type PoolOptions struct {
	// PerTool is how many prepared workers wait for each tool's next calls;
	// zero means 2.
	PerTool int
	// Total caps the prepared workers of all tools together; zero means 8.
	Total int
	// Spawners is how many workers may be prepared at once in the
	// background; zero means one per two CPUs (at least one), so that
	// refilling never takes every core from the calls.
	Spawners int
	// Idle is how long a prepared worker may wait before it is retired;
	// zero means 2 minutes.
	Idle time.Duration
}

// pool keeps prepared workers ahead of demand. A worker still serves
// exactly one call and then exits: the pool only moves the spawn, the
// confinement and the module load off the call's path. Workers are keyed by
// their template (module version, walls, granted directories, memory), so a
// new module version or a grant change simply selects other workers; the
// stale ones are retired when their tool's key changes.
type pool struct {
	s *Supervisor
	o PoolOptions

	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup
	// closing counts retired workers being killed and removed: close
	// waits for them, so that a supervisor that exits leaves no cgroup or
	// directory behind.
	closing sync.WaitGroup

	mu       sync.Mutex
	idle     map[string][]*warm
	pending  map[string]int // workers being prepared, by key
	toolKey  map[string]string
	count    int // idle + pending
	closed   bool
	failures map[string]int // consecutive failed refills, by key
}

func newPool(s *Supervisor, o PoolOptions) *pool {
	if o.PerTool <= 0 {
		o.PerTool = 2
	}
	if o.Total <= 0 {
		o.Total = 8
	}
	if o.Spawners <= 0 {
		o.Spawners = max(1, runtime.NumCPU()/2)
	}
	if o.Idle <= 0 {
		o.Idle = 2 * time.Minute
	}
	p := &pool{s: s, o: o, sem: make(chan struct{}, o.Spawners),
		idle: map[string][]*warm{}, pending: map[string]int{}, toolKey: map[string]string{}, failures: map[string]int{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.reap()
	return p
}

// take returns a prepared worker for key, or nil. It retires the tool's
// workers of another key: the tool changed (new version, new grants).
func (p *pool) take(key, tool string) *warm {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if old, ok := p.toolKey[tool]; ok && old != key {
		p.retireLocked(old)
	}
	p.toolKey[tool] = key
	for ws := p.idle[key]; len(ws) > 0; ws = p.idle[key] {
		w := ws[len(ws)-1]
		p.idle[key] = ws[:len(ws)-1]
		p.count--
		if w.alive() {
			return w
		}
		p.closing.Go(w.close)
	}
	return nil
}

func (p *pool) retireLocked(key string) {
	for _, w := range p.idle[key] {
		p.count--
		p.closing.Go(w.close)
	}
	delete(p.idle, key)
}

// refill reserves workers for t until its share is full and returns
// what starts preparing them in the background (nil when none is needed).
// The reservation is made at once, so that calls finishing together do not
// over-fill the pool; the start is the caller's to time (see
// Supervisor.invoke). The workers wait for answered, or RefillHold, before
// they start: the call's answer goes out first.
func (p *pool) refill(t *template, answered <-chan struct{}) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	type reserved struct {
		t       *template
		release func()
	}
	var rs []reserved
	for !p.closed && len(p.idle[t.key])+p.pending[t.key] < p.o.PerTool && p.count < p.o.Total &&
		p.failures[t.key] < 3 {
		// The call's descriptors close when it returns: the worker
		// prepared later gets its own copies of the same directories.
		tc, release, err := t.withFiles()
		if err != nil {
			p.s.log.Debug("pool: preparing a worker failed", "module", t.name, "err", err)
			break
		}
		p.pending[t.key]++
		p.count++
		p.wg.Add(1)
		rs = append(rs, reserved{tc, release})
	}
	if len(rs) == 0 {
		return nil
	}
	return func() {
		for _, r := range rs {
			go p.prepare(r.t, r.release, answered)
		}
	}
}

func (p *pool) prepare(t *template, release func(), answered <-chan struct{}) {
	defer p.wg.Done()
	defer release()
	if answered != nil {
		awaitAnswer(answered, p.ctx.Done())
	}
	select {
	case p.sem <- struct{}{}:
	case <-p.ctx.Done():
		p.done(t.key, nil)
		return
	}
	w, err := p.s.prepare(p.ctx, t)
	<-p.sem
	if err != nil {
		p.s.log.Debug("pool: preparing a worker failed", "module", t.name, "err", err)
	}
	p.done(t.key, w)
}

// done files a prepared worker (nil when preparing failed).
func (p *pool) done(key string, w *warm) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending[key]--
	if p.pending[key] == 0 {
		delete(p.pending, key)
	}
	if w == nil {
		p.count--
		p.failures[key]++
		return
	}
	delete(p.failures, key)
	stale := true
	for _, k := range p.toolKey {
		if k == key {
			stale = false
		}
	}
	if p.closed || stale {
		p.count--
		p.closing.Go(w.close)
		return
	}
	p.idle[key] = append(p.idle[key], w)
	p.s.log.Debug("pool: worker ready", "worker_pid", w.conn.Pid(), "idle", len(p.idle[key]), "total", p.count)
}

// reap retires workers that waited longer than Idle.
func (p *pool) reap() {
	defer p.wg.Done()
	t := time.NewTicker(max(p.o.Idle/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		for key, ws := range p.idle {
			keep := ws[:0]
			for _, w := range ws {
				if time.Since(w.born) > p.o.Idle || !w.alive() {
					p.count--
					p.closing.Go(w.close)
					continue
				}
				keep = append(keep, w)
			}
			if len(keep) == 0 {
				delete(p.idle, key)
			} else {
				p.idle[key] = keep
			}
		}
		p.mu.Unlock()
	}
}

// stats reports idle and pending workers.
func (p *pool) stats() (idle, pending int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ws := range p.idle {
		idle += len(ws)
	}
	for _, n := range p.pending {
		pending += n
	}
	return idle, pending
}

// close stops refilling and kills every prepared worker.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	for key := range p.idle {
		p.retireLocked(key)
	}
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()      // refills: what they file now is closed at once (closed is set)
	p.closing.Wait() // every retired worker killed and removed
}
