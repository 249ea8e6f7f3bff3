package testutil

import (
	"fmt"
	"testing"
	"time"
)

// Eventually polls cond until it returns true, and fails the test with
// the formatted message if it has not within timeout. It replaces the
// hand-written poll loops (and sleeps-as-sync) of the tests: timeouts are
// generous, for a loaded CI machine, and the polling starts fast (1 ms)
// and backs off to 50 ms, so that a condition that holds soon costs
// little and a long wait costs few wake-ups. cond runs on the test's
// goroutine.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("after %s: %s", timeout, fmt.Sprintf(format, args...))
	}
}

// Poll is Eventually without the test: it reports whether cond returned
// true within timeout, for a caller that fails in its own way (or not at
// all).
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return cond()
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
	return true
}

// Within runs f on a goroutine of its own and returns what it returns,
// or fails the test if it has not returned within timeout: a call that
// blocks forever (an open(2) of a named pipe waiting for a writer) fails
// its test instead of hanging the run. The goroutine is left behind.
func Within[T any](t testing.TB, timeout time.Duration, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(timeout):
		t.Fatalf("%s: still blocked after %s", what, timeout)
		var zero T
		return zero
	}
}
