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
// before the stop. It first reads what it is about to change: the
// `service stop` of a service already at rest drains nothing (it has
// nothing to do, and needs no load balancer to find that out); then the
// server's admin state and the registry's drain mark (serverBefore), which
// the undo at the end of the run goes by. A server an operator put in
// maintenance or drain outside omni is left as it is (it takes no new
// connections already) and not marked; any other is marked in the
// registry and set to `drain`. Then it waits until the server's current
// sessions are down to wait_sessions. Over the drain's timeout the step
// fails and nothing is stopped; the undrain step then undoes the drain.
func runDrain(ctx context.Context, r *execution, c stepCall) (string, error) {
	d, err := r.drainOf(c.inst)
	if err != nil {
		return "", err
	}
	if d == nil {
		return "no drain configured", nil
	}
	if c.isTarget && r.plan.Request.Action == "stop" && !r.preStopBegun[c.inst] {
		// (A pre-stop that ran has read it already.)
		if st, err := c.mgr.Status(ctx, c.conn); err == nil && atRest(st) {
			r.out.Unchanged = "already stopped"
			return "already stopped: nothing drained", errNothingToDo
		}
	}
	server := d.ServerFor(c.inst.Host)
	name := serverName(d, c.inst.Host)
	var left *registry.Drained // a drain an earlier run left on
	if rec, ok, err := r.env.Registry.Get(c.inst.Host, c.inst.Service); err == nil && ok {
		left = rec.Drained
	}
	api := r.haproxyClient(d)
	dial, reached := api.Dial, false
	api.Dial = func(ctx context.Context) (net.Conn, error) {
		conn, err := dial(ctx)
		reached = reached || err == nil
		return conn, err
	}
	admin, err := api.AdminState(ctx, d.Backend, server)
	if err != nil {
		// Nothing changed: there is nothing to undo.
		return "", fmt.Errorf("%w: nothing drained, nothing stopped", err)
	}
	before := serverBefore{admin: admin, mark: left}
	if r.before == nil {
		r.before = map[Instance]serverBefore{}
	}
	r.before[c.inst] = before
	said := ""
	if before.operators() {
		// Out of the backend by an operator's hand: left so, not marked.
		said = name + " " + before.was() + " before this run (not set by omni): left as it is; "
	} else {
		mark := &registry.Drained{Server: name, Since: r.env.Now().UTC(), Run: r.env.Run}
		if left != nil && admin.Draining() {
			mark = left // draining since then already (a stop kept it so)
		}
		if err := r.markDrained(c.inst, mark); err != nil {
			return "", fmt.Errorf("recording the drain of %s: %w", name, err)
		}
		if r.drained == nil {
			r.drained = map[Instance]bool{}
		}
		// From here on the undo runs, whatever happens: the command may have
		// reached HAProxy even when its answer did not come back.
		r.drained[c.inst] = true
		reached = false
		if err := api.SetState(ctx, d.Backend, server, haproxy.Drain); err != nil {
			var refused *haproxy.RefusedError
			if !reached || errors.As(err, &refused) {
				// The socket was not opened again, or HAProxy answered
				// that it did not drain: nothing changed, there is nothing
				// to undo, and the registry says again what it said before.
				delete(r.drained, c.inst)
				if uerr := r.markDrained(c.inst, left); uerr != nil {
					return "", fmt.Errorf("%w (clearing the drain mark in the registry failed: %v)", err, uerr)
				}
				return "", fmt.Errorf("%w: nothing drained, nothing stopped", err)
			}
			return "", err
		}
	}
	began := r.env.Now()
	for {
		st, err := api.Stat(ctx, d.Backend, server)
		if err != nil {
			return "", err
		}
		waited := r.env.Now().Sub(began).Round(time.Millisecond)
		if st.Sessions <= d.WaitSessions {
			if said != "" {
				return fmt.Sprintf("%s%d %s after %s", said, st.Sessions, sessionWord(st.Sessions), waited), nil
			}
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
