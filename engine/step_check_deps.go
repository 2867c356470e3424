package engine

import (
	"context"
	"fmt"
	"strings"
)

// runCheckDeps (step check-deps) verifies, for --no-deps, every dependency runs and is healthy, and
// lists all that do not.
//
// On a dependent a restart --cascade will restart (Task.Dependent), it
// checks that dependent's requirements outside the cascade (the target and
// the dependents it restarts are left out: they are restarted).
func runCheckDeps(ctx context.Context, r *execution, c stepCall) (string, error) {
	var down []string
	for _, it := range r.deps.ensureClosure(c.inst) {
		if it.group != "" && it.group != it.need.String() {
			continue // a role fallback's own needs: not required as such
		}
		if c.task.Dependent != nil && r.deps.cascadeMeets(r.target, r.plan.Dependents, it.need) {
			continue // restarted by the cascade
		}
		if it.need.role != "" {
			switch read := r.check.healthyOnRole(ctx, it.need.String()); {
			case read.ok():
			case len(read.unread) > 0:
				down = append(down, it.need.String()+" (no healthy instance; could not be read: "+read.unreadable()+")")
			default:
				down = append(down, it.need.String()+" (no healthy instance)")
			}
			continue
		}
		found, err := r.check.runningAndHealthy(ctx, it.need.inst)
		if err != nil {
			return "", fmt.Errorf("%s: %w", it.need, err)
		}
		if !found.healthy() {
			down = append(down, fmt.Sprintf("%s (%s)", it.need, found.why))
		}
	}
	if len(down) > 0 {
		return "", fmt.Errorf("required services are not running and healthy: %s; start them first, or run without --no-deps", strings.Join(down, ", "))
	}
	return "satisfied", nil
}
