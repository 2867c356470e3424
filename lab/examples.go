package lab

import "github.com/omni-fleet/omni/inventory"

// Example is a (host, service) pair to show in the commands to try.
type Example struct {
	Host, Service string
	Critical      bool // stopping it needs --yes without a terminal
}

// Examples picks, from a lab inventory, a service to restart on a host
// reached directly and one on a host behind a bastion: for the example
// fleet, api-gateway on primary-bastion and container-runtime on worker1.
// A host's own services (of its roles, not of role all) are preferred.
// ok is false when the inventory runs no service at all.
func Examples(inv *inventory.Inventory) (direct, behind Example, ok bool) {
	pick := func(wantVia bool) (Example, bool) {
		var fallback *Example
		for _, h := range inv.Hosts {
			if (h.Via != "") != wantVia {
				continue
			}
			services := inv.HostServices(h)
			if len(services) == 0 {
				continue
			}
			all := map[string]bool{}
			if r, ok := inv.Role(inventory.AllRole); ok {
				for _, s := range r.Services {
					all[s] = true
				}
			}
			for _, name := range services {
				if !all[name] {
					return example(inv, h.Name, name), true
				}
			}
			if fallback == nil {
				e := example(inv, h.Name, services[0])
				fallback = &e
			}
		}
		if fallback != nil {
			return *fallback, true
		}
		return Example{}, false
	}
	direct, okDirect := pick(false)
	behind, okBehind := pick(true)
	switch {
	case okDirect && okBehind:
		return direct, behind, true
	case okDirect:
		return direct, direct, true
	case okBehind:
		return behind, behind, true
	}
	return Example{}, Example{}, false
}

func example(inv *inventory.Inventory, host, service string) Example {
	e := Example{Host: host, Service: service}
	if s, err := inv.Service(service); err == nil {
		e.Critical = s.Critical || s.Impact != ""
	}
	return e
}

// StartExample picks a service that requires nothing, so that it can be
// started first on a lab whose services are all stopped: network-agent on
// primary-bastion for the example fleet.
func StartExample(inv *inventory.Inventory) (Example, bool) {
	for _, h := range inv.Hosts {
		for _, name := range inv.HostServices(h) {
			if s, err := inv.Service(name); err == nil && len(s.Requires) == 0 {
				return example(inv, h.Name, name), true
			}
		}
	}
	return Example{}, false
}
