package engine

import (
	"context"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
)

// runHealth (step health) runs the instance's health checks, with
// retries, and its requirements' health; a service this run started that
// fails them carries its log tail. A failed optional reach check leaves
// the step passed, its result saying "degraded: why". The first process check uses the state
// the restart script read right after the start (restart_fused.go).
func runHealth(ctx context.Context, r *execution, c stepCall) (string, error) {
	var seen manager.State
	report, err := r.check.Check(ctx, c.inst, startedState(c.known, c.inst), &seen)
	if err != nil {
		return "", err
	}
	if c.isTarget {
		r.out.Health = &report
	}
	if !report.Passed() {
		var err error = &HealthError{Report: report}
		if r.started[c.inst] {
			err = healthTail(report, r.withTail(c.inst, c.mgr, c.conn, err))
		}
		return "", err
	}
	if seen.Running {
		r.fresh = &freshState{inst: c.inst, state: seen}
	}
	if d := report.Degraded(); d != "" {
		return "passed; degraded: " + d, nil
	}
	return "passed", nil
}

// runHealthSeen runs a service's own health checks on a host. When the
// caller has just read the state (known), the process check's first
// attempt uses it instead of asking the host again; seen (when not nil)
// keeps the last state the process check read.
func runHealthSeen(ctx context.Context, spec inventory.Health, h *inventory.Host, m manager.Manager, conn Conn, known, seen *manager.State) health.Report {
	return health.Run(ctx, health.Target{
		Spec:    spec,
		Address: h.ServiceAddress,
		Dialer:  conn,
		Process: func(ctx context.Context) (bool, string, error) {
			ctx = ownBound(ctx) // the check's timeout bounds each attempt
			if known != nil {
				st := *known
				known = nil
				if seen != nil {
					*seen = st
				}
				return st.Running, st.Status, nil
			}
			st, err := m.Status(ctx, conn)
			if err == nil && seen != nil {
				*seen = st
			}
			return st.Running, st.Status, err
		},
	})
}
