package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/omni-fleet/omni/engine/haproxy"
	"github.com/omni-fleet/omni/registry"
)

// runDrain (step drain) takes the instance out of its HAProxy backend
// before the stop: it records the drain in the registry, sets the server
// to `drain` and waits until its current sessions are down to
// wait_sessions. Over the drain's timeout the step fails and nothing is
// stopped; the undrain step then sets the server ready again.
func runDrain(ctx context.Context, r *execution, c stepCall) (string, error) {
	d, err := r.drainOf(c.inst)
	if err != nil {
		return "", err
	}
	if d == nil {
		return "no drain configured", nil
	}
	server := d.ServerFor(c.inst.Host)
	name := serverName(d, c.inst.Host)
	mark := &registry.Drained{Server: name, Since: r.env.Now().UTC(), Run: r.env.Run}
	if err := r.markDrained(c.inst, mark); err != nil {
		return "", fmt.Errorf("recording the drain of %s: %w", name, err)
	}
	api := r.haproxyClient(d)
	if r.drained == nil {
		r.drained = map[Instance]bool{}
	}
	// From here on the undo runs, whatever happens: the command may have
	// reached HAProxy even when its answer did not come back.
	r.drained[c.inst] = true
	if err := api.SetState(ctx, d.Backend, server, haproxy.Drain); err != nil {
		return "", err
	}
	began := r.env.Now()
	for {
		st, err := api.Stat(ctx, d.Backend, server)
		if err != nil {
			return "", err
		}
		waited := r.env.Now().Sub(began).Round(time.Millisecond)
		if st.Sessions <= d.WaitSessions {
			return fmt.Sprintf("%s draining: %d %s after %s", name, st.Sessions, sessionWord(st.Sessions), waited), nil
		}
		if waited >= d.Timeout {
			return "", fmt.Errorf("%s still has %d %s after %s (drain timeout %s, wait_sessions %d): not stopped",
				name, st.Sessions, sessionWord(st.Sessions), waited, d.Timeout, d.WaitSessions)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(drainPoll):
		}
	}
}

func sessionWord(n int) string {
	if n == 1 {
		return "session"
	}
	return "sessions"
}
