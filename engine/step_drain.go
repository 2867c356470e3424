package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	var left *registry.Drained // a drain an earlier run left on
	if rec, ok, err := r.env.Registry.Get(c.inst.Host, c.inst.Service); err == nil && ok {
		left = rec.Drained
	}
	if err := r.markDrained(c.inst, mark); err != nil {
		return "", fmt.Errorf("recording the drain of %s: %w", name, err)
	}
	api := r.haproxyClient(d)
	dial, reached := api.Dial, false
	api.Dial = func(ctx context.Context) (net.Conn, error) {
		conn, err := dial(ctx)
		reached = reached || err == nil
		return conn, err
	}
	if r.drained == nil {
		r.drained = map[Instance]bool{}
	}
	// From here on the undo runs, whatever happens: the command may have
	// reached HAProxy even when its answer did not come back.
	r.drained[c.inst] = true
	if err := api.SetState(ctx, d.Backend, server, haproxy.Drain); err != nil {
		var refused *haproxy.RefusedError
		if !reached || errors.As(err, &refused) {
			// The socket was never opened (its host or path unreachable),
			// or HAProxy answered that it did not drain ("No such
			// backend."): nothing changed, there is nothing to undo, and
			// the registry says again what it said before.
			delete(r.drained, c.inst)
			if uerr := r.markDrained(c.inst, left); uerr != nil {
				return "", fmt.Errorf("%w (clearing the drain mark in the registry failed: %v)", err, uerr)
			}
			return "", fmt.Errorf("%w: nothing drained, nothing stopped", err)
		}
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
