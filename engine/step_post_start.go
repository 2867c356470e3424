package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/omni-fleet/omni/engine/health"
)

// runPostStart (step post-start) runs the service's post_start hooks
// once its health checks passed (OMNI_RESULT=healthy; started when the
// playbook has no health step); a failed one (on_failure: abort, the
// default) counts as a failed health check: the target's health report
// gets a failed check naming the hook, so that the status block, -o json
// and the registry's record say the health failed, not passed.
func runPostStart(ctx context.Context, r *execution, c stepCall) (string, error) {
	note, err := runHookStep(ctx, r, c, r.startResult(c.inst))
	var warned *stepWarning
	if err != nil && !errors.As(err, &warned) && c.isTarget {
		r.out.Health = withFailedPostStart(r.out.Health, err)
	}
	return note, err
}

// withFailedPostStart is the health report rep (nil when no health step
// ran) with the failed post_start hook's check added.
func withFailedPostStart(rep *health.Report, err error) *health.Report {
	out := &health.Report{}
	if rep != nil {
		out.Checks = append(out.Checks, rep.Checks...)
	}
	check, why := "post_start", err.Error()
	var herr *HookError
	if errors.As(err, &herr) {
		check = fmt.Sprintf("post_start hook %d", herr.Index)
		why = strings.TrimSuffix(strings.TrimPrefix(herr.Error(), check+" "), " "+postStartCounts)
	}
	out.Checks = append(out.Checks, health.Result{Check: check, Passed: false, Attempts: 1, Error: why})
	return out
}
