package engine

import (
	"sort"
	"strings"
	"sync"

	"github.com/omni-fleet/omni/inventory"
)

// Instance is one service on one host: the unit dependencies link.
type Instance struct {
	Host    string `json:"host"`
	Service string `json:"service"`
}

func (i Instance) String() string { return i.Service + "@" + i.Host }

// need is one resolved requirement of an instance: a definite instance, or
// any instance of Service on a host with Role.
type need struct {
	inst Instance // set unless role is
	role string
	svc  string
}

func (n need) String() string {
	if n.role != "" {
		return n.svc + "@" + n.role
	}
	return n.inst.String()
}

// graph answers dependency questions over an inventory's instances. It
// caches what each host runs, so planning stays linear in the fleet size.
type graph struct {
	inv *inventory.Inventory
	// mu guards the two caches filled on use (runs, onRole): a graph is
	// shared by the checks that run side by side.
	mu         sync.Mutex
	runs       map[string]map[string]bool      // role list ("a,b") -> services run
	requiredBy map[string][]*inventory.Service // service -> services whose requires name it
	hostIndex  map[string]int                  // declaration order, for stable output
	onRole     map[string][]Instance           // "svc@role" -> its instances
	needsOf    map[string][]inventory.Requirement
}

func newGraph(inv *inventory.Inventory) *graph {
	g := &graph{
		inv:        inv,
		runs:       map[string]map[string]bool{},
		requiredBy: map[string][]*inventory.Service{},
		hostIndex:  map[string]int{},
		onRole:     map[string][]Instance{},
		needsOf:    map[string][]inventory.Requirement{},
	}
	for i, h := range inv.Hosts {
		g.hostIndex[h.Name] = i
	}
	for _, s := range inv.Services {
		if !s.Enabled {
			continue
		}
		seen := map[string]bool{}
		g.needsOf[s.Name] = s.Requirements()
		for _, r := range g.needsOf[s.Name] {
			if !seen[r.Service] {
				seen[r.Service] = true
				g.requiredBy[r.Service] = append(g.requiredBy[r.Service], s)
			}
		}
	}
	return g
}

// hostRuns says whether h runs svc. What a host runs depends only on its
// roles, so the answer is cached per role list, not per host.
func (g *graph) hostRuns(h *inventory.Host, svc string) bool {
	key := strings.Join(h.Roles, ",")
	g.mu.Lock()
	defer g.mu.Unlock()
	set, ok := g.runs[key]
	if !ok {
		set = map[string]bool{}
		for _, s := range g.inv.HostServices(h) {
			set[s] = true
		}
		g.runs[key] = set
	}
	return set[svc]
}

func (g *graph) host(name string) *inventory.Host {
	h, _ := g.inv.Host(name)
	return h
}

// needs resolves the requirements of an instance.
func (g *graph) needs(inst Instance) []need {
	var out []need
	for _, r := range g.needsOf[inst.Service] {
		switch {
		case r.Role != "":
			out = append(out, need{role: r.Role, svc: r.Service})
		case r.Host != "":
			out = append(out, need{inst: Instance{Host: r.Host, Service: r.Service}, svc: r.Service})
		default:
			out = append(out, need{inst: Instance{Host: inst.Host, Service: r.Service}, svc: r.Service})
		}
	}
	return out
}

// roleInstances lists the instances of svc on hosts with role, in host order.
func (g *graph) roleInstances(svc, role string) []Instance {
	key := svc + "@" + role
	g.mu.Lock()
	list, ok := g.onRole[key]
	g.mu.Unlock()
	if ok {
		return list
	}
	var out []Instance
	for _, h := range g.inv.HostsWithRole(role) {
		if g.hostRuns(h, svc) {
			out = append(out, Instance{Host: h.Name, Service: svc})
		}
	}
	g.mu.Lock()
	g.onRole[key] = out
	g.mu.Unlock()
	return out
}

// satisfies says whether target is (one of) what n asks for.
func (g *graph) satisfies(n need, target Instance) bool {
	if n.role == "" {
		return n.inst == target
	}
	if n.svc != target.Service {
		return false
	}
	h := g.host(target.Host)
	if h == nil {
		return false
	}
	if n.role == inventory.AllRole {
		return true
	}
	for _, r := range h.Roles {
		if r == n.role {
			return true
		}
	}
	return false
}

// dependents lists the instances that directly require target, in host
// then service order, when target and the instances already lost are
// stopped. A service that requires "svc@role" depends on the target only
// when no other instance of svc on that role is left: lostOnRole counts,
// per "svc@role", the lost instances seen so far (dependents adds target
// to it), so the last instance of a role to go is the one that takes the
// requirement away. Stopping one of several instances takes nothing away.
func (g *graph) dependents(target Instance, lostOnRole map[string]int) []Instance {
	var out []Instance
	var counted map[string]bool // role requirements target was counted for
	for _, s := range g.requiredBy[target.Service] {
		for _, r := range g.needsOf[s.Name] {
			if r.Service != target.Service {
				continue
			}
			lost := false
			switch {
			case r.Role == "" && r.Host == "": // same host
				if h := g.host(target.Host); h != nil && g.hostRuns(h, s.Name) {
					out = append(out, Instance{Host: target.Host, Service: s.Name})
				}
			case r.Host != "":
				lost = r.Host == target.Host
			case g.satisfies(need{role: r.Role, svc: r.Service}, target):
				key := r.Service + "@" + r.Role
				if !counted[key] {
					if counted == nil {
						counted = map[string]bool{}
					}
					counted[key] = true
					lostOnRole[key]++
				}
				lost = lostOnRole[key] == len(g.roleInstances(r.Service, r.Role))
			}
			if lost {
				for _, h := range g.inv.Hosts {
					if g.hostRuns(h, s.Name) {
						out = append(out, Instance{Host: h.Name, Service: s.Name})
					}
				}
			}
		}
	}
	return g.sorted(dedup(out))
}

