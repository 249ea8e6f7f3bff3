package isolation

import (
	"runtime"
	"sync"
)

// A child started with a parent-death signal gets it when the thread that
// forked it exits, not when the process does (prctl(2); golang/go#27505).
// Go retires a thread whenever a goroutine ends while locked to it, and
// libcontainer does just that during every container start (its mount
// source goroutine), so a worker forked from an ordinary goroutine could be
// killed at random by a later start. onSpawnThread runs f on one of a few
// goroutines locked for good to their own threads, which never exit: fork
// there and the signal comes only when the supervisor dies.
func onSpawnThread(f func()) {
	done := make(chan struct{})
	spawnThreads() <- func() {
		defer close(done)
		f()
	}
	<-done
}

// spawnThreadCount bounds how many workers can be starting at once; a start
// spends most of its time waiting on the new worker.
const spawnThreadCount = 8

var spawnThreads = sync.OnceValue(func() chan<- func() {
	ch := make(chan func())
	for range spawnThreadCount {
		go func() {
			runtime.LockOSThread() // never unlocked
			for f := range ch {
				f()
			}
		}()
	}
	return ch
})
