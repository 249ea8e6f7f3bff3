package supervisor

import (
	"fmt"
	"time"

	"github.com/agent-ctl/agent-ctl/supervisor/audit"
)

// AppendAudit records rec, an event that is not a call (a fleet deploy
// installed or refused, say), in the audit log, chained with the calls. It
// sets rec.Time when zero. With auditing off it records nothing and
// returns nil.
func (s *Supervisor) AppendAudit(rec *audit.Record) error {
	if s.audit == nil {
		return nil
	}
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	if err := s.audit.Append(rec); err != nil {
		return fmt.Errorf("%w: %w", ErrAudit, err)
	}
	// Not passed to OnCall: it counts calls, and this is none.
	return nil
}
