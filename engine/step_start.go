package engine

import (
	"context"
)

// runStart (step start) starts the service; a failed start carries the
// service's log tail.
func runStart(ctx context.Context, r *execution, c stepCall) (string, error) {
	if err := c.mgr.Start(ctx, c.conn); err != nil {
		return "", r.withTail(c.inst, c.mgr, c.conn, err)
	}
	r.started[c.inst] = true
	c.did(EffectStarted)
	return "started", nil
}
