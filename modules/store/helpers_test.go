package store_test

import (
	"sync"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/store"
)

// openStore opens a store in a new empty directory.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readWhileSwapping has readers goroutines load the tool "greet" over and
// over, each load checked by check, while swap runs rounds times on the
// test's goroutine; it reports every reader's error. Readers stop at their
// first error, so a torn read is reported once per reader, not per load.
func readWhileSwapping(t *testing.T, s *store.Store, readers, rounds int, check func(*store.Tool, error) error, swap func(i int) error) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := check(s.Get("greet")); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range rounds {
		if err := swap(i); err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("reader: %v", err)
	}
}
