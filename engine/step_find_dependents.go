package engine

import (
	"context"
)

// runFindDependents (step find-dependents) notes which dependents run,
// before a restart changes anything, for report-dependents.
func runFindDependents(ctx context.Context, r *execution, _ stepCall) (string, error) {
	r.running = map[Instance]bool{}
	var names []string
	for _, d := range r.plan.Dependents {
		if st, err := r.status(ctx, d); err == nil && st.Running {
			r.running[d] = true
			names = append(names, d.String())
		}
	}
	return "running: " + orNone(names), nil
}
