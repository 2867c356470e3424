package engine

import (
	"context"
	"errors"
	"time"

	"github.com/omni-fleet/omni/engine/manager"

	"github.com/omni-fleet/omni/inventory"
)

// runStart (step start) starts the service; a failed start carries the
// service's log tail.
func runStart(ctx context.Context, r *execution, c stepCall) (string, error) {
	r.startBegun[c.inst] = true
	sent := time.Now()
	err := c.mgr.Start(ctx, c.conn)
	var warned *manager.StartWarning
	if err != nil && !errors.As(err, &warned) {
		if ctx.Err() != nil { // cut short: it may go on on the host
			err = r.endStart(c.mgr, c.conn, sent, err)
		}
		return "", r.withTail(c.inst, c.mgr, c.conn, err)
	}
	r.started[c.inst] = true
	c.did(EffectStarted)
	if warned != nil {
		return "started", &stepWarning{msg: warned.Note} // started all the same: said
	}
	return "started", nil
}

func describeStart(d describing) string {
	return startHow(d.svc)
}

func startHow(svc *inventory.Service) string {
	if svc.Manager == "systemd" {
		return "systemctl start " + svc.Unit
	}
	return "start command"
}
