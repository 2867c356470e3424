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
func (r *execution) record(ctx context.Context, inst Instance, isTarget bool) error {
	st, err := r.status(ctx, inst)
	if err != nil {
		return err
	}
	return r.recordState(inst, isTarget, st)
}

// recordState writes an instance's state, just read, to the registry.
func (r *execution) recordState(inst Instance, isTarget bool, st manager.State) error {
	now := r.env.Now()
	rec := registry.Record{Host: inst.Host, Service: inst.Service, State: st.Status, UpdatedAt: now.UTC()}
	prev, hadPrev, err := r.env.Registry.Get(rec.Host, rec.Service)
	if err != nil {
		return err
	}
	var uptime time.Duration
	if st.Running {
		rec.LastActive = now.UTC()
		rec.Since = st.Since.UTC()
		if !st.Since.IsZero() {
			uptime = now.Sub(st.Since)
		}
	} else {
		switch {
		case !st.LastActive.IsZero(): // systemd knows when it went down
			rec.LastActive = st.LastActive.UTC()
		case !r.stopped[inst].IsZero(): // we stopped it just now
			rec.LastActive = r.stopped[inst].UTC()
		case hadPrev:
			rec.LastActive = prev.LastActive
		}
		rec.Since = rec.LastActive
	}
	if hadPrev {
		rec.Drained = prev.Drained // the drain and undrain steps keep it
		rec.Config = prev.Config   // the config step keeps it; ranWith notes a start
	}
	r.ranWith(&rec, inst, st.Running)
	if hadPrev && prev.State == rec.State && !prev.Since.IsZero() && rec.Since.IsZero() {
		rec.Since = prev.Since
	}
	if isTarget {
		r.out.State, r.out.Uptime = st, uptime
		if !st.Running {
			r.out.LastActive = rec.LastActive
		}
		if h := r.out.Health; h != nil {
			rec.Health = "passed"
			if !h.Passed() {
				rec.Health = "failed: " + h.Failure()
			} else if d := h.Degraded(); d != "" {
				rec.Health = "degraded: " + d
			}
		}
	}
	return r.env.Registry.Put(rec)
}
