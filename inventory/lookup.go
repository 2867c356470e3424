package inventory

import "slices"

// AllRole is the role every host has, whether or not it lists it.
const AllRole = "all"

// Host returns the named host, or a *NotFoundError with a suggestion.
func (inv *Inventory) Host(name string) (*Host, error) {
	if h := inv.findHost(name); h != nil {
		return h, nil
	}
	return nil, &NotFoundError{Kind: "host", Name: name, Suggestion: Suggest(name, inv.HostNames())}
}

// Service returns the named service, or a *NotFoundError with a suggestion.
func (inv *Inventory) Service(name string) (*Service, error) {
	if s := inv.findService(name); s != nil {
		return s, nil
	}
	return nil, &NotFoundError{Kind: "service", Name: name, Suggestion: Suggest(name, inv.ServiceNames())}
}

// Role returns the named role as defined in the file. Role "all" is only
// found when the file defines it.
func (inv *Inventory) Role(name string) (*Role, bool) {
	r := inv.findRole(name)
	return r, r != nil
}

// RoleError is Role for callers that want an error to show: a
// *NotFoundError with a suggestion.
func (inv *Inventory) RoleError(name string) (*Role, error) {
	if r := inv.findRole(name); r != nil {
		return r, nil
	}
	return nil, &NotFoundError{Kind: "role", Name: name, Suggestion: Suggest(name, inv.RoleNames())}
}

// HostNames lists the host names in declaration order.
func (inv *Inventory) HostNames() []string {
	names := make([]string, len(inv.Hosts))
	for i, h := range inv.Hosts {
		names[i] = h.Name
	}
	return names
}

// RoleNames lists the role names in declaration order.
func (inv *Inventory) RoleNames() []string {
	names := make([]string, len(inv.Roles))
	for i, r := range inv.Roles {
		names[i] = r.Name
	}
	return names
}

// ServiceNames lists the service names in declaration order.
func (inv *Inventory) ServiceNames() []string {
	names := make([]string, len(inv.Services))
	for i, s := range inv.Services {
		names[i] = s.Name
	}
	return names
}

// HostServices lists the enabled services h runs: those of role "all" first,
// then those of h's roles in order, each in its role's order, without
// duplicates.
func (inv *Inventory) HostServices(h *Host) []string {
	var out []string
	seen := map[string]bool{}
	add := func(role string) {
		r := inv.findRole(role)
		if r == nil {
			return
		}
		for _, name := range r.Services {
			if s := inv.findService(name); s != nil && s.Enabled && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	add(AllRole)
	for _, role := range h.Roles {
		if role != AllRole {
			add(role)
		}
	}
	return out
}

// Runs says whether h runs the service (enabled, through one of its roles).
func (inv *Inventory) Runs(h *Host, service string) bool {
	return slices.Contains(inv.HostServices(h), service)
}

// HostsWithRole lists, in declaration order, the hosts that have the role;
// every host has role "all".
func (inv *Inventory) HostsWithRole(role string) []*Host {
	var out []*Host
	for _, h := range inv.Hosts {
		if role == AllRole || slices.Contains(h.Roles, role) {
			out = append(out, h)
		}
	}
	return out
}

// Bastion returns the host h is reached through (its via), or nil.
func (inv *Inventory) Bastion(h *Host) *Host {
	if h.Via == "" {
		return nil
	}
	return inv.findHost(h.Via)
}

// The find helpers fall back to a scan so that an Inventory built by hand
// (in other packages' tests) works without Load.

func (inv *Inventory) findHost(name string) *Host {
	if inv.hosts != nil {
		return inv.hosts[name]
	}
	for _, h := range inv.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

func (inv *Inventory) findRole(name string) *Role {
	if inv.roles != nil {
		return inv.roles[name]
	}
	for _, r := range inv.Roles {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func (inv *Inventory) findService(name string) *Service {
	if inv.services != nil {
		return inv.services[name]
	}
	for _, s := range inv.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}
