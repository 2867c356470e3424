package engine

import (
	"context"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
)

// countingMgr is a manager whose Status says running, after delay, and
// counts its reads.
type countingMgr struct {
	manager.Manager
	delay time.Duration
	reads int
}

func (m *countingMgr) Status(ctx context.Context, _ manager.Runner) (manager.State, error) {
	m.reads++
	select {
	case <-time.After(m.delay):
		return manager.State{Running: true, Status: "running"}, nil
	case <-ctx.Done():
		return manager.State{}, ctx.Err()
	}
}

// TestProcessCheckTakesOnlyAReadInTime: the state its caller read stands
// for the process check's first attempt only when that read took no
// longer than the health timeout; a slower one is read again, bounded by
// the timeout, so that a slow status command fails the check as it does
// on a start (TestHealthOneVerdictOnASlowStatusCommand, over SSH).
func TestProcessCheckTakesOnlyAReadInTime(t *testing.T) {
	spec := inventory.Health{Process: true, Timeout: 100 * time.Millisecond}
	h := &inventory.Host{Name: "web1"}
	for _, c := range []struct {
		took, delay time.Duration
		reads       int
		passed      bool
	}{
		{took: 20 * time.Millisecond, delay: time.Hour, reads: 0, passed: true}, // taken as it is
		{took: 100 * time.Millisecond, delay: time.Hour, reads: 0, passed: true},
		{took: 1500 * time.Millisecond, delay: time.Hour, reads: 1, passed: false},       // read again: times out
		{took: 1500 * time.Millisecond, delay: time.Millisecond, reads: 1, passed: true}, // read again: in time
	} {
		m := &countingMgr{delay: c.delay}
		known := manager.State{Running: true, Status: "running", Took: c.took}
		rep := runHealthSeen(context.Background(), spec, h, m, nil, &known, nil, nil, false)
		if m.reads != c.reads || rep.Passed() != c.passed {
			t.Errorf("known state read in %s, a new read taking %s: %d reads, passed %v (%s); want %d, %v",
				c.took, c.delay, m.reads, rep.Passed(), rep.Failure(), c.reads, c.passed)
		}
		if !c.passed && rep.Failure() != "process: timed out after 100ms" {
			t.Errorf("failure %q", rep.Failure())
		}
	}
}
