package engine

import (
	"context"
	"fmt"
)

// runReportDependents (step report-dependents) lists the running
// dependents a restart without --cascade left as they were.
func runReportDependents(_ context.Context, r *execution, _ stepCall) (string, error) {
	for _, d := range r.plan.Dependents {
		if r.running[d] {
			r.out.NotRestarted = append(r.out.NotRestarted, d)
		}
	}
	return fmt.Sprintf("%d running dependents not restarted", len(r.out.NotRestarted)), nil
}
