// Package gcfloor lets omni's heap grow to a floor before the garbage
// collector runs, and leaves Go's default collector in charge above it.
//
// With Go's default (GOGC=100) the collector runs each time the heap has
// grown by as much as the live heap: a status of 1,000 hosts, whose live
// heap is 6–8 MB and which allocates about 120 MB, collected some 19
// times, about 5% of its CPU (docs/benchmarks.md, "Status of 1,000
// hosts"). Below the floor omni instead sets GOGC=off with a soft memory
// limit of the floor: the collector runs only when the process's Go memory
// reaches it, a few times per such run. Once a collection leaves a live
// heap above half the floor, Go's default (GOGC=100, no limit) is restored
// for the rest of the process, so a large live heap is collected as
// before: memory stays below max(floor, Go's default) and the collector
// never runs more often than with the default.
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

// liveMetric is the heap the last collection left marked live.
const liveMetric = "/gc/heap/live:bytes"

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

// check restores Go's default once the live heap is above half the floor,
// and reports whether the floor still holds.
func (c *controller) check() bool {
	s := []metrics.Sample{{Name: liveMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 && s[0].Value.Uint64() <= uint64(c.floor/2) {
		return true
	}
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	c.restored.Store(true)
	return false
}
