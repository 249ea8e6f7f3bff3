package supervisor

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/untrusted"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor/hostnet"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// run is the state of one call in its worker.
type run struct {
	s    *Supervisor
	call *Call
	pol  policies.Policy
	res  *Result
	// timeout bounds the run: the policy's Timeout, or what is left of
	// it (Call.TimeoutCoversLoad). Results report the policy's.
	timeout time.Duration

	conn      *protocol.Conn
	remaining atomic.Int64 // output bytes still allowed
	copies    sync.WaitGroup
	werr      *tailBuffer // the worker's own stderr, for diagnostics

	overflow atomic.Bool // the module wrote past the output cap
	panics   panicScan   // a panic the module printed on stderr

	stdinRead atomic.Int64  // bytes read from the call's stdin
	stdinDone chan struct{} // closed when the stdin copy ends

	stopOnce sync.Once
	stopped  Outcome // why the supervisor killed the worker; set once
	stopCh   chan struct{}
}

// stop kills the worker for reason; the first reason wins.
func (r *run) stop(reason Outcome) {
	r.stopOnce.Do(func() {
		r.stopped = reason
		close(r.stopCh)
		if r.conn != nil {
			r.conn.Kill()
		}
	})
}

// finish marks the call as ended normally without killing the worker now.
func (r *run) finish() {
	r.stopOnce.Do(func() {
		r.stopped = Exited
		close(r.stopCh)
	})
}

func (r *run) wasStopped() (Outcome, bool) {
	select {
	case <-r.stopCh:
		return r.stopped, true
	default:
		return 0, false
	}
}

// attach connects the call's stdio to the worker's pipes.
func (r *run) attach(p *stdioPipes) {
	stdin, stdout, stderr := p.stdin(), p.stdout(), p.stderr()
	r.stdinDone = make(chan struct{})
	if r.call.Stdin == nil {
		stdin.Close()
		close(r.stdinDone)
	} else {
		// Not waited for: a reader such as a terminal may block until the
		// user types. The copy ends on the next write after the worker is
		// gone. What it read decides whether a crashed call may run again.
		go func() {
			_, _ = io.Copy(stdin, countingReader{r.call.Stdin, &r.stdinRead})
			stdin.Close()
			close(r.stdinDone)
		}()
	}
	r.copies.Add(2)
	go r.forward(stdout, r.call.Stdout)
	errw := r.call.Stderr
	if errw == nil {
		errw = io.Discard
	}
	go r.forward(stderr, io.MultiWriter(errw, &r.panics))
}

// forward copies one of the module's output pipes to w, counting every byte
// against the shared output cap. Past the cap it writes what was still
// allowed and stops the worker.
func (r *run) forward(src io.ReadCloser, w io.Writer) {
	defer r.copies.Done()
	defer src.Close()
	if w == nil {
		w = io.Discard
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			left := r.remaining.Add(-int64(n))
			allowed := n
			if left < 0 {
				allowed = max(0, n+int(left))
			}
			if allowed > 0 {
				if _, werr := w.Write(buf[:allowed]); werr != nil {
					r.stop(Cancelled)
					return
				}
			}
			if left < 0 {
				r.overflow.Store(true)
				r.stop(OutputLimit)
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// serve runs the module in its prepared worker, watching the context, the
// time limit and the output cap from outside the worker.
func (r *run) serve(ctx context.Context, args *protocol.RunArgs) (*Result, error) {
	res := r.res
	defer func() {
		r.stop(Exited) // no-op when already stopped: the worker serves one call
		r.copies.Wait()
		res.Output = r.pol.MaxOutput - r.remaining.Load()
		if res.Output > r.pol.MaxOutput {
			res.Output = r.pol.MaxOutput
		}
	}()
	// The backstop: the worker enforces the time limit itself, and is
	// killed if it has not reported a grace period later (or if ctx ends).
	backstop := time.AfterFunc(r.timeout+r.s.grace, func() { r.stop(TimedOut) })
	defer backstop.Stop()
	defer context.AfterFunc(ctx, func() { r.stop(Cancelled) })()

	if len(r.pol.Net) > 0 {
		gate := hostnet.New(r.pol.Net, &hostnet.Options{
			Deadline: time.Now().Add(r.timeout),
			Logger:   r.s.log.With("module", res.Module),
		})
		defer gate.Shutdown()
		args.NetID = r.conn.ServeNetwork(gate)
	}
	run := r.conn.Run
	if r.s.runOverRPC {
		run = r.conn.RunRPC
	}
	tc := time.Now()
	wres, err := run(args)
	res.Timings.Call = time.Since(tc)
	if o, ok := r.wasStopped(); ok && o != Exited {
		return r.stoppedResult(o), nil
	}
	if err != nil {
		return nil, r.classifyErr(err)
	}
	res.Timings.Instantiate, res.Timings.Run = wres.InstantiateTime, wres.RunTime
	res.ExitCode = int(wres.ExitCode)
	// The worker's words come from the module (a function's name in its
	// name section, a trap message quoting it): shown escaped from here on,
	// for the CLI, MCP, fleet results and the audit log alike.
	res.Trap, res.Message, res.Frames = untrusted.Show(wres.Trap), untrusted.Show(wres.Message), showAll(wres.Frames)
	switch wres.Outcome {
	case protocol.Exited:
		res.Outcome = Exited
	case protocol.Trapped:
		res.Outcome = Trapped
	case protocol.TimedOut:
		res.Outcome, res.Limit = TimedOut, r.pol.Timeout.String()
	case protocol.MemoryLimit:
		res.Outcome, res.Limit = MemoryLimit, policies.FormatSize(r.pol.Memory)
	}
	// The worker closed the module's stdio when Run ended: the forwarders
	// drain what is left in the pipes and stop at EOF. Output that pushes
	// the count past the cap on the way is reported as such.
	r.copies.Wait()
	if r.overflow.Load() { // the forwarder has stopped the worker
		return r.stoppedResult(OutputLimit), nil
	}
	r.panics.apply(res)
	// Done: the worker is killed by Invoke's retire, off the call's path.
	r.finish()
	return res, nil
}

// showAll is untrusted.Show over each of ss, in a new slice.
func showAll(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = untrusted.Show(s)
	}
	return out
}

func (r *run) stoppedResult(o Outcome) *Result {
	res := r.res
	res.Outcome = o
	res.Trap, res.Message, res.Frames = "", "", nil
	switch o {
	case TimedOut:
		res.Limit = r.pol.Timeout.String()
	case OutputLimit:
		res.Limit = policies.FormatSize(r.pol.MaxOutput)
	}
	return res
}

// classifyErr turns a worker's Run error into one of the package's errors.
func (r *run) classifyErr(err error) error {
	r.stop(Exited)
	r.copies.Wait()
	settle(r.conn)
	return prepareErr(r.res.Module, r.pol.Memory, err, r.werr)
}
