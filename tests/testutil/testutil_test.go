package testutil

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("ab"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if b.Len() != 8*100*2 {
		t.Errorf("Len() = %d, want %d", b.Len(), 8*100*2)
	}
}

func TestEventually(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after int32 // polls until cond is true; -1 never
		want  bool
	}{
		{"at once", 0, true},
		{"after a few polls", 5, true},
		{"never", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var polls atomic.Int32
			t0 := time.Now()
			got := Eventually(t, 300*time.Millisecond, func() bool {
				n := polls.Add(1) - 1
				return tc.after >= 0 && n >= tc.after
			})
			if got != tc.want {
				t.Fatalf("Eventually = %v after %d polls, want %v", got, polls.Load(), tc.want)
			}
			if !tc.want && time.Since(t0) < 300*time.Millisecond {
				t.Errorf("gave up after %s, before its timeout", time.Since(t0))
			}
			if tc.after >= 0 && polls.Load() != tc.after+1 {
				t.Errorf("polled %d times, want %d", polls.Load(), tc.after+1)
			}
		})
	}
}
