package engine

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
)

// InstanceStatus is the live state of one service on one host.
type InstanceStatus struct {
	Instance
	State  manager.State
	Uptime time.Duration
	Health *health.Report // one attempt of each check, when it runs
	Err    error          // the host could not be reached, or status failed
}

// LiveStatus reads the state of each service on each host, hosts in
// parallel (at most forks at once, one connection each), with one attempt
// of each health check for the services that run. Rows come back in the
// order of hosts, then services. A host's connection is released (see
// Releaser) as soon as its services have been read, so that at most about
// forks connections are open at once, not one per host.
func LiveStatus(ctx context.Context, inv *inventory.Inventory, targets []Instance, conn Connector, forks int) []InstanceStatus {
	rows := make([]InstanceStatus, len(targets))
	byHost := map[string][]int{}
	var hosts []string
	for i, t := range targets {
		rows[i].Instance = t
		if _, ok := byHost[t.Host]; !ok {
			hosts = append(hosts, t.Host)
		}
		byHost[t.Host] = append(byHost[t.Host], i)
	}
	var g errgroup.Group
	if forks < 1 {
		forks = 1
	}
	g.SetLimit(forks)
	var mu sync.Mutex
	for _, name := range hosts {
		g.Go(func() error {
			h, err := inv.Host(name)
			var c Conn
			if err == nil {
				c, err = conn.Connect(ctx, h)
			}
			connected := c
			// One service: one remote command (its status) on this host.
			if o, ok := c.(OneCommand); ok && err == nil && len(byHost[name]) == 1 {
				c = o.Once()
			}
			c = withBound(c, commandTimeout(inv))
			for _, i := range byHost[name] {
				row := rows[i]
				if err != nil {
					row.Err = err
				} else {
					row = liveStatus(ctx, inv, h, c, row)
				}
				mu.Lock()
				rows[i] = row
				mu.Unlock()
			}
			if r, ok := conn.(Releaser); ok && err == nil {
				r.Release(connected)
			}
			return nil
		})
	}
	_ = g.Wait()
	return rows
}

func liveStatus(ctx context.Context, inv *inventory.Inventory, h *inventory.Host, c Conn, row InstanceStatus) InstanceStatus {
	svc, err := inv.Service(row.Service)
	if err != nil {
		row.Err = err
		return row
	}
	m, err := manager.New(manager.Target{Host: h, Service: svc})
	if err != nil {
		row.Err = err
		return row
	}
	st, err := m.Status(ctx, c)
	if err != nil {
		row.Err = err
		return row
	}
	row.State = st
	if st.Running && !st.Since.IsZero() {
		row.Uptime = time.Since(st.Since)
	}
	if st.Running {
		spec := svc.Health
		spec.Retries, spec.StartPeriod = 0, 0 // a status is a look, not a wait
		rep := runHealth(ctx, spec, h, m, c, &st)
		row.Health = &rep
	}
	return row
}

// OneCommand is a Conn that can be told its caller will run a single
// remote command on it, which it can then run more cheaply for the host.
type OneCommand interface {
	Once() Conn
}

// Releaser is a Connector that can let go of a connection once its caller
// is done with it.
type Releaser interface {
	// Release says that the caller will not use conn, which Connect
	// returned, again.
	Release(conn Conn)
}

// Release implements Releaser: the pool closes the connection once no
// caller uses it any more, except a bastion's, which stays open until the
// pool closes.
func (c *SSHConnector) Release(conn Conn) {
	if s, ok := conn.(sshConn); ok {
		c.Pool.Release(s.client)
	}
}
