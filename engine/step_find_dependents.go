package engine

import (
	"context"
	"fmt"
	"strings"
)

// runFindDependents (step find-dependents) notes which dependents run,
// before a restart changes anything, for report-dependents and the
// cascade, and which running services need the service on a role and lose
// it for the restart, the target being the last running and healthy
// instance there (lastOnRole). A dependent whose state cannot be read (its host unreachable,
// its status command failing) is not taken for stopped: a restart without
// --cascade names it (Outcome.Unchecked); with --cascade, which promises
// to restart every running dependent after the target, the run ends here,
// before anything changes (as a stop --cascade does when it cannot reach
// a dependent it must stop first), with the first such error: a host
// unreachable is exit 4.
func runFindDependents(ctx context.Context, r *execution, _ stepCall) (string, error) {
	r.running = map[Instance]bool{}
	var names, unknown []string
	var firstErr error
	for _, d := range r.plan.Dependents {
		st, err := r.status(ctx, d)
		switch {
		case err != nil:
			r.out.Unchecked = append(r.out.Unchecked, d)
			r.out.UncheckedErrs = append(r.out.UncheckedErrs, err)
			unknown = append(unknown, d.String())
			if firstErr == nil {
				firstErr = fmt.Errorf("could not check the dependent %s: %w", d, err)
			}
		case st.Running:
			r.running[d] = true
			names = append(names, d.String())
		}
	}
	// The services that need it on a role it is on and lose it for the
	// restart, this being the last running and healthy instance there
	// (as a stop's confirm step finds them): they are named too.
	if r.plan.Request.Action == "restart" {
		for _, d := range r.lastOnRole(ctx) {
			if st, err := r.status(ctx, d); err == nil && st.Running {
				r.losesLast = append(r.losesLast, d)
				names = append(names, d.String())
			}
		}
	}
	note := "running: " + orNone(names)
	if len(unknown) > 0 {
		note += "; could not check: " + strings.Join(unknown, ", ")
		if r.plan.Request.Cascade {
			return note, fmt.Errorf("%w; %s was not restarted (--cascade restarts its running dependents after it)", firstErr, r.target.Service)
		}
	}
	return note, nil
}
