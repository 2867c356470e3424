package engine

import (
	"context"
	"fmt"

	"github.com/omni-fleet/omni/engine/haproxy"
)

// runUndrain (step undrain) puts the instance back in its HAProxy backend
// once it is healthy again: it sets the server `ready` and clears the
// registry's drain mark. After a failed step or an interrupt the end of the
// run (finish) runs it for a server this run drained. A stop that stopped
// the service keeps it drained, also when the run failed after the stop:
// its next start sets it ready.
func runUndrain(ctx context.Context, r *execution, c stepCall) (string, error) {
	d, err := r.drainOf(c.inst)
	if err != nil {
		return "", err
	}
	if d == nil {
		return "no drain configured", nil
	}
	name := serverName(d, c.inst.Host)
	failed := r.out.Err != nil || r.ctx.Err() != nil
	if r.plan.Request.Action == "stop" && r.stopTookEffect(c.inst) {
		// Also when the run failed after the stop (a post_stop hook): the
		// service is down, its server stays out of the backend.
		return name + " kept draining: the service is stopped (its next start sets it ready)", nil
	}
	if err := r.haproxyClient(d).SetState(ctx, d.Backend, d.ServerFor(c.inst.Host), haproxy.Ready); err != nil {
		return "", err
	}
	delete(r.drained, c.inst)
	if err := r.markDrained(c.inst, nil); err != nil {
		return "", fmt.Errorf("%s is ready, but clearing its drain in the registry failed: %w", name, err)
	}
	if failed {
		return name + " ready again (the run failed)", nil
	}
	return name + " ready", nil
}

// stopTookEffect reports whether the instance's last stop (and its
// verify-stopped) step of this run succeeded: the service is down.
func (r *execution) stopTookEffect(inst Instance) bool {
	for i := len(r.out.Steps) - 1; i >= 0; i-- {
		s := r.out.Steps[i]
		if r.instance(s.Task) == inst && (s.Task.Step == StepStop || s.Task.Step == StepVerifyStopped) {
			return s.Status == StepOK
		}
	}
	return false
}
