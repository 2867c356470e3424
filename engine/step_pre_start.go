package engine

import "context"

// runPreStart (step pre-start) runs the service's pre_start hooks, once
// its dependencies run, before it is started; a failed one (on_failure:
// abort, the default) fails the start with the service left stopped.
func runPreStart(ctx context.Context, r *execution, c stepCall) (string, error) {
	return runHookStep(ctx, r, c, "")
}
