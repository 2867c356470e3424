package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/engine/manager"
)

// runEnsure (step ensure) makes one dependency run and be healthy: left alone when it is,
// started (and health-checked, and recorded) when it is stopped. A
// dependency it started that has a drain is then put back in its backend
// by the rule of any start's undo (undoDrain); an undo that fails is a
// warning: the dependency runs.
func runEnsure(ctx context.Context, r *execution, c stepCall) (string, error) {
	inst, t := c.inst, c.task
	if t.Role != "" {
		if read := r.check.healthyOnRole(ctx, t.Service+"@"+t.Role); read.ok() {
			return "satisfied by " + read.found.String(), nil
		}
		if t.Host == "" {
			return "", fmt.Errorf("no host with role %s runs %s", t.Role, t.Service)
		}
	}
	found, err := r.check.runningAndHealthy(ctx, inst)
	if err != nil {
		return "", err
	}
	if found.healthy() {
		return "running and healthy", nil
	}
	if found.reason == health.DependencyUnhealthy {
		return "", fmt.Errorf("dependency %s is running but %s", inst, found.why)
	}
	// Starting it changes the service's world: from here a first
	// interrupt lets the start finish (its read above, it ended).
	ctx, done, err := r.changingNow(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	mgr, _ := r.manager(inst)
	conn, _ := r.conn(ctx, inst.Host)
	// The dependency's own hooks run around its start (step_hook.go),
	// within this step's bound; a warning is noted in the step's result.
	var warnings []string
	hooks := func(kind, result string) error {
		_, err := r.runHooks(ctx, inst, kind, "start", result)
		var warned *stepWarning
		if errors.As(err, &warned) {
			warnings = append(warnings, warned.msg)
			return nil
		}
		return err
	}
	if err := hooks("pre_start", ""); err != nil {
		return "", fmt.Errorf("starting dependency %s: %w", inst, err)
	}
	sent := time.Now()
	if err := mgr.Start(ctx, conn); err != nil {
		var warned *manager.StartWarning
		if !errors.As(err, &warned) {
			if ctx.Err() != nil { // cut short: it may go on on the host
				err = r.endStart(mgr, conn, sent, err)
			}
			return "", fmt.Errorf("starting dependency %s: %w", inst, r.withTail(inst, mgr, conn, err))
		}
		warnings = append(warnings, warned.Note) // started all the same: said
	}
	r.started[inst] = true
	rep, err := r.check.ownChecks(ctx, inst, nil, nil, processAlways, keepStartPeriod) // it was just started
	if err == nil && !rep.Passed() {
		died := r.diedAfterStart(mgr, conn, rep)
		err = healthTail(died, r.withTail(inst, mgr, conn, fmt.Errorf("dependency %s failed its health check: %s", inst, rep.Failure())))
	}
	if err == nil {
		if herr := hooks("post_start", "healthy"); herr != nil {
			err = fmt.Errorf("dependency %s: %w", inst, herr)
		}
	}
	note := "started"
	if err == nil {
		// Running and healthy: its server is put back as a start's is
		// (a `service stop` had left it draining, say).
		if d, _ := r.drainOf(inst); d != nil {
			said, warn, uerr := r.undoDrain(ctx, inst, d, true, "")
			switch {
			case uerr != nil:
				warnings = append(warnings, uerr.Error())
			case warn:
				warnings = append(warnings, said)
			default:
				note += "; " + said
			}
		}
	}
	if err != nil {
		r.startFailed[inst] = true
	}
	if recErr := r.record(ctx, inst, false); err == nil {
		err = recErr
	}
	if err != nil {
		return "", err
	}
	c.did(EffectStarted)
	if len(warnings) > 0 {
		return note, &stepWarning{msg: strings.Join(warnings, "; ")}
	}
	return note, nil
}
