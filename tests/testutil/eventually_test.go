package testutil_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

func TestPoll(t *testing.T) {
	for _, tc := range []struct {
		name    string
		holdsAt int32 // the call on which cond first returns true; 0: never
		timeout time.Duration
		want    bool
	}{
		{"at once", 1, time.Second, true},
		{"after a few polls", 5, 10 * time.Second, true},
		{"never", 0, 50 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			got := testutil.Poll(tc.timeout, func() bool {
				n := calls.Add(1)
				return tc.holdsAt != 0 && n >= tc.holdsAt
			})
			if got != tc.want {
				t.Errorf("Poll = %v after %d calls, want %v", got, calls.Load(), tc.want)
			}
			if tc.want && calls.Load() != tc.holdsAt {
				t.Errorf("cond called %d times, want %d (no polling once it holds)", calls.Load(), tc.holdsAt)
			}
		})
	}
}

// fakeTB records a failure instead of ending the test.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = format
}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.failed = format
}

func TestEventually_fails(t *testing.T) {
	f := &fakeTB{TB: t}
	testutil.Eventually(f, 20*time.Millisecond, func() bool { return false }, "never %s", "true")
	if f.failed == "" {
		t.Error("Eventually of a condition that never holds did not fail the test")
	}
	f = &fakeTB{TB: t}
	testutil.Eventually(f, time.Second, func() bool { return true }, "true")
	if f.failed != "" {
		t.Errorf("Eventually of a condition that holds failed the test: %s", f.failed)
	}
}
