package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
)

// runStop (step stop) stops the service gracefully: the manager's stop
// returns only once it has seen the process gone (SIGKILL after the
// grace). A stop or a dependent's stop of a service already at rest has
// nothing to do; a restart's stop of the target always runs.
func runStop(ctx context.Context, r *execution, c stepCall) (string, error) {
	// Only a service at rest has nothing to stop: one that is activating
	// (a crash loop), deactivating or in maintenance still needs the stop.
	if r.plan.Request.Action == "stop" || !c.isTarget {
		if st, err := c.mgr.Status(ctx, c.conn); err == nil && atRest(st) {
			if c.isTarget {
				r.out.Unchanged = "already stopped"
				return "already stopped", errNothingToDo
			}
			return "already stopped", nil
		}
	}
	// A restart's stop (the target's, or a dependent's for --cascade):
	// not when the service could not be started again.
	if sc, ok := c.mgr.(manager.StartChecker); ok && (r.plan.Request.Action == "restart" || c.task.Cascade == CascadeRestart) {
		if err := sc.Startable(ctx, c.conn); err != nil {
			return "", err
		}
	}
	err := c.mgr.Stop(ctx, c.conn, c.task.Grace)
	if errors.Is(err, manager.ErrWasNotRunning) {
		// Found stopped (crashed, say): nothing stopped now, and not
		// last active now either.
		c.leave(manager.State{Status: "stopped"})
		return wasNotRunning, nil
	}
	var anyway *manager.StoppedAnyway
	if err != nil && !errors.As(err, &anyway) {
		return "", err
	}
	r.stopped[c.inst] = r.env.Now()
	// Stop returns nil (or StoppedAnyway) only once it has seen the
	// process gone.
	c.leave(manager.State{Status: "stopped"})
	c.did(EffectStopped)
	if anyway != nil {
		// Stopped, not as asked: the step succeeds, and says so.
		return "stopped", &stepWarning{msg: anyway.Note}
	}
	return "stopped", nil
}

func describeStop(d describing) string {
	return fmt.Sprintf("%s; SIGKILL after %s", stopHow(d.svc), d.grace)
}

func stopHow(svc *inventory.Service) string {
	if svc.Manager == "systemd" {
		return "systemctl stop " + svc.Unit
	}
	if svc.Commands.Stop != "" {
		return "stop command"
	}
	return "SIGTERM to the main process"
}

// wasNotRunning is the note of a stop that found the service not running.
const wasNotRunning = "not running: nothing to stop"