// neededOnRole is the requirements on a role ("storage-agent@worker")
// that target is one of several instances to meet: a stop of target alone
// takes them away only when the others are down (see
// execution.lastOnRole). Each once, in the inventory's order.
func (g *graph) neededOnRole(target Instance) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range g.requiredBy[target.Service] {
		for _, r := range g.needsOf[s.Name] {
			key := r.Service + "@" + r.Role
			if r.Role == "" || r.Service != target.Service || seen[key] || !g.satisfies(need{role: r.Role, svc: r.Service}, target) ||
				len(g.roleInstances(r.Service, r.Role)) < 2 {
				continue
			}
			seen[key] = true
			out = append(out, key)
		}
	}
	return out
}

// dependentClosure returns every instance that depends on one of targets,
// directly or not, and would lose it if all of targets stopped together,
// ordered so that each comes before what it depends on (the order to stop
// them in). The targets themselves are not included; each must be given
// once.
func (g *graph) dependentClosure(targets ...Instance) []Instance {
	// Breadth first over the lost instances: the targets, then each
	// dependent found (order doubles as the queue). index maps each
	// dependent to its place in order (a target is -1).
	index := make(map[Instance]int, len(targets))
	for _, t := range targets {
		index[t] = -1
	}
	lostOnRole := map[string]int{}
	var order []Instance
	visit := func(cur Instance) {
		for _, d := range g.dependents(cur, lostOnRole) {
			if _, seen := index[d]; !seen {
				index[d] = len(order)
				order = append(order, d)
			}
		}
	}
	for _, t := range targets {
		visit(t)
	}
	for next := 0; next < len(order); next++ {
		visit(order[next])
	}
	// Kahn's algorithm: an instance may be stopped once nothing in the
	// closure that depends on it is still running.
	reqs := make([][]int, len(order))  // closure members each member needs
	waiting := make([]int, len(order)) // how many closure members need it
	link := func(i, j int) {
		reqs[i] = append(reqs[i], j)
		waiting[j]++
	}
	for i, x := range order {
		for _, r := range g.needsOf[x.Service] { // g.needs without its allocations: this loop is hot
			switch {
			case r.Role != "":
				for _, y := range g.roleInstances(r.Service, r.Role) {
					if j, ok := index[y]; ok && j >= 0 {
						link(i, j)
					}
				}
			default:
				host := x.Host
				if r.Host != "" {
					host = r.Host
				}
				if j, ok := index[Instance{Host: host, Service: r.Service}]; ok && j >= 0 {
					link(i, j)
				}
			}
		}
	}
	out := make([]Instance, 0, len(order))
	done := make([]bool, len(order))
	for len(out) < len(order) {
		progressed := false
		for i, x := range order {
			if done[i] || waiting[i] > 0 {
				continue
			}
			done[i], progressed = true, true
			out = append(out, x)
			for _, j := range reqs[i] {
				waiting[j]--
			}
		}
		if !progressed { // impossible after Load's cycle check; keep going deterministically
			for i, x := range order {
				if !done[i] {
					done[i] = true
					out = append(out, x)
				}
			}
		}
	}
	return out
}

// ensureItem is one dependency a start must see running: an instance, or a
// role-level requirement satisfied by any instance (Fallback is started
// when none runs).
type ensureItem struct {
	need     need
	by       Instance // the instance that requires it
	fallback Instance // role-level: the instance to start when none runs
	group    string   // role-level: the requirement the item belongs to ("" = always)
}

// ensureClosure lists what starting target needs, transitively, in the
// order to ensure it: every item after the items it needs.
func (g *graph) ensureClosure(target Instance) []ensureItem {
	var out []ensureItem
	seen := map[string]bool{}
	var visit func(inst Instance, group string)
	visit = func(inst Instance, group string) {
		for _, n := range g.needs(inst) {
			key := group + "|" + n.String()
			if seen[key] || seen["|"+n.String()] {
				continue
			}
			seen[key] = true
			if n.role == "" {
				visit(n.inst, group)
				out = append(out, ensureItem{need: n, by: inst, group: group})
				continue
			}
			item := ensureItem{need: n, by: inst, group: n.String()}
			if cands := g.roleInstances(n.svc, n.role); len(cands) > 0 {
				item.fallback = cands[0]
				visit(item.fallback, item.group)
			}
			out = append(out, item)
		}
	}
	visit(target, "")
	return out
}

// sorted orders instances by host declaration order, then service name.
func (g *graph) sorted(list []Instance) []Instance {
	sort.SliceStable(list, func(i, j int) bool { return g.less(list[i], list[j]) })
	return list
}

func (g *graph) less(a, b Instance) bool {
	if a.Host != b.Host {
		return g.hostIndex[a.Host] < g.hostIndex[b.Host]
	}
	return a.Service < b.Service
}

func dedup(list []Instance) []Instance {
	seen := map[Instance]bool{}
	out := list[:0]
	for _, x := range list {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
