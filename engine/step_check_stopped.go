package engine

import (
	"context"
	"errors"
	"strings"
)

// runCheckStopped (step check-stopped) verifies a service to start is
// stopped; one that already runs ends the run with nothing to do. When an
// earlier run left its HAProxy server draining (a stop keeps it so until
// the next start) and the service came back by other means, the start
// still does what it promised of the drain: once the service passes its
// health checks, its server is set ready and the mark cleared.
func runCheckStopped(ctx context.Context, r *execution, c stepCall) (string, error) {
	st, err := c.mgr.Status(ctx, c.conn)
	if err != nil {
		return "", err
	}
	if !st.Running {
		return st.Status, nil
	}
	r.out.Unchanged = "already running"
	if !c.isTarget || !r.drainLeftOn(c.inst) {
		if h := r.lastHealthFailed(c.inst); c.isTarget && h != "" {
			// Nothing to do all the same (a start does not restart a
			// running service), but not said as if it were healthy.
			return "already running", &stepWarning{msg: "it runs, but its last recorded health check " + h +
				" (restart it to check it again)", then: errNothingToDo}
		}
		return "already running", errNothingToDo
	}
	report, err := r.check.Check(ctx, c.inst, &st, nil, false)
	if err != nil {
		return "", err
	}
	if !report.Passed() {
		return "already running, failing its health checks: its server kept draining", errNothingToDo
	}
	note, err := runUndrain(ctx, r, c)
	var warned *stepWarning
	if errors.As(err, &warned) {
		return "already running, healthy; " + note, &stepWarning{msg: warned.msg, then: errNothingToDo}
	}
	if err != nil {
		return "", err
	}
	return "already running, healthy; " + note, errNothingToDo
}

// lastHealthFailed is the registry's health of an instance when its last
// recorded check failed ("failed: why"), else "".
func (r *execution) lastHealthFailed(inst Instance) string {
	if r.env.Registry == nil {
		return ""
	}
	rec, ok, err := r.env.Registry.Get(inst.Host, inst.Service)
	if err != nil || !ok || !strings.HasPrefix(rec.Health, "failed") {
		return ""
	}
	return rec.Health
}

// drainLeftOn reports whether the instance's service has a drain and the
// registry marks one an earlier run left on.
func (r *execution) drainLeftOn(inst Instance) bool {
	if d, err := r.drainOf(inst); err != nil || d == nil || r.env.Registry == nil {
		return false
	}
	rec, ok, err := r.env.Registry.Get(inst.Host, inst.Service)
	return err == nil && ok && rec.Drained != nil
}

func describeCheckStopped(d describing) string {
	return "verify " + d.svc.Name + " is stopped; if it is running there is nothing to do"
}
