package supervisor

import (
	"fmt"
	"time"

	"github.com/agent-ctl/agent-ctl/supervisor/audit"
)

// Record appends r, a line that is not a call's, to the audit log: an
// event a front-end must leave a trace of beside the calls (an agent
// receiving the fleet's kill of a module, a fleet deploy installed or
// refused), chained with the calls. Time defaults to now and Caller
// to the OS user. With auditing off it records nothing and returns nil.
// It is not a call: OnCall does not see it.
func (s *Supervisor) Record(r *audit.Record) error {
	if s.audit == nil {
		return nil
	}
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	if r.Caller == "" {
		r.Caller = osUser()
	}
	if err := s.audit.Append(r); err != nil {
		return fmt.Errorf("%w: %w", ErrAudit, err)
	}
	return nil
}
