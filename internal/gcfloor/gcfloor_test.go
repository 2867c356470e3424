package gcfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// settings returns the GC percentage and memory limit in force.
func settings() (percent int, limit int64) {
	percent = debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	return percent, debug.SetMemoryLimit(-1)
}

func restoreDefaults(t *testing.T) {
	t.Cleanup(func() {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
	})
}

// Below the floor the collector runs only at the limit, and stays so
// across collections of a small live heap.
func TestFloorHoldsForSmallHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	restoreDefaults(t)
	if !Start(256 << 20) {
		t.Fatal("Start did nothing with GOGC and GOMEMLIMIT unset")
	}
	for range 3 {
		runtime.GC()
	}
	time.Sleep(50 * time.Millisecond) // let the finalizers run
	if p, l := settings(); p != -1 || l != 256<<20 {
		t.Fatalf("after collections of a small heap: GOGC %d, limit %d; want off and %d", p, l, 256<<20)
	}
}

// A live heap above half the floor brings Go's default back.
func TestDefaultRestoredForLargeHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	restoreDefaults(t)
	const floor = 16 << 20
	if !Start(floor) {
		t.Fatal("Start did nothing")
	}
	live := make([]*[1 << 20]byte, 12) // 12 MiB live, above floor/2
	for i := range live {
		live[i] = new([1 << 20]byte)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		if p, l := settings(); p == 100 && l == math.MaxInt64 {
			break
		}
		if time.Now().After(deadline) {
			p, l := settings()
			t.Fatalf("live heap of 12 MiB, floor 16 MiB: GOGC %d, limit %d; want 100 and no limit", p, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(live)
}

// GOGC or GOMEMLIMIT set by the user decide: Start changes nothing.
func TestEnvironmentDecides(t *testing.T) {
	restoreDefaults(t)
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("GOGC", "")
			t.Setenv("GOMEMLIMIT", "")
			t.Setenv(env, "200")
			if Start(64 << 20) {
				t.Fatalf("Start set the floor with %s set", env)
			}
			if p, l := settings(); p != 100 || l != math.MaxInt64 {
				t.Fatalf("with %s set: GOGC %d, limit %d; want them untouched", env, p, l)
			}
		})
	}
}

// deep holds about 64 KiB of stack until release is closed.
func deep(depth int, ready chan<- struct{}, release <-chan struct{}) byte {
	var frame [1 << 10]byte
	frame[depth%len(frame)] = byte(depth)
	if depth == 0 {
		ready <- struct{}{}
		<-release
		return frame[0]
	}
	return frame[depth%len(frame)] + deep(depth-1, ready, release)
}

// Many deep goroutine stacks, which Go's default counts in the next
// collection's goal, bring the default back too, though the heap is small.
func TestDefaultRestoredForDeepStacks(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	restoreDefaults(t)
	const floor = 16 << 20
	ready, release := make(chan struct{}), make(chan struct{})
	const goroutines = 200 // 200 x 64 KiB = 12.5 MiB of stacks, above floor/2
	for range goroutines {
		go deep(64, ready, release)
	}
	for range goroutines {
		<-ready
	}
	defer close(release)
	if !Start(floor) {
		t.Fatal("Start did nothing")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		if p, l := settings(); p == 100 && l == math.MaxInt64 {
			return
		}
		if time.Now().After(deadline) {
			p, l := settings()
			t.Fatalf("12.5 MiB of stacks, floor 16 MiB: GOGC %d, limit %d; want 100 and no limit", p, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
