package engine

import (
	"context"
	"strings"
	"time"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/warm"
	"github.com/omni-fleet/omni/inventory"
)

// runHealth (step health) runs the instance's health checks, with
// retries, and its requirements' health; a service this run started that
// fails them carries its log tail. A failed optional reach check leaves
// the step passed, its result saying "degraded: why". The first process check uses the state
// the restart script read right after the start (restart_fused.go).
func runHealth(ctx context.Context, r *execution, c stepCall) (string, error) {
	var seen manager.State
	if c.isTarget && !r.env.Watched && r.lastOnHost(c.inst.Host) && len(r.deps.needs(c.inst)) == 0 {
		ctx = context.WithValue(ctx, processPassedKey{}, processPassed{host: c.inst.Host, conn: c.conn})
	}
	// When a state read sees it running: its last_active, should it die
	// before the record step (not when the whole check ends).
	ctx = context.WithValue(ctx, sawRunningKey{}, func() { r.sawRunning(c.inst) })
	report, err := r.check.Check(ctx, c.inst, startedState(c.known, c.inst), &seen, r.started[c.inst])
	if err != nil {
		return "", err
	}
	if c.isTarget {
		r.out.Health = &report
	}
	if !report.Passed() {
		var err error = &HealthError{Report: report}
		if r.started[c.inst] {
			err = healthTail(r.diedAfterStart(c.mgr, c.conn, report), r.withTail(c.inst, c.mgr, c.conn, err))
		}
		return "", err
	}
	if seen.Running {
		c.leave(seen)
	}
	if d := report.Degraded(); d != "" {
		c.did(EffectDegraded)
		return "passed; degraded: " + d, nil
	}
	c.did(EffectHealthy)
	return "passed", nil
}

// runHealthSeen runs a service's own health checks on a host. When the
// caller has just read the state (known), the process check's first
// attempt uses it instead of asking the host again; seen (when not nil)
// keeps the last state the process check read; pool (nil: new ones) runs
// the checks' goroutines. finished: the process check is one the
// inventory did not ask for, run to verify a start: it also passes for a
// service that finished its work successfully (State.Finished: a systemd
// oneshot unit that ran), and waits at least the default budget.
func runHealthSeen(ctx context.Context, spec inventory.Health, h *inventory.Host, m manager.Manager, conn Conn, known, seen *manager.State, pool *warm.Pool, finished bool) health.Report {
	up := func(st manager.State) bool { return st.Running || (finished && st.Finished) }
	var processMin time.Duration
	if finished { // a check of its start the inventory did not ask for
		processMin = time.Duration(inventory.DefaultHealthRetries) * inventory.DefaultHealthInterval
	}
	return health.Run(ctx, health.Target{
		Spec:       spec,
		Address:    h.ServiceAddress,
		Dialer:     conn,
		Warm:       pool,
		ProcessMin: processMin,
		Process: func(ctx context.Context) (bool, string, error) {
			ctx = ownBound(ctx) // the check's timeout bounds each attempt
			if known != nil && !inTime(*known, spec) {
				known = nil // too slow to stand for an attempt: ask again, bounded
			}
			if known != nil {
				st := *known
				known = nil
				if seen != nil {
					*seen = st
				}
				shellDone(ctx, h, up(st))
				return up(st), st.Status, nil
			}
			st, err := m.Status(ctx, conn)
			if err == nil && seen != nil {
				*seen = st
			}
			if saw, ok := ctx.Value(sawRunningKey{}).(func()); ok && err == nil && st.Running {
				saw()
			}
			shellDone(ctx, h, err == nil && up(st))
			return up(st), st.Status, err
		},
	})
}

// inTime reports whether st was read within spec's timeout, as a process
// check's attempt must be: a state read the caller made bounded by
// command_timeout (a status's, a dependency's, the restart script's) and
// slower than that is not taken for the attempt, so that a slow status
// command fails the process check everywhere, as it does on a start.
func inTime(st manager.State, spec inventory.Health) bool {
	return st.Took <= spec.Timeout
}

// sawRunningKey, in a health step's context, holds what to call when a
// process check reads the state and finds it running (see sawRunning).
type sawRunningKey struct{}

// shellEnder is a Conn whose long-lived remote shell can be ended ahead of
// the connection's release (transport.Client.EndShellAhead).
type shellEnder interface{ EndShellAhead() }

// processPassed, in the context of a health step, asks for the host's
// remote shell to be ended as soon as its process check has passed: that
// check is the only one that runs commands there (port and HTTP go
// through channels of their own), and a check that has passed is not run
// again. The shell's end then rides along with the port and HTTP checks
// still in flight, instead of costing a round trip of its own when the
// connection is let go, after the run (for the last host of a fleet run,
// on the run's critical path). The health step asks for it only when
// nothing after it runs a command on the host (the target's record step,
// which writes the state the check read, is all that is left; no
// --min-ready watch follows the plan: Env.Watched) and the service
// requires no other (whose checks might run on the same host). A
// failure's log tail starts a new shell.
type processPassed struct {
	host string
	conn Conn
}

type processPassedKey struct{}

// shellDone ends h's shell ahead when the context asks for it (see
// processPassed) and the process check passed.
func shellDone(ctx context.Context, h *inventory.Host, passed bool) {
	p, ok := ctx.Value(processPassedKey{}).(processPassed)
	if !ok || !passed || p.host != h.Name {
		return
	}
	if e, ok := unwrapConn(p.conn).(shellEnder); ok {
		e.EndShellAhead()
	}
}

// lastOnHost reports whether the tasks after the one running now run no
// command on host: only the target's record step, which writes the state
// the health step read, is left.
func (r *execution) lastOnHost(host string) bool {
	for _, t := range r.rest {
		if t.Step != StepRecord || r.instance(t) != r.target {
			return false
		}
	}
	return host == r.target.Host
}

// describeHealthStep: the checks bound themselves; a playbook may cap them.
func describeHealthStep(d describing) string {
	detail := describeHealth(d.svc.Health)
	if len(d.svc.Requires) > 0 {
		detail += "; its requirements running and healthy: " + strings.Join(d.svc.Requires, ", ")
		if reach := describeReach(d.inv, d.host.Name, d.svc); reach != "" {
			detail += "; " + reach
		}
	}
	return detail
}
