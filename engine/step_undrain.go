package engine

import (
	"context"
	"fmt"

	"github.com/omni-fleet/omni/engine/haproxy"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// runUndrain (step undrain) puts the instance back in its HAProxy backend
// once it is healthy again. After a failed step or an interrupt the end of
// the run (finish) runs it too, when the run drained or read the server,
// or began the start. What it does is undoDrain's rule.
func runUndrain(ctx context.Context, r *execution, c stepCall) (string, error) {
	d, err := r.drainOf(c.inst)
	if err != nil {
		return "", err
	}
	if d == nil {
		return "no drain configured", nil
	}
	healthy, why := r.endsHealthy(ctx, c)
	note, warn, err := r.undoDrain(ctx, c.inst, d, healthy, why)
	if err != nil {
		return "", err
	}
	if warn {
		return "left as it is", &stepWarning{msg: note}
	}
	return note, nil
}

// serverBefore is what a drain read of a server before the run changed
// anything (or, for a start, what the undo finds): HAProxy's admin state
// and the registry's drain mark (omni's own: a run drained it).
type serverBefore struct {
	admin haproxy.Admin
	mark  *registry.Drained
}

// operators reports a server out of its backend by an operator's hand, not
// omni's: in maintenance (omni never sets maint), or draining with no mark
// of omni's.
func (b serverBefore) operators() bool {
	return b.admin.Maint() || (b.admin.Draining() && b.mark == nil)
}

// was says the state of a server an operator set: "was in maintenance".
func (b serverBefore) was() string {
	if b.admin.Maint() {
		return "was in maintenance"
	}
	return "was draining"
}

// left says how undoDrain leaves such a server: "left in maintenance".
func (b serverBefore) left() string {
	if b.admin.Maint() {
		return "left in maintenance"
	}
	return "left draining"
}

// undoDrain is the one rule of the undo, at the end of a start, restart,
// stop or a dependency's start (ensure). It sets the server ready only
// when the service ends the run running and healthy (healthy) and the
// server was ready before the run, or drained by omni (the registry's
// mark): a server an operator had put in maintenance or drain outside
// omni is left as it was. When the service ends the run not running or
// unhealthy (why says how), the server stays drained, and marked, as
// after `service stop`. warn: the server is left out of its backend (or
// in it with the service down) where the run would have put it back: the
// note is said without -v too.
func (r *execution) undoDrain(ctx context.Context, inst Instance, d *inventory.HAProxyDrain, healthy bool, why string) (note string, warn bool, err error) {
	name := serverName(d, inst.Host)
	api := r.haproxyClient(d)
	before, read := r.before[inst]
	if !read {
		// No drain step of this run read it: nothing of this run changed it.
		if rec, ok, err := r.env.Registry.Get(inst.Host, inst.Service); err == nil && ok {
			before.mark = rec.Drained
		}
		admin, err := api.AdminState(ctx, d.Backend, d.ServerFor(inst.Host))
		if err != nil {
			return "", false, fmt.Errorf("reading the state of %s: %w", name, err)
		}
		before.admin = admin
	}
	drainedNow := r.drained[inst]
	switch {
	case !healthy && r.plan.Request.Action == "stop" && inst == r.target && r.stopTookEffect(inst):
		// The stop did what it was asked: the service is down, its
		// server stays out of the backend.
		return name + " kept draining: the service is stopped (its next start sets it ready)", false, nil
	case !healthy && (drainedNow || !before.admin.Ready()):
		state := "draining"
		if before.admin.Maint() {
			state = "in maintenance"
		}
		return fmt.Sprintf("%s kept %s: %s", name, state, why), true, nil
	case !healthy:
		return fmt.Sprintf("%s left ready, as it was before this run, though %s", name, why), true, nil
	case before.operators():
		return fmt.Sprintf("%s %s before this run (not set by omni): %s", name, before.was(), before.left()), true, nil
	case !drainedNow && before.admin.Ready() && before.mark == nil:
		return name + " ready", false, nil // as it was: nothing to undo
	}
	if err := api.SetState(ctx, d.Backend, d.ServerFor(inst.Host), haproxy.Ready); err != nil {
		return "", false, &leftDrainingError{Server: name, Err: err}
	}
	delete(r.drained, inst)
	if err := r.markDrained(inst, nil); err != nil {
		return "", false, fmt.Errorf("%s is ready, but clearing its drain in the registry failed: %w", name, err)
	}
	if r.out.Err != nil || r.ctx.Err() != nil {
		return name + " ready again (the run failed; the service runs)", false, nil
	}
	return name + " ready", false, nil
}

// leftDrainingError is an undo that could not set the server ready: it is
// left out of its backend. After another failure, the undrain step's
// result carries it as a warning too, said without -v (execution.step).
type leftDrainingError struct {
	Server string
	Err    error
}

func (e *leftDrainingError) Error() string {
	return fmt.Sprintf("%s left draining: setting it ready failed: %v", e.Server, e.Err)
}

func (e *leftDrainingError) Unwrap() error { return e.Err }

// endsHealthy says whether the instance ends the run running and healthy,
// from what the run's steps found of it; why, when not, says how it ends.
// In the plan's order (no failure so far) the undrain step comes after the
// health and post-start steps, which passed. After a failure or an
// interrupt (finish), the last step that tells decides; when none does
// (the run failed before it touched the service, or its stop failed), the
// service's state is read: running as before the run counts.
func (r *execution) endsHealthy(ctx context.Context, c stepCall) (bool, string) {
	if r.out.Err == nil && r.ctx.Err() == nil {
		if r.plan.Request.Action == "stop" && r.stopTookEffect(c.inst) {
			return false, "the service is stopped"
		}
		return true, ""
	}
scan:
	for i := len(r.out.Steps) - 1; i >= 0; i-- {
		s := r.out.Steps[i]
		if r.instance(s.Task) != c.inst || s.Status == StepSkipped {
			continue
		}
		failed := s.Status == StepFailed
		switch s.Task.Step {
		case StepPostStart:
			if failed {
				return false, "its post_start failed (a failed health check)"
			}
			return true, ""
		case StepHealth:
			if failed {
				return false, "it failed its health check"
			}
			return true, ""
		case StepStart:
			if failed {
				return false, "its start failed"
			}
			return false, "its health was not checked (the run ended before)"
		case StepPreStart:
			if failed {
				return false, "its pre_start failed: it was not started"
			}
		case StepPostStop:
			if failed {
				return false, "it is stopped (its post_stop failed)"
			}
		case StepStop, StepVerifyStopped:
			if !failed {
				return false, "the service is stopped"
			}
			break scan // a failed stop: what it left is read below
		}
	}
	st, err := c.mgr.Status(ctx, c.conn)
	switch {
	case err != nil:
		return false, "its state could not be read: " + err.Error()
	case !st.Running:
		return false, "the service is not running (" + st.Status + ")"
	}
	return true, ""
}

// stopTookEffect reports whether the instance's last stop (and its
// verify-stopped) step of this run succeeded: the service is down.
func (r *execution) stopTookEffect(inst Instance) bool {
	for i := len(r.out.Steps) - 1; i >= 0; i-- {
		s := r.out.Steps[i]
		if r.instance(s.Task) == inst && (s.Task.Step == StepStop || s.Task.Step == StepVerifyStopped) {
			return s.Status == StepOK
		}
	}
	return false
}
