package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
)

// ErrAudit: the call could not be recorded in the audit log, so it did not
// run (or, when the log failed after the call, its result is withheld).
var ErrAudit = errors.New("recording the call in the audit log")

// AuditOptions configures the audit log. The zero value records every call
// in Home/audit, fsync'd per line.
type AuditOptions struct {
	// Off records nothing: the operator turned auditing off (doctor and
	// serve say so).
	Off bool
	// Log configures the log's files; nil means audit's defaults.
	Log *audit.Options
}

// AuditDir is the audit log's directory under a state directory.
func AuditDir(home string) string { return filepath.Join(home, "audit") }

// openAudit opens the audit log unless o turns it off.
func (s *Supervisor) openAudit(o *Options) error {
	s.onCall = o.OnCall
	if o.Audit != nil && o.Audit.Off {
		return nil
	}
	var lo *audit.Options
	if o.Audit != nil {
		lo = o.Audit.Log
	}
	l, err := audit.Open(AuditDir(s.home), lo)
	if err != nil {
		return fmt.Errorf("%w: %w; no call can run", ErrAudit, err)
	}
	s.audit = l
	return nil
}

// Auditing reports whether calls are recorded.
func (s *Supervisor) Auditing() bool { return s.audit != nil }

// closeAudit syncs and closes the audit log.
func (s *Supervisor) closeAudit() {
	if s.audit != nil {
		_ = s.audit.Close()
	}
}

// Invoke runs one call in a fresh worker and records it. It returns an
// error for what keeps the module from starting (not found, invalid, bad
// policy, no isolation, a worker fault, an audit log that cannot record
// it); how the module itself ended, limits hit included, is in the Result.
//
// A call that cannot be recorded does not run: the audit directory is
// checked (writable, room left) before anything else, and the call's line
// is appended, fsync'd, before its result is returned. If that append
// fails after all (the disk filled during the call), the call has run but
// its result is withheld and the error says so.
func (s *Supervisor) Invoke(ctx context.Context, c *Call) (*Result, error) {
	if c.prepareOnly || c.replay {
		// Not calls of their own: Precompile, and the second run of a
		// call that its first Invoke records.
		res, _, err := s.invoke(ctx, c) // neither is pooled
		return res, err
	}
	start := time.Now()
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	if s.audit != nil {
		if err := s.audit.Check(); err != nil {
			err = fmt.Errorf("%w: %w; the call was not run", ErrAudit, err)
			s.observe(s.record(c, start, nil, err))
			return nil, err
		}
	}
	res, refill, err := s.invoke(ctx, c)
	if refill != nil && s.refillEarly {
		refill() // as before issue 18: benchmarks compare the two
	} else if refill != nil {
		// After the audit line, whatever it says: the pool's replacement
		// starts once the answer is on its way (Call.Answered).
		defer refill()
	}
	rec := s.record(c, start, res, err)
	if cause := context.Cause(ctx); rec.Outcome == Cancelled.String() && cause != nil && cause != ctx.Err() {
		// Cancelled with a reason (a fleet kill, the controller's
		// cancel): the log says which.
		rec.Error = cause.Error()
	}
	if s.audit != nil {
		if aerr := s.audit.Append(rec); aerr != nil {
			s.log.Error("call not recorded", "module", rec.Tool, "err", aerr)
			rec.Outcome, rec.Error = "error", aerr.Error()
			s.observe(rec)
			return nil, fmt.Errorf("%w: %w; the call ran, its result is withheld", ErrAudit, aerr)
		}
	}
	s.observe(rec)
	return res, err
}

func (s *Supervisor) observe(r *audit.Record) {
	if s.onCall != nil {
		s.onCall(r)
	}
}

// InFlight reports the calls in progress.
func (s *Supervisor) InFlight() int { return int(s.inFlight.Load()) }

// WorkerStarts reports the workers started since New, and the starts that
// failed.
func (s *Supervisor) WorkerStarts() (started, failed uint64) {
	return s.workersStarted.Load(), s.workersFailed.Load()
}

// workerStarted counts a worker start and its failure.
func (s *Supervisor) workerStarted(err error) {
	if err != nil {
		s.workersFailed.Add(1)
		return
	}
	s.workersStarted.Add(1)
}

// osUser is the CLI's caller: the user this process runs as.
var osUser = sync.OnceValue(func() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid:" + strconv.Itoa(os.Getuid())
})

// limitKinds name the limit behind each outcome that is one.
var limitKinds = map[Outcome]string{TimedOut: "time", MemoryLimit: "memory", OutputLimit: "output"}

// record is the audit line of a call: what was asked, what was granted and
// how it ended. Environment values never enter it; an installed tool's
// arguments enter as its (redacted) Params, never as its argv.
func (s *Supervisor) record(c *Call, start time.Time, res *Result, err error) *audit.Record {
	name := c.Name
	if name == "" {
		name = filepath.Base(c.Module)
	}
	pol := c.Policy.WithDefaults()
	r := &audit.Record{
		Time: start.UTC(), Caller: c.Caller, Frontend: c.Frontend, CallID: c.CallID, Tool: name, Version: c.Version,
		Module: c.Module, Params: c.Params,
		Limits: audit.Limits{Memory: policies.FormatSize(pol.Memory), Timeout: pol.Timeout.String(),
			MaxOutput: policies.FormatSize(pol.MaxOutput)},
		Isolation:  string(pol.Isolation),
		DurationMS: float64(time.Since(start).Microseconds()) / 1e3,
	}
	if r.Caller == "" {
		r.Caller = osUser()
	}
	if r.Isolation == "" {
		r.Isolation = string(policies.IsolationContainer)
	}
	if c.Params == nil {
		r.Args = c.Args
	}
	if abs, aerr := filepath.Abs(c.Module); aerr == nil {
		r.Module = abs
	}
	for _, d := range pol.Dirs {
		mode := "ro"
		if d.Writable {
			mode = "rw"
		}
		r.Grants.Dirs = append(r.Grants.Dirs, audit.Dir{Host: d.Host, Guest: d.Guest, Mode: mode})
	}
	for _, e := range pol.Env {
		r.Grants.Env = append(r.Grants.Env, e.Key)
	}
	for _, n := range pol.Net {
		r.Grants.Net = append(r.Grants.Net, audit.Net{Host: n.Host, Ports: n.Ports})
	}
	r.ExitCode = ExitCode(res, err)
	if err != nil {
		r.Outcome, r.Error = "error", err.Error()
		return r
	}
	r.Outcome, r.Digest, r.Isolation = res.Outcome.String(), res.Digest, res.Isolation
	if res.Outcome == Trapped {
		r.Trap = res.Trap
	}
	if k, ok := limitKinds[res.Outcome]; ok {
		r.LimitHit, r.Limit = k, res.Limit
	}
	return r
}
