package inventory

import "strings"

// Requirement is one entry of a service's `requires`:
//
//	svc        svc on the same host
//	svc@host   svc on that host
//	svc@role   any instance of svc on a host with that role
type Requirement struct {
	Service string
	Host    string // set for svc@host (after Load)
	Role    string // set for svc@role (after Load)
	// At is the raw part after "@", host or role; "" for the same host.
	// ParseRequirement sets only Service and At: telling a host from a
	// role needs the inventory, which Load does.
	At string
	// Reach is the edge's reach check, settled by Load (reach.go).
	Reach ReachSpec
}

// SameHost says whether the requirement is on the requiring service's host.
func (r Requirement) SameHost() bool { return r.At == "" }

func (r Requirement) String() string {
	if r.At == "" {
		return r.Service
	}
	return r.Service + "@" + r.At
}

// ParseRequirement splits "svc" or "svc@qualifier". It does not validate;
// Load rejects malformed entries.
func ParseRequirement(s string) Requirement {
	svc, at, _ := strings.Cut(s, "@")
	return Requirement{Service: svc, At: at}
}

// Requirements returns the service's requires entries, parsed. For a service
// of a loaded inventory, Host or Role is set for every qualified entry.
func (s *Service) Requirements() []Requirement {
	if s.requirements != nil || len(s.Requires) == 0 {
		return append([]Requirement(nil), s.requirements...)
	}
	reqs := make([]Requirement, len(s.Requires))
	for i, r := range s.Requires {
		reqs[i] = ParseRequirement(r)
	}
	return reqs
}
