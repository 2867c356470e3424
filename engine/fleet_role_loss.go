package engine

import (
	"context"
	"strings"
	"sync"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/fanout"
	"github.com/omni-fleet/omni/inventory"
)

// RoleRequirements lists, each once in the inventory's order, the
// requirements on a role ("storage-agent@worker") that one or more of
// targets help meet, and that another instance on the role could meet
// too: a fleet stop of targets takes them away only when none of the
// others runs and is healthy (see FleetRoleLoss). It does no I/O.
func RoleRequirements(inv *inventory.Inventory, targets []Instance) []string {
	g := newGraph(inv)
	var out []string
	seen := map[string]bool{}
	for _, t := range targets {
		for _, key := range g.neededOnRole(t) {
			if !seen[key] {
				seen[key] = true
				out = append(out, key)
			}
		}
	}
	return out
}

// RoleLoss is what a fleet stop takes away from the services that need
// its service on a role, beyond its impact worked out from the inventory
// (Impact).
type RoleLoss struct {
	// LosesLast are the running instances that need the service on a
	// role where no instance outside the run's targets runs and is
	// healthy, and what depends on them in turn: they are left without it.
	LosesLast []Instance
	// Unread are the instances on such a role, outside the targets, whose
	// state could not be read (counted as not running), and UnreadErrs
	// why, one each in its order; likewise the dependents whose state
	// could not be read.
	Unread     []Instance
	UnreadErrs []error
}

// FleetRoleLoss works out, before a fleet stop of targets changes
// anything, for each requirement of RoleRequirements, whether an instance
// outside the targets runs and is healthy (the reading of a stop's
// lastOnRole: its state, then its own checks, one attempt each); where none
// does, the running instances that lose the requirement (and what depends
// on them) are in LosesLast. An instance that cannot be read counts as not
// running, and is named in Unread. The reads go forks at a time.
func FleetRoleLoss(ctx context.Context, inv *inventory.Inventory, targets []Instance, conn Connector, forks int) RoleLoss {
	keys := RoleRequirements(inv, targets)
	if len(keys) == 0 {
		return RoleLoss{}
	}
	g := newGraph(inv)
	isTarget := map[Instance]bool{}
	for _, t := range targets {
		isTarget[t] = true
	}
	conns := newConnSet(func(ctx context.Context, host string) (Conn, error) {
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
	rel, _ := conn.(Releaser)
	defer conns.release(rel)
	mgr := func(inst Instance) (manager.Manager, error) {
		h, err := inv.Host(inst.Host)
		if err != nil {
			return nil, err
		}
		svc, err := inv.Service(inst.Service)
		if err != nil {
			return nil, err
		}
		return manager.New(manager.Target{Host: h, Service: svc, EnvFile: envFileOf(inv, h, svc)})
	}
	chk := &checker{inv: inv, deps: g, conn: conns.get, mgr: mgr, look: newLookMemo()}

	// The other instances of every requirement, each read once.
	var others []Instance
	seen := map[Instance]bool{}
	for _, key := range keys {
		svc, role, _ := strings.Cut(key, "@")
		for _, inst := range g.roleInstances(svc, role) {
			if !isTarget[inst] && !seen[inst] {
				seen[inst] = true
				others = append(others, inst)
			}
		}
	}
	type reading struct {
		healthy bool
		err     error
	}
	read := make([]reading, len(others))
	fanout.Each(len(others), max(forks, 1), func(i int) {
		st, err := chk.runningAndHealthy(ctx, others[i])
		read[i] = reading{healthy: err == nil && st.healthy(), err: err}
	})
	found := map[Instance]reading{}
	for i, inst := range others {
		found[inst] = read[i]
	}

	var loss RoleLoss
	var down []Instance // the other instances of the requirements lost
	named := map[Instance]bool{}
	for _, key := range keys {
		svc, role, _ := strings.Cut(key, "@")
		var off []Instance
		served := false
		for _, inst := range g.roleInstances(svc, role) {
			if isTarget[inst] {
				continue
			}
			if found[inst].healthy {
				served = true
				break
			}
			off = append(off, inst)
		}
		if served {
			continue
		}
		for _, inst := range off {
			if named[inst] {
				continue
			}
			named[inst] = true
			down = append(down, inst)
			if err := found[inst].err; err != nil {
				loss.Unread = append(loss.Unread, inst)
				loss.UnreadErrs = append(loss.UnreadErrs, err)
			}
		}
	}
	if len(down) == 0 {
		return loss
	}
	static := map[Instance]bool{}
	for _, d := range Impact(inv, targets) {
		static[d] = true
	}
	var lost []Instance
	for _, d := range g.dependentClosure(dedup(g.sorted(append(append([]Instance(nil), targets...), down...)))...) {
		if !static[d] && !named[d] && !isTarget[d] {
			lost = append(lost, d)
		}
	}
	// Which of them run: those are left without it.
	states := make([]error, len(lost))
	running := make([]bool, len(lost))
	var mu sync.Mutex
	fanout.Each(len(lost), max(forks, 1), func(i int) {
		c, m, err := reachInstance(ctx, conns.get, mgr, lost[i])
		var st manager.State
		if err == nil {
			st, err = m.Status(ctx, c)
		}
		mu.Lock()
		states[i], running[i] = err, err == nil && st.Running
		mu.Unlock()
	})
	for i, d := range lost {
		switch {
		case states[i] != nil:
			loss.Unread = append(loss.Unread, d)
			loss.UnreadErrs = append(loss.UnreadErrs, states[i])
		case running[i]:
			loss.LosesLast = append(loss.LosesLast, d)
		}
	}
	return loss
}
