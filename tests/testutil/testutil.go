// Package testutil holds the small helpers that agent-ctl's tests share:
// a buffer that a worker's output and a test may use at once, and a poll
// for conditions that another process makes true in its own time.
package testutil

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer safe for concurrent use: a call's stdout
// and stderr are written by the supervisor's forwarding goroutines while
// the test may read what arrived so far. The zero value is empty.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Len returns how many bytes were written so far.
func (s *SyncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// Eventually polls cond until it returns true or timeout passes, and
// reports whether it did. The first polls come quickly and later ones
// back off, so that a condition met at once costs nothing and a long wait
// does not spin on a loaded 2-core machine. Timeouts should be generous:
// they bound a failing test, not a passing one. The caller says what did
// not happen:
//
//	if !testutil.Eventually(t, 10*time.Second, func() bool { return idle() == 1 }) {
//		t.Fatal("the pool prepared no worker")
//	}
func Eventually(t testing.TB, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
	}
}
