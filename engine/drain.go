package engine

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/omni-fleet/omni/engine/haproxy"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// The built-in drain (inventory `drain: {haproxy: …}`): the drain step
// sets the instance's server of an HAProxy backend to `drain` before the
// stop and waits for its sessions to end; the undrain step sets it `ready`
// once the service is healthy again. The admin socket is reached through
// the SSH connection of the host HAProxy runs on (a direct-streamlocal
// channel: sshd's AllowStreamLocalForwarding, on by default), so nothing
// but HAProxy and sshd is needed there.
//
// The undo always runs: after a failed step and after an interrupt, the
// end of the run (finish) still runs the undrain step of a server this run
// drained. A drain left on by a run that could not undo it (SIGKILL, a
// lost connection) is kept in the registry (Record.Drained), shown by
// `service status`, warned about by the next run of the service, and
// cleared by the next undrain.

// drainPoll is how often the drain step reads the server's sessions.
const drainPoll = 100 * time.Millisecond

// undrainTimeout bounds the undrain of an interrupted run.
const undrainTimeout = 10 * time.Second

// haproxyClient is the runtime API client of a drain, through the SSH
// connection of its host.
func (r *execution) haproxyClient(d *inventory.HAProxyDrain) haproxy.Client {
	return haproxy.Client{
		Where: d.On + ":" + d.Socket,
		Dial: func(ctx context.Context) (net.Conn, error) {
			conn, err := r.conn(ctx, d.On)
			if err != nil {
				return nil, err
			}
			c, err := conn.DialContext(ctx, "unix", d.Socket)
			if err != nil && ctx.Err() == nil {
				// sshd answers a socket it cannot connect to, for whatever
				// reason, with a bare "open failed".
				user := ""
				if h, herr := r.env.Inventory.Host(d.On); herr == nil && h.User != "" {
					user = " for " + h.User
				}
				return nil, fmt.Errorf("the HAProxy admin socket %s could not be opened on %s (missing, or not permitted%s): %w", d.Socket, d.On, user, err)
			}
			return c, err
		},
	}
}

// drainOf is the service's HAProxy drain, nil when it has none.
func drainOf(svc *inventory.Service) *inventory.HAProxyDrain {
	if svc == nil || svc.Drain == nil {
		return nil
	}
	return svc.Drain.HAProxy
}

// serverName names an instance's server for people: "lb1: be_api/web1".
func serverName(d *inventory.HAProxyDrain, host string) string {
	return fmt.Sprintf("%s: %s/%s", d.On, d.Backend, d.ServerFor(host))
}

// markDrained records in the registry that inst's server is being drained
// by this run (mark), or that it is not any more (nil).
func (r *execution) markDrained(inst Instance, mark *registry.Drained) error {
	_, err := r.env.Registry.Update(inst.Host, inst.Service, func(rec *registry.Record, ok bool) error {
		if rec.Drained == nil && mark == nil {
			return registry.SkipUpdate // nothing to clear, no record to make
		}
		if !ok {
			rec.State = "unknown"
		}
		rec.Drained = mark
		rec.UpdatedAt = r.env.Now().UTC()
		return nil
	})
	return err
}

// DrainLeft says the drain a run left on an instance, from its registry
// record: "" when none.
func DrainLeft(rec registry.Record) string {
	d := rec.Drained
	if d == nil {
		return ""
	}
	by := ""
	if d.Run != "" {
		by = " by run " + d.Run
	}
	return fmt.Sprintf("haproxy server %s has been draining since %s%s", d.Server, d.Since.UTC().Format("2006-01-02 15:04:05 UTC"), by)
}

// warnDrainLeft warns of a drain an earlier run left on the plan's target.
func warnDrainLeft(reg registry.Registry, plan *Plan, warn func(string)) {
	if drainOf(plan.Service) == nil || warn == nil || reg == nil {
		return
	}
	rec, ok, err := reg.Get(plan.Host.Name, plan.Service.Name)
	if err != nil || !ok || rec.Drained == nil {
		return
	}
	msg := fmt.Sprintf("%s: %s: %s", plan.Host.Name, plan.Service.Name, DrainLeft(rec))
	switch plan.Request.Action {
	case "start", "restart":
		msg += "; this run sets it ready once the service is healthy"
	}
	warn(msg)
}

// drainOf is the drain of an instance's service; nil when it has none.
func (r *execution) drainOf(inst Instance) (*inventory.HAProxyDrain, error) {
	svc, err := r.env.Inventory.Service(inst.Service)
	if err != nil {
		return nil, err
	}
	return drainOf(svc), nil
}
