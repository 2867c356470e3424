package inventory

import (
	"fmt"
	"strings"
)

// check validates the references between sections once all are decoded:
// roles, services, bastions and requirements must exist, bastion chains and
// service dependencies must not loop, and no host is named "all" (the role
// every host has: Select("all") and "svc@all" would mean that host alone).
func (l *loader) check(inv *Inventory) {
	for _, r := range inv.Roles {
		if h := inv.hosts[r.Name]; h != nil && r.Name != AllRole { // a host "all" is reported below
			l.errorf(max(h.Line, r.Line), "name %q is both a host and a role", r.Name)
		}
		for _, it := range l.roleRefs[r] {
			if inv.services[it.value] == nil {
				l.errorf(it.line, "service %q is not defined%s", it.value, l.suggest(it.value, inv.ServiceNames))
			}
		}
	}
	for _, h := range inv.Hosts {
		if h.Name == AllRole {
			l.errorf(h.Line, "a host cannot be named %q: %q is the role every host has, and the target %q means every host; rename the host", AllRole, AllRole, AllRole)
		}
		refs := l.hostRefs[h]
		for _, it := range refs.roles {
			if it.value != AllRole && inv.roles[it.value] == nil {
				l.errorf(it.line, "role %q is not defined%s", it.value, l.suggest(it.value, inv.RoleNames))
			}
		}
		switch via := refs.via; {
		case via.value == "":
		case via.value == h.Name:
			l.errorf(via.line, "host %q cannot be its own bastion (via)", h.Name)
		case inv.hosts[via.value] == nil:
			l.errorf(via.line, "host %q is not defined%s", via.value, l.suggest(via.value, inv.HostNames))
		}
	}
	l.checkViaLoops(inv)
	for _, s := range inv.Services {
		l.checkRequires(inv, s)
		l.checkDrain(inv, s)
	}
	l.checkCycles(inv)
	l.checkSameHostRequires(inv)
	l.checkHooks(inv)  // hooks.go
	l.checkConfig(inv) // config_check.go
}

// checkSameHostRequires reports a same-host requirement that cannot be met:
// the required service is disabled, or a host that runs the service does not
// run what it requires. Each requires entry is reported once, naming the
// first such host.
//
// Hosts with the same roles run the same services, so each distinct role
// list (a group) is looked at once, through the first host that has it, and
// each requirement looks only at the groups that run its service: the cost
// grows with the (group, service) pairs, not with hosts times requirements.
// Those pairs are bounded first (MaxInstances).
func (l *loader) checkSameHostRequires(inv *Inventory) {
	type group struct {
		host *Host
		runs map[string]bool
	}
	byKey := map[string]*group{}
	withRole := map[string][]*group{} // AllRole: every group
	instances := 0
	for _, h := range inv.Hosts {
		key := strings.Join(h.Roles, ",")
		if byKey[key] != nil {
			continue
		}
		g := &group{host: h}
		byKey[key] = g
		withRole[AllRole] = append(withRole[AllRole], g)
		seen := map[string]bool{}
		for _, r := range append([]string{AllRole}, h.Roles...) {
			if role := inv.roles[r]; role != nil && !seen[r] {
				seen[r] = true
				if r != AllRole {
					withRole[r] = append(withRole[r], g)
				}
				if instances += len(role.Services); instances > MaxInstances {
					l.errorf(h.Line, "host %q takes the inventory past %d (role list, service) pairs, the most omni checks: group services in fewer, larger roles", h.Name, MaxInstances)
					return
				}
			}
		}
	}
	runners := map[string][]*group{} // service -> the groups that run it, in host order
	for _, g := range withRole[AllRole] {
		g.runs = map[string]bool{}
		for _, name := range inv.HostServices(g.host) {
			g.runs[name] = true
			runners[name] = append(runners[name], g)
		}
	}
	// onRole[role][svc]: some host with the role runs svc; computed once per role.
	onRole := map[string]map[string]bool{}
	runsOnRole := func(role, svc string) bool {
		set, ok := onRole[role]
		if !ok {
			set = map[string]bool{}
			for _, g := range withRole[role] {
				for name := range g.runs {
					set[name] = true
				}
			}
			onRole[role] = set
		}
		return set[svc]
	}
	for _, s := range inv.Services {
		if !s.Enabled {
			continue
		}
		for _, it := range l.requires[s] {
			r := ParseRequirement(it.value)
			dep := inv.services[r.Service]
			if dep == nil {
				continue
			}
			if !dep.Enabled { // nothing runs it, on any host: omni would never start it
				l.errorf(it.line, "service %q requires %q, which is disabled (enabled: false)", s.Name, it.value)
				continue
			}
			switch {
			case r.At == "":
				for _, g := range runners[s.Name] {
					if h := g.host; !g.runs[dep.Name] {
						l.errorf(it.line, "service %q requires %q on the same host, but host %q (roles: %s) does not run it; for another host write %q",
							s.Name, dep.Name, h.Name, strings.Join(h.Roles, ", "), dep.Name+"@ROLE")
						break
					}
				}
			case inv.hosts[r.At] != nil:
				if h := inv.hosts[r.At]; !byKey[strings.Join(h.Roles, ",")].runs[dep.Name] {
					l.errorf(it.line, "service %q requires %q, but host %q (roles: %s) does not run %q", s.Name, it.value, h.Name, strings.Join(h.Roles, ", "), dep.Name)
				}
			default:
				if !runsOnRole(r.At, dep.Name) && (inv.roles[r.At] != nil || r.At == AllRole) {
					l.errorf(it.line, "service %q requires %q, but no host with role %q runs %q", s.Name, it.value, r.At, dep.Name)
				}
			}
		}
	}
}

