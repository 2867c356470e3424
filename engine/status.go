package engine

import (
	"context"
	"sync"
	"time"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/fanout"
	"github.com/omni-fleet/omni/internal/warm"
	"github.com/omni-fleet/omni/inventory"
)

// InstanceStatus is the live state of one service on one host.
type InstanceStatus struct {
	Instance
	State  manager.State
	Uptime time.Duration
	Health *health.Report // one attempt of each check, dependencies included, when it runs
	Err    error          // the host could not be reached, or status failed
}

// LiveStatus reads the state of each service on each host, hosts in
// parallel (at most forks at once, one connection each), with one attempt
// of each health check for the services that run: process, port, HTTP and
// the dependency check, the same checks as the health step (see checker). Rows come back in the
// order of hosts, then services. A host's connection is released (see
// Releaser) as soon as its services have been read, so that at most about
// forks connections are open at once, not one per host.
func LiveStatus(ctx context.Context, inv *inventory.Inventory, targets []Instance, conn Connector, forks int) []InstanceStatus {
	rows, _ := LiveStatusCounted(ctx, inv, targets, conn, forks)
	return rows
}

// LiveStatusCounted is LiveStatus, and by host the round trips its
// connection waited for (see RoundTripCounter), read before it is
// released: the host's services' states (one `systemctl show` for all its
// systemd units, see manager.StatusAll) and their health checks. Hosts
// that could not be reached, or whose connections do not count, are not
// in it.
func LiveStatusCounted(ctx context.Context, inv *inventory.Inventory, targets []Instance, conn Connector, forks int) ([]InstanceStatus, map[string]transport.RoundTrips) {
	rows := make([]InstanceStatus, len(targets))
	counts := map[string]transport.RoundTrips{}
	byHost := map[string][]int{}
	var hosts []string
	for i, t := range targets {
		rows[i].Instance = t
		if _, ok := byHost[t.Host]; !ok {
			hosts = append(hosts, t.Host)
		}
		byHost[t.Host] = append(byHost[t.Host], i)
	}
	var mu sync.Mutex
	deps, memo := newGraph(inv), newLookMemo()
	pool := warm.New() // the hosts' checks, one after another on few goroutines
	defer pool.Close()
	fanout.Each(len(hosts), max(forks, 1), func(k int) {
		name := hosts[k]
		h, err := inv.Host(name)
		var c Conn
		if err == nil {
			c, err = conn.Connect(ctx, h)
		}
		connected := c
		// One service without requirements: one remote command (its
		// status) on this host.
		if o, ok := c.(OneCommand); ok && err == nil && len(byHost[name]) == 1 && !hasRequirements(inv, rows[byHost[name][0]].Service) {
			c = o.Once()
		}
		c = withBound(c, commandTimeout(inv))
		look := newHostLook(inv, name, c, conn)
		chk := &checker{inv: inv, deps: deps, conn: look.connect, mgr: look.manager, look: memo, warm: pool}
		var states []manager.StatusResult
		probes := make([]*probe, len(byHost[name]))
		if err == nil {
			for k, i := range byHost[name] {
				probes[k] = startProbe(ctx, chk, rows[i].Instance)
			}
			states = hostStates(ctx, chk, c, rows, byHost[name])
		}
		for k, i := range byHost[name] {
			row := rows[i]
			if err != nil {
				row.Err = err
			} else {
				row = liveStatus(ctx, chk, row, states[k], probes[k])
			}
			mu.Lock()
			rows[i] = row
			mu.Unlock()
		}
		for _, p := range probes {
			p.stop()
		}
		look.release()
		if rc, ok := connected.(RoundTripCounter); ok && err == nil {
			mu.Lock()
			counts[name] = rc.RoundTrips()
			mu.Unlock()
		}
		if r, ok := conn.(Releaser); ok && err == nil {
			r.Release(connected)
		}
	})
	return rows, counts
}

