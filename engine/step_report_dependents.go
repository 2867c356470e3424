package engine

import (
	"context"
	"fmt"
)

// runReportDependents (step report-dependents) lists the running
// dependents a restart without --cascade left as they were.
//
// It runs after a failed restart too (Execute's finish), once
// find-dependents has run: the dependents were left as they were all the
// same. With --cascade, which restarts the plan's dependents, it lists only
// those that lost the service for the restart, it being the last healthy
// instance on a role they need (find-dependents).
func runReportDependents(_ context.Context, r *execution, _ stepCall) (string, error) {
	if !r.plan.Request.Cascade {
		for _, d := range r.plan.Dependents {
			if r.running[d] {
				r.out.NotRestarted = append(r.out.NotRestarted, d)
			}
		}
	}
	r.out.NotRestarted = append(r.out.NotRestarted, r.losesLast...)
	return fmt.Sprintf("%d running dependents not restarted", len(r.out.NotRestarted)), nil
}
