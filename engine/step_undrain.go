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
// the service keeps it drained: its next start sets it ready.
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
	if r.plan.Request.Action == "stop" && !failed {
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