// hasRequirements says whether the service requires others.
func hasRequirements(inv *inventory.Inventory, service string) bool {
	svc, err := inv.Service(service)
	return err == nil && len(svc.Requires) > 0
}

// hostLook is what the look at one host's services uses: the host's own
// connection, and those of the hosts its services require, opened on
// first use and let go once the host is done.
type hostLook struct {
	inv    *inventory.Inventory
	host   string
	own    Conn
	conn   Connector
	others *connSet
}

func newHostLook(inv *inventory.Inventory, host string, own Conn, conn Connector) *hostLook {
	l := &hostLook{inv: inv, host: host, own: own, conn: conn}
	l.others = newConnSet(func(ctx context.Context, host string) (Conn, error) {
		h, err := inv.Host(host)
		if err != nil {
			return nil, err
		}
		c, err := conn.Connect(ctx, h)
		if err != nil {
			return nil, &connectError{Host: host, Err: err}
		}
		return withBound(c, commandTimeout(inv)), nil
	})
	return l
}

func (l *hostLook) connect(ctx context.Context, host string) (Conn, error) {
	if host == l.host {
		return l.own, nil
	}
	return l.others.get(ctx, host)
}

func (l *hostLook) manager(inst Instance) (manager.Manager, error) {
	h, err := l.inv.Host(inst.Host)
	if err != nil {
		return nil, err
	}
	svc, err := l.inv.Service(inst.Service)
	if err != nil {
		return nil, err
	}
	return manager.New(manager.Target{Host: h, Service: svc, EnvFile: envFileOf(l.inv, h, svc)})
}

// release lets go of the other hosts' connections.
func (l *hostLook) release() {
	r, _ := l.conn.(Releaser)
	l.others.release(r)
}

// hostStates reads the states of the services of rows at idx, all on the
// host c reaches, in one go (manager.StatusAll): one round trip for all
// its systemd units. The results are in the order of idx.
func hostStates(ctx context.Context, chk *checker, c Conn, rows []InstanceStatus, idx []int) []manager.StatusResult {
	out := make([]manager.StatusResult, len(idx))
	var ms []manager.Manager
	var at []int
	for k, i := range idx {
		m, err := chk.mgr(rows[i].Instance)
		if err != nil {
			out[k].Err = err
			continue
		}
		ms, at = append(ms, m), append(at, k)
	}
	for j, res := range manager.StatusAll(ctx, c, ms) {
		out[at[j]] = res
	}
	return out
}

// liveStatus takes one service's state, read by hostStates, and, when it
// runs, reads its health as the health step defines it (see checker), one
// attempt of each check; its port and HTTP checks are pre's, started
// beside the state read (nil: none configured).
func liveStatus(ctx context.Context, chk *checker, row InstanceStatus, read manager.StatusResult, pre *probe) InstanceStatus {
	if read.Err != nil {
		row.Err = read.Err
		return row
	}
	st := read.State
	row.State = st
	if st.Running && !st.Since.IsZero() {
		row.Uptime = time.Since(st.Since)
	}
	if !st.Running {
		chk.remember(row.Instance, notRunning(st.Status))
		return row
	}
	own := func(ctx context.Context) (health.Report, error) { return chk.own(ctx, row.Instance, &st, nil) }
	// The probe's report stands with the state read as its process check;
	// a read slower than the health timeout cannot (inTime): the checks
	// then run again, the process check reading afresh.
	if pre != nil && (!pre.process || chk.readInTime(row.Instance, st)) {
		own = pre.own
	}
	rep, deps, err := chk.both(ctx, row.Instance, own)
	if err != nil {
		row.Err = err
		return row
	}
	found := depState{}
	if !rep.Passed() {
		found = unhealthy(rep)
	}
	chk.remember(row.Instance, found) // a dependency of a later row
	if rep.Passed() {
		rep.Checks = append(rep.Checks, deps...)
	}
	row.Health = &rep
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
