package engine

import "context"

// runPostStop (step post-stop) runs the service's post_stop hooks once
// it is stopped, and also after a failed stop (Execute's finish), with
// OMNI_RESULT stopped or failed; a failed one is a warning unless its
// on_failure says abort.
func runPostStop(ctx context.Context, r *execution, c stepCall) (string, error) {
	return runHookStep(ctx, r, c, r.stopResult(c.inst))
}
