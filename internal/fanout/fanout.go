// Package fanout is omni's one way to do work on many items at once: at
// most a limit at a time (golang.org/x/sync/errgroup with SetLimit), in
// order, with an optional check before each item starts that can end the
// fan-out there.
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
	var g errgroup.Group
	if limit > 0 {
		g.SetLimit(limit)
	}
	var (
		mu      sync.Mutex
		turn    = sync.NewCond(&mu)
		next    int  // the item whose turn it is to be asked
		stopped bool // an item was refused: no later one runs
	)
	for i := range n {
		mu.Lock()
		done := stopped
		mu.Unlock()
		if done {
			break
		}
		g.Go(func() error { // blocks until a slot is free
			mu.Lock()
			for next != i {
				turn.Wait()
			}
			ok := !stopped && (start == nil || start(i))
			stopped = !ok
			next++
			turn.Broadcast()
			mu.Unlock()
			if ok {
				run(i)
			}
			return nil
		})
	}
	_ = g.Wait()
}
