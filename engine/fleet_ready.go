package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/registry"
)

// readyPolls is how many times the min-ready watch looks in its window, at
// most once a second and at least every 100 ms.
const readyPolls = 5

// watchReady watches a host that just passed its health checks for
// MinReady: it fails when the service stops, its main PID changes or its
// manager restarted it (systemd's NRestarts), the signs of a crash loop, or
// when a health check fails. It returns a note for the report, and the
// last state it read (nil when it read none), which is the host's state at
// the end of its part of the run.
//
// The watch is part of the host's work: a first interrupt (which touches
// no new host) lets it finish, as the steps in flight do. A second one
// (ctx) cuts it short, and the host is interrupted, not done: --resume
// does it again, since nothing says it stayed up.
func (r *fleetRunner) watchReady(ctx context.Context, t Target, out *Outcome) (string, *InstanceStatus, error) {
	base := out.State
	window := r.Opts.MinReady
	every := min(max(window/readyPolls, 100*time.Millisecond), time.Second)
	began := r.Now()
	deadline := began.Add(window)
	inst := t.Instance()
	var last *InstanceStatus
	for {
		wait := min(every, deadline.Sub(r.Now()))
		if wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return "", last, interruptedWatch(r.Now().Sub(began), window, ctx.Err())
			}
		}
		st := r.Status(ctx, []Instance{inst})[0]
		if ctx.Err() != nil {
			return "", last, interruptedWatch(r.Now().Sub(began), window, ctx.Err())
		}
		last = &st
		if err := readyFailure(base, st, window); err != nil {
			r.recordFailure(st, err)
			return "", last, err
		}
		if !r.Now().Before(deadline) {
			return fmt.Sprintf("stayed healthy for --min-ready %s", window), last, nil
		}
	}
}

// interruptedWatch is the error of a min-ready watch cut short.
func interruptedWatch(watched, window time.Duration, err error) error {
	return fmt.Errorf("--min-ready: watched %s of %s, then interrupted: %w", watched.Round(time.Millisecond), window, err)
}

// observed makes out, the host's outcome as its plan left it, say what
// the min-ready watch last read: the state, PID, uptime and health as they
// are at the end, not as they were when the plan's record step read them
// (an uptime of 0 s, or "running" for a service that crashed since). A
// state that could not be read is "unknown", not the plan's.
func observed(out *Outcome, st InstanceStatus) {
	if st.Err != nil {
		out.State, out.Uptime, out.Health = manager.State{Status: "unknown"}, 0, nil
		return
	}
	out.State, out.Uptime, out.Health = st.State, st.Uptime, st.Health
	if !st.State.Running {
		out.Uptime, out.LastActive = 0, st.State.LastActive
	}
}

// readyFailure says why a host is not ready after all (a *MinReadyError),
// or nil.
func readyFailure(base manager.State, st InstanceStatus, window time.Duration) error {
	e := &MinReadyError{Window: window}
	switch {
	case st.Err != nil:
		e.Reason, e.Err = MinReadyUnreadable, st.Err
	case !st.State.Running:
		e.Reason, e.Status = MinReadyStopped, st.State.Status
	case base.PID != 0 && st.State.PID != 0 && st.State.PID != base.PID:
		e.Reason, e.FromPID, e.ToPID = MinReadyPIDChanged, base.PID, st.State.PID
	case st.State.NRestarts > base.NRestarts:
		e.Reason, e.Restarts = MinReadyRestarted, st.State.NRestarts-base.NRestarts
	case st.Health != nil && !st.Health.Passed():
		e.Reason, e.Health = MinReadyUnhealthy, st.Health.Failure()
	default:
		return nil
	}
	return e
}

// MinReadyError is a host that did not stay ready for --min-ready after
// its plan passed: the watch could not read its state, saw the signs of a
// crash loop, or a health check failed. Its text starts "min-ready: ".
type MinReadyError struct {
	Window time.Duration // --min-ready
	Reason MinReadyReason
	Status string // MinReadyStopped: the state the service was found in
	// MinReadyPIDChanged: the main PID after the plan, and the one seen.
	FromPID, ToPID int
	Restarts       int    // MinReadyRestarted: how many times its manager restarted it
	Health         string // MinReadyUnhealthy: the failed check
	Err            error  // MinReadyUnreadable: why the state could not be read
}

// MinReadyReason says why a host failed its min-ready watch.
type MinReadyReason string

// The reasons of a MinReadyError.
const (
	MinReadyUnreadable MinReadyReason = "unreadable"  // its state could not be read
	MinReadyStopped    MinReadyReason = "stopped"     // crash loop: it is not running
	MinReadyPIDChanged MinReadyReason = "pid-changed" // crash loop: its main PID changed
	MinReadyRestarted  MinReadyReason = "restarted"   // crash loop: its manager restarted it
	MinReadyUnhealthy  MinReadyReason = "unhealthy"   // a health check failed
)

func (e *MinReadyError) Error() string {
	switch e.Reason {
	case MinReadyUnreadable:
		return fmt.Sprintf("min-ready: could not read its state: %v", e.Err)
	case MinReadyStopped:
		return fmt.Sprintf("min-ready: crash loop: %s within --min-ready %s of its restart", e.Status, e.Window)
	case MinReadyPIDChanged:
		return fmt.Sprintf("min-ready: crash loop: its PID changed from %d to %d within --min-ready %s", e.FromPID, e.ToPID, e.Window)
	case MinReadyRestarted:
		return fmt.Sprintf("min-ready: crash loop: its manager restarted it %d times within --min-ready %s", e.Restarts, e.Window)
	case MinReadyUnhealthy:
		return fmt.Sprintf("min-ready: health check failed within --min-ready %s: %s", e.Window, e.Health)
	}
	return fmt.Sprintf("min-ready: not ready within --min-ready %s", e.Window)
}

// Unwrap is why the state could not be read (nil for the other reasons).
func (e *MinReadyError) Unwrap() error { return e.Err }

// recordFailure writes what the watch saw to the registry: the plan had
// recorded the service running and healthy.
func (r *fleetRunner) recordFailure(st InstanceStatus, why error) {
	if r.Registry == nil || st.Err != nil {
		return
	}
	now := r.Now().UTC()
	// Only the state fields: the drain mark and the applied configuration stay.
	_, _ = r.Registry.Update(st.Host, st.Service, func(rec *registry.Record, _ bool) error {
		rec.State, rec.Health, rec.UpdatedAt = st.State.Status, "failed: "+why.Error(), now
		if st.State.Running {
			rec.LastActive = now
			if !st.State.Since.IsZero() {
				rec.Since = st.State.Since.UTC()
			}
		}
		return nil
	})
}
