package engine

import (
	"context"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/registry"
)

// runRecord (step record) writes the instance's final state to the
// registry: the state the previous step left known, else read again.
func runRecord(ctx context.Context, r *execution, c stepCall) (string, error) {
	if st, ok := knownState(c.known, c.inst); ok {
		return "", r.recordState(c.inst, c.isTarget, st)
	}
	return "", r.record(ctx, c.inst, c.isTarget)
}

// record reads an instance's final state and writes it to the registry;
// for the target it also fills the outcome.
//
// When the state cannot be read (the connection was lost) but this run's
// stop step saw the instance go down and no start of it has begun since,
// the state is known all the same: stopped, and that is recorded, not
// left as the "running" of before the run.
func (r *execution) record(ctx context.Context, inst Instance, isTarget bool) error {
	st, err := r.status(ctx, inst)
	if err != nil {
		if _, stopped := r.stopped[inst]; stopped && !r.startBegun[inst] {
			return r.recordState(inst, isTarget, manager.State{Status: "stopped"})
		}
		return err
	}
	return r.recordState(inst, isTarget, st)
}

// recordState writes an instance's state, just read, to the registry. It
// owns the state fields of the record (State, Since, LastActive, Health,
// UpdatedAt) and changes only those, in one read-modify-write
// (registry.Update): the fields other steps and commands write (the drain
// mark, the applied configuration) stay as they are.
func (r *execution) recordState(inst Instance, isTarget bool, st manager.State) error {
	now := r.env.Now()
	health := ""
	if h := r.out.Health; isTarget && h != nil {
		health = "passed"
		if !h.Passed() {
			health = "failed: " + h.Failure()
		} else if d := h.Degraded(); d != "" {
			health = "degraded: " + d
		}
	}
	rec, err := r.env.Registry.Update(inst.Host, inst.Service, func(rec *registry.Record, hadPrev bool) error {
		prev := *rec
		rec.State, rec.UpdatedAt, rec.Health = st.Status, now.UTC(), health
		if r.keepsHealth(inst, isTarget, st, prev, hadPrev) {
			rec.Health = prev.Health // no check of this run says otherwise
		}
		rec.Since, rec.LastActive = time.Time{}, time.Time{}
		if st.Running {
			rec.LastActive = now.UTC()
			rec.Since = st.Since.UTC()
		} else {
			switch last := r.lastSeen(inst); {
			case !st.LastActive.IsZero(): // systemd knows when it went down
				rec.LastActive = st.LastActive.UTC()
			case !last.IsZero(): // we stopped it, or saw it run, just now
				rec.LastActive = last.UTC()
			case hadPrev:
				rec.LastActive = prev.LastActive
			}
			rec.Since = rec.LastActive
		}
		if hadPrev && prev.State == rec.State && !prev.Since.IsZero() && rec.Since.IsZero() {
			rec.Since = prev.Since
		}
		r.ranWith(rec, inst, st.Running) // step_config.go
		return nil
	})
	if err != nil {
		return err
	}
	if isTarget {
		var uptime time.Duration
		if st.Running && !st.Since.IsZero() {
			uptime = now.Sub(st.Since)
		}
		r.out.State, r.out.Uptime = st, uptime
		if !st.Running {
			r.out.LastActive = rec.LastActive
		}
	}
	return nil
}

func describeRecord(describing) string {
	return "read the final state and update the service registry"
}

// keepsHealth reports whether the record's health stays as it was: no
// health check of this run read the instance, and the run neither stopped
// nor started it, and it is found in the state it was recorded in (a
// start that finds the service already running, a restart that failed
// before its stop). A check that failed stays said until one passes.
func (r *execution) keepsHealth(inst Instance, isTarget bool, st manager.State, prev registry.Record, hadPrev bool) bool {
	if !hadPrev || prev.Health == "" || (isTarget && r.out.Health != nil) {
		return false
	}
	_, stopped := r.stopped[inst]
	return !stopped && !r.startBegun[inst] && !r.started[inst] && st.Running && prev.State == st.Status
}
