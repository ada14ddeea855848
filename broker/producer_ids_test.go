package broker

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestProducerIDsOneFetchAtATime: callers that find the block used up
// while one is being fetched wait for that fetch rather than starting
// their own; ids are unique; a failed fetch fails its callers and the next
// call fetches again.
func TestProducerIDsOneFetchAtATime(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int32
	release := make(chan struct{})
	fail := atomic.Bool{}
	pids := newProducerIDs(func(n int) (int64, error) {
		fetches.Add(1)
		<-release
		if fail.Load() {
			return 0, errors.New("no controller")
		}
		return int64(fetches.Load()) * 10_000, nil
	})
	const callers = 50
	ids := make(chan int64, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			id, err := pids.allocate()
			if err != nil {
				t.Errorf("allocate: %v", err)
			}
			ids <- id
		})
	}
	waitFor(t, "a fetch in flight", 10*time.Second, func() bool { return fetches.Load() == 1 })
	// Waiters take mu only briefly: it is free while the fetch is out.
	waitFor(t, "producerIDs.mu free during the block fetch", 5*time.Second, func() bool {
		if !pids.mu.TryLock() {
			return false
		}
		pids.mu.Unlock()
		return true
	})
	close(release)
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		if seen[id] || id < 10_000 || id >= 10_000+producerIDBlock {
			t.Fatalf("id %d: repeated or outside the block", id)
		}
		seen[id] = true
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d block fetches for %d callers, want 1", n, callers)
	}

	// Use up the block; the next fetch fails, the one after succeeds.
	for range producerIDBlock - callers {
		if _, err := pids.allocate(); err != nil {
			t.Fatal(err)
		}
	}
	fail.Store(true)
	if _, err := pids.allocate(); err == nil {
		t.Fatal("allocate succeeded with the fetch failing")
	}
	fail.Store(false)
	if id, err := pids.allocate(); err != nil || id != 30_000 {
		t.Fatalf("after a failed fetch: id %d, %v; want 30000 from the third fetch", id, err)
	}
}
