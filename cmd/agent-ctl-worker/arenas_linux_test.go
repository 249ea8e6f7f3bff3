package main

import (
	"runtime"
	"sync"
	"testing"
)

// TestOneArena: threads that allocate with malloc share the one arena the
// worker's constructor allows, instead of each making its own (a 64 MiB
// reservation, its trimming and its page faults in every worker).
func TestOneArena(t *testing.T) {
	const threads = 4
	var allocated, done sync.WaitGroup
	release := make(chan struct{})
	for range threads {
		allocated.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			// Each goroutine keeps its own thread until released, so the
			// allocations come from four threads at once.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			touchMalloc()
			allocated.Done()
			<-release
		}()
	}
	allocated.Wait()
	n := mallocArenas()
	close(release)
	done.Wait()
	if n != 1 {
		t.Errorf("%d malloc arenas after %d threads allocated, want 1", n, threads)
	}
}