func (l *loader) checkViaLoops(inv *Inventory) {
	const (
		unvisited = iota
		walking
		done
	)
	state := map[*Host]int{}
	for _, start := range inv.Hosts {
		var path []*Host
		h := start
		for h != nil && state[h] == unvisited {
			state[h] = walking
			path = append(path, h)
			if h.Via == h.Name {
				h = nil // reported as its own bastion
				break
			}
			h = inv.hosts[h.Via]
		}
		if h != nil && state[h] == walking {
			i := 0
			for path[i] != h {
				i++
			}
			names := []string{}
			for _, x := range path[i:] {
				names = append(names, x.Name)
			}
			last := path[len(path)-1]
			l.errorf(l.hostRefs[last].via.line, "via loop: %s -> %s", strings.Join(names, " -> "), h.Name)
		}
		for _, x := range path {
			state[x] = done
		}
	}
}

func (l *loader) checkRequires(inv *Inventory, s *Service) {
	items := l.requires[s]
	s.requirements = make([]Requirement, 0, len(items))
	for _, it := range items {
		r := ParseRequirement(it.value)
		if r.Service == "" || strings.HasSuffix(it.value, "@") || strings.Contains(r.At, "@") {
			l.errorf(it.line, "invalid requirement %q: use \"service\", \"service@host\" or \"service@role\"", it.value)
			continue
		}
		if inv.services[r.Service] == nil {
			l.errorf(it.line, "service %q is not defined%s", r.Service, l.suggest(r.Service, inv.ServiceNames))
		}
		switch {
		case r.At == "":
		case inv.hosts[r.At] != nil:
			r.Host = r.At
		case inv.roles[r.At] != nil || r.At == AllRole:
			r.Role = r.At
		default:
			names := func() []string { return append(inv.HostNames(), inv.RoleNames()...) }
			l.errorf(it.line, "host or role %q is not defined%s", r.At, l.suggest(r.At, names))
		}
		l.checkReach(inv, s, &r, it.line)
		s.requirements = append(s.requirements, r)
	}
}

// checkCycles finds dependency cycles in the service-level graph (the @
// qualifier ignored), walking services and their requires in declaration
// order so the report is deterministic. Each cycle is reported at the
// requires entry that closes it.
func (l *loader) checkCycles(inv *Inventory) {
	const (
		unvisited = iota
		walking
		done
	)
	state := map[*Service]int{}
	var stack []*Service
	reported := map[string]bool{}
	var visit func(s *Service)
	visit = func(s *Service) {
		state[s] = walking
		stack = append(stack, s)
		for _, it := range l.requires[s] {
			next := inv.services[ParseRequirement(it.value).Service]
			switch {
			case next == nil:
			case state[next] == unvisited:
				visit(next)
			case state[next] == walking:
				i := 0
				for stack[i] != next {
					i++
				}
				names := []string{}
				for _, x := range stack[i:] {
					names = append(names, x.Name)
				}
				msg := fmt.Sprintf("dependency cycle: %s -> %s", strings.Join(names, " -> "), next.Name)
				if !reported[msg] {
					reported[msg] = true
					l.errorf(it.line, "%s", msg)
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[s] = done
	}
	for _, s := range inv.Services {
		if state[s] == unvisited {
			visit(s)
		}
	}
}
