// Package testutil holds the small helpers that agent-ctl's tests share:
// a buffer that a worker's output and a test may use at once, a writer
// that notes when each write arrives, polls for conditions that another
// process makes true in its own time, the minisign tool that signature
// tests compare with, a command started with pipes and killed when the
// test ends, and the check of a table a test writes into docs.
package testutil

import (
	"bytes"
	"os"
	"slices"
	"strings"
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

// Write appends p; it is safe to call while another goroutine reads.
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

// TimedWriter records what each write carried and when it arrived, for
// tests that check output reaches its reader as it is written, not at the
// end of a call. The zero value is empty.
type TimedWriter struct {
	mu     sync.Mutex
	writes []string
	times  []time.Time
}

// Write records p and the time it arrived.
func (w *TimedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.times = append(w.times, time.Now())
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// String returns everything written so far.
func (w *TimedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.writes, "")
}

// Times returns when each write arrived, in order.
func (w *TimedWriter) Times() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.times)
}

// OpenFDs counts the test process's open descriptors (Linux: from
// /proc/self/fd), for tests that check a call leaves none behind.
func OpenFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
