package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingStore is a store whose file opens are counted.
func countingStore(t testing.TB) (*Bolt, *atomic.Int64) {
	t.Helper()
	var opens atomic.Int64
	s, err := openBolt(filepath.Join(t.TempDir(), "registry.db"), func(b *Bolt) {
		b.openFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
			opens.Add(1)
			return os.OpenFile(name, flag, perm)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &opens
}

// queued waits until n writes wait on s's file.
func queued(t *testing.T, s *Bolt, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.file.queueMu.Lock()
		got := len(s.file.queue)
		s.file.queueMu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWritesWaitingTogetherCommitOnce holds the file while 20 hosts
// record their runs, then lets go: the 20 writes are committed in one
// transaction (one file open), and every one of them is there.
func TestWritesWaitingTogetherCommitOnce(t *testing.T) {
	s, opens := countingStore(t)
	const n = 20
	s.file.mu.Lock()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Put(Record{Host: fmt.Sprintf("worker%02d", i), Service: "api", State: "running"})
		})
	}
	queued(t, s, n)
	before := opens.Load()
	s.file.mu.Unlock()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if got := opens.Load() - before; got != 1 {
		t.Errorf("%d writes waiting together opened the file %d times, want 1", n, got)
	}
	recs, err := s.List()
	if err != nil || len(recs) != n {
		t.Fatalf("List: %d records, %v; want %d", len(recs), err, n)
	}
}

// TestFailingWriteFailsAlone puts a write that fails (finishing an event
// that does not exist) in a batch with good ones: it fails, and the others
// are committed.
func TestFailingWriteFailsAlone(t *testing.T) {
	s, _ := countingStore(t)
	const n = 6
	s.file.mu.Lock()
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	ids := make([]string, n)
	for i := range n {
		wg.Go(func() {
			ids[i], errs[i] = s.BeginEvent(Event{Command: "restart", Host: fmt.Sprintf("worker%d", i), Service: "api"})
		})
	}
	wg.Go(func() { errs[n] = s.FinishEvent(Event{ID: "no-such-event", Result: "ok"}) })
	queued(t, s, n+1)
	s.file.mu.Unlock()
	wg.Wait()
	if errs[n] == nil {
		t.Fatal("finishing an event that does not exist succeeded")
	}
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("write %d failed with its batch: %v", i, errs[i])
		}
		if seen[ids[i]] {
			t.Fatalf("two events got the ID %s", ids[i])
		}
		seen[ids[i]] = true
	}
	evs, err := s.Events(EventQuery{})
	if err != nil || len(evs) != n {
		t.Fatalf("Events: %d, %v; want %d", len(evs), err, n)
	}
	for _, ev := range evs {
		if !seen[ev.ID] {
			t.Errorf("stored event %s is not one BeginEvent returned", ev.ID)
		}
	}
}

// TestLockInBatchWithHeldKey batches a lock on a key another run holds
// with a lock on a free key: the first reports the holder, the second
// gets its key.
func TestLockInBatchWithHeldKey(t *testing.T) {
	s, _ := countingStore(t)
	other := Owner{Operator: "alice", Machine: "elsewhere", PID: 1}
	s2, err := OpenBolt(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	s2.machine = "elsewhere" // its heartbeat keeps the key alive
	unlockOther, err := s2.Lock(t.Context(), []string{"worker1/api"}, other, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlockOther()

	s.file.mu.Lock()
	var wg sync.WaitGroup
	var heldErr, freeErr error
	wg.Go(func() { _, heldErr = s.Lock(t.Context(), []string{"worker1/api"}, Owner{Operator: "bob"}, 0) })
	wg.Go(func() {
		var unlock func() error
		unlock, freeErr = s.Lock(t.Context(), []string{"worker2/api"}, Owner{Operator: "bob"}, 0)
		if freeErr == nil {
			freeErr = unlock()
		}
	})
	queued(t, s, 2)
	s.file.mu.Unlock()
	wg.Wait()
	var le *LockedError
	if !errors.As(heldErr, &le) || le.Holder.Operator != "alice" {
		t.Fatalf("lock on a held key: %v, want alice's LockedError", heldErr)
	}
	if freeErr != nil {
		t.Fatalf("lock on a free key in the same batch: %v", freeErr)
	}
}
