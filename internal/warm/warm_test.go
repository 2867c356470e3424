package warm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGoRunsEachOnce: every function runs once, concurrently with the
// others (none waits for another to finish).
func TestGoRunsEachOnce(t *testing.T) {
	p := New()
	defer p.Close()
	const n = 50
	var ran atomic.Int32
	release := make(chan struct{})
	var started, done sync.WaitGroup
	started.Add(n)
	done.Add(n)
	for range n {
		p.Go(func() {
			started.Done()
			<-release // all n run at once, or this never returns
			ran.Add(1)
			done.Done()
		})
	}
	started.Wait()
	close(release)
	done.Wait()
	if got := ran.Load(); got != n {
		t.Fatalf("ran %d functions, want %d", got, n)
	}
}

// TestGoReusesAGoroutine: a function given after another has finished
// runs on the goroutine that ran it, not on a new one; Close ends the
// waiting goroutine.
func TestGoReusesAGoroutine(t *testing.T) {
	p := New()
	first := make(chan struct{})
	p.Go(func() { close(first) })
	<-first
	before := runtime.NumGoroutine()
	ok := make(chan struct{})
	reused := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !reused; {
		select {
		case p.work <- func() { close(ok) }: // only a waiting goroutine takes it
			<-ok
			reused = true
		default:
			time.Sleep(time.Millisecond)
		}
	}
	if !reused {
		t.Fatal("no goroutine waited for a second function")
	}
	if now := runtime.NumGoroutine(); now > before {
		t.Errorf("%d goroutines after the second function, %d before: a new one was started", now, before)
	}
	p.Close()
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() >= before; {
		if time.Now().After(deadline) {
			t.Fatalf("the waiting goroutine did not end after Close (%d goroutines, %d before it)", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
	ran := make(chan struct{})
	p.Go(func() { close(ran) })
	<-ran // Go still runs functions after Close
}
