package engine

import "context"

// runPostStart (step post-start) runs the service's post_start hooks
// once its health checks passed (OMNI_RESULT=healthy; started when the
// playbook has no health step); a failed one (on_failure: abort, the
// default) counts as a failed health check.
func runPostStart(ctx context.Context, r *execution, c stepCall) (string, error) {
	return runHookStep(ctx, r, c, r.startResult(c.inst))
}
