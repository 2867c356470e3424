package engine

import "context"

// runPreStop (step pre-stop) runs the service's pre_stop hooks, before
// anything of the stop changed; a failed one (on_failure: abort, the
// default) vetoes the stop. The pre-stop of `service stop` first reads
// whether the target runs: a service at rest has nothing to stop, and its
// hooks do not run. Once its hooks have begun, the post_stop hooks run
// whatever happens next (Execute's finish: OMNI_RESULT=failed when the
// stop did not happen), so that they can undo what pre_stop began.
func runPreStop(ctx context.Context, r *execution, c stepCall) (string, error) {
	if c.isTarget && r.plan.Request.Action == "stop" {
		if st, err := c.mgr.Status(ctx, c.conn); err == nil && atRest(st) {
			r.out.Unchanged = "already stopped"
			return "already stopped: no hooks run", errNothingToDo
		}
	}
	if r.preStopBegun == nil {
		r.preStopBegun = map[Instance]bool{}
	}
	r.preStopBegun[c.inst] = true
	return runHookStep(ctx, r, c, "")
}
