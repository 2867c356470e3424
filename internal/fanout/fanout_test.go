package fanout

import (
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestEachRespectsTheLimit: never more than limit at once, every item once.
func TestEachRespectsTheLimit(t *testing.T) {
	var active, peak atomic.Int32
	seen := make([]atomic.Int32, 40)
	Each(len(seen), 3, func(i int) {
		n := active.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		seen[i].Add(1)
		active.Add(-1)
	})
	if p := peak.Load(); p != 3 {
		t.Errorf("peak %d at once, want 3", p)
	}
	for i := range seen {
		if n := seen[i].Load(); n != 1 {
			t.Errorf("item %d ran %d times", i, n)
		}
	}
}

// TestEachWithoutLimit: limit 0 runs everything at once.
func TestEachWithoutLimit(t *testing.T) {
	var wg sync.WaitGroup
	wg.Add(10)
	Each(10, 0, func(int) {
		wg.Done()
		wg.Wait() // returns only once all ten run at the same time
	})
}

// TestUntilAsksInOrderAfterASlot: with one slot, item i is asked only
// after item i-1 finished, so a failure stops the next item.
func TestUntilAsksInOrderAfterASlot(t *testing.T) {
	var mu sync.Mutex
	var asked, ran []int
	failed := false
	Until(10, 1, func(i int) bool {
		asked = append(asked, i)
		return !failed
	}, func(i int) {
		mu.Lock()
		defer mu.Unlock()
		ran = append(ran, i)
		failed = i == 3
	})
	if want := []int{0, 1, 2, 3}; !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}
	if want := []int{0, 1, 2, 3, 4}; !slices.Equal(asked, want) {
		t.Errorf("asked %v, want %v (once each, in order, the refused one last)", asked, want)
	}
}

// TestUntilInOrderWithManySlots: the gate is asked in item order even
// when many start at once.
func TestUntilInOrderWithManySlots(t *testing.T) {
	var asked []int
	Until(200, 16, func(i int) bool {
		asked = append(asked, i)
		return i < 150
	}, func(int) {})
	if len(asked) != 151 || !slices.IsSorted(asked) {
		t.Errorf("asked %d items (want 151), sorted %v", len(asked), slices.IsSorted(asked))
	}
}

// TestEachRunsItemsOnSlots: the items run on at most limit goroutines,
// each running items one after another, rather than on a goroutine per
// item: a host's run grows its goroutine's stack, and a slot's grows once
// (see package warm).
func TestEachRunsItemsOnSlots(t *testing.T) {
	created := func() uint64 {
		s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			t.Fatal("this Go has no /sched/goroutines-created metric")
		}
		return s[0].Value.Uint64()
	}
	const n, limit = 1000, 4
	var ran atomic.Int32
	before := created()
	Each(n, limit, func(int) { ran.Add(1) })
	after := created()
	if ran.Load() != n {
		t.Fatalf("ran %d items, want %d", ran.Load(), n)
	}
	// A few more than limit: the runtime may start goroutines of its own.
	if got := after - before; got > limit+20 {
		t.Errorf("%d goroutines were started for %d items at most %d at a time, want about %d", got, n, limit, limit)
	}
}
