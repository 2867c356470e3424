// Package gcfloor lets omni's heap grow to a floor before the garbage
// collector runs, and leaves Go's default collector in charge above it.
//
// With Go's default (GOGC=100) the collector runs each time the heap has
// grown by as much as the live heap: a status of 1,000 hosts, whose live
// heap is 6–8 MB and which allocates about 120 MB, collected some 19
// times, about 5% of its CPU (docs/benchmarks.md, "Status of 1,000
// hosts"). Below the floor omni instead sets GOGC=off with a soft memory
// limit of the floor: the collector runs only when the process's Go memory
// reaches it, a few times per such run. Go's default lets the heap grow by
// what the last collection found to scan (the live heap, the goroutines'
// stacks, the globals) before the next one; once that is above half the
// floor, the floor would leave less room than the default, and Go's
// default (GOGC=100, no limit) is restored for the rest of the process. So
// a large live heap, or many deep goroutine stacks, are collected as
// before: memory stays below max(floor, Go's default) and the collector
// does not run much more often than with the default.
package gcfloor

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// Floor is the Go memory omni lets grow before its first collection
// (omni.go): with it a status of 1,000 hosts peaks at about 60 MiB RSS.
const Floor = 48 << 20

// scanned are what the last collection found to scan, which Go's default
// adds to the live heap for the next collection's goal.
var scanned = []string{"/gc/heap/live:bytes", "/gc/scan/stack:bytes", "/gc/scan/globals:bytes"}

// Start sets the floor, unless GOGC or GOMEMLIMIT is set in the
// environment (which then decide, as Go documents). It returns whether it
// did. The default is restored by itself, as the package says.
func Start(floor int64) bool {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return false
	}
	c := &controller{floor: floor}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(floor)
	c.arm()
	return true
}

type controller struct {
	floor    int64
	restored atomic.Bool
}

// sentinel is garbage as soon as it is made: its finalizer runs after the
// next collection, and arms the next one while the floor holds.
type sentinel struct{ _ *int }

func (c *controller) arm() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		if c.check() {
			c.arm()
		}
	})
}

// check restores Go's default once what the last collection scanned is
// above half the floor, and reports whether the floor still holds.
func (c *controller) check() bool {
	s := make([]metrics.Sample, len(scanned))
	for i, name := range scanned {
		s[i].Name = name
	}
	metrics.Read(s)
	var total uint64
	known := true
	for _, m := range s {
		known = known && m.Value.Kind() == metrics.KindUint64
		if known {
			total += m.Value.Uint64()
		}
	}
	if known && total <= uint64(c.floor/2) {
		return true
	}
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	c.restored.Store(true)
	return false
}
