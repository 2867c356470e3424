// Package fanout is omni's one way to do work on many items at once: at
// most a limit at a time (that many goroutines of golang.org/x/sync's
// errgroup, each running items one after another), in order, with an
// optional check before each item starts that can end the fan-out there.
package fanout

import (
	"sync"

	"golang.org/x/sync/errgroup"
)

// Each calls run(i) for every i in [0, n), at most limit at a time (limit
// < 1: all at once), starting them in order, and returns once every call
// has returned.
func Each(n, limit int, run func(i int)) {
	Until(n, limit, nil, run)
}

// Until is Each with a gate: once item i has a slot, and before it runs,
// start(i) is asked whether it may; false ends the fan-out there (no item
// from i on runs; those running finish). The calls to start are made one
// at a time, in order, each once the items before it have been started or
// refused, so start may count what has finished so far and say why it
// stops (once). A nil start lets every item run.
func Until(n, limit int, start func(i int) bool, run func(i int)) {
	slots := n
	if limit > 0 && limit < n {
		slots = limit
	}
	var (
		mu      sync.Mutex
		next    int  // the next item to be asked
		stopped bool // an item was refused: no later one runs
	)
	// take hands out the next item that may run, in order, one caller at
	// a time; false when there is none (all taken, or one refused).
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if stopped || next >= n {
			return 0, false
		}
		i := next
		next++
		if start != nil && !start(i) {
			stopped = true
			return 0, false
		}
		return i, true
	}
	// A slot is a goroutine that runs items one after another until none
	// is left, rather than a goroutine per item: a host's run grows its
	// goroutine's stack (see package warm), and a slot's grows once.
	var g errgroup.Group
	for range slots {
		g.Go(func() error {
			for {
				i, ok := take()
				if !ok {
					return nil
				}
				run(i)
			}
		})
	}
	_ = g.Wait()
}
