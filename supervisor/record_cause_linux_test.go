package supervisor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// TestInvoke_recordsCancelCause: a call cancelled with a reason (the
// fleet's kill switch, its controller's cancel) says why in its audit
// line; one cancelled without says nothing more than "cancelled". The
// front-end's call ID is recorded.
func TestInvoke_recordsCancelCause(t *testing.T) {
	home := t.TempDir()
	s := openSupervisor(t, home)
	for _, tc := range []struct {
		name, id string
		cause    error
		want     string
	}{
		{"with a reason", "id-1", errors.New("cancelled by the controller"), "cancelled by the controller"},
		{"without", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			stop := time.AfterFunc(500*time.Millisecond, func() { cancel(tc.cause) })
			defer stop.Stop()
			res, err := s.Invoke(ctx, &supervisor.Call{Module: fixtures.Path("loop.wasm"), CallID: tc.id,
				Policy: policies.Policy{Isolation: policies.IsolationProcess, Timeout: 5 * time.Minute}})
			if err != nil || res.Outcome != supervisor.Cancelled {
				t.Fatalf("Invoke = %+v, %v; want it cancelled", res, err)
			}
			recs := records(t, home)
			r := recs[len(recs)-1]
			if r.Outcome != "cancelled" || r.Error != tc.want || r.CallID != tc.id {
				t.Errorf("record %+v, want outcome cancelled, error %q, call id %q", r, tc.want, tc.id)
			}
		})
	}
}
