package engine

import "context"

// runPreStop (step pre-stop) runs the service's pre_stop hooks, before
// anything of the stop changed; a failed one (on_failure: abort, the
// default) vetoes the stop. The pre-stop of `service stop` first reads
// whether the target runs: a service at rest has nothing to stop, and its
// hooks do not run.
func runPreStop(ctx context.Context, r *execution, c stepCall) (string, error) {
	if c.isTarget && r.plan.Request.Action == "stop" {
		if st, err := c.mgr.Status(ctx, c.conn); err == nil && atRest(st) {
			r.out.Unchanged = "already stopped"
			return "already stopped: no hooks run", errNothingToDo
		}
	}
	return runHookStep(ctx, r, c, "")
}
