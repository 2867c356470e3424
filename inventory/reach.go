package inventory

import (
	"fmt"
	"net"
	"strings"

	"gopkg.in/yaml.v3"
)

// Reach modes of a requirement (key `reach` of a requires entry written
// as a mapping).
const (
	// ReachRequired: a failed reach check fails the dependent's health,
	// and so a start or restart of it.
	ReachRequired = "required"
	// ReachOptional: a failed reach check makes the dependent degraded,
	// shown and recorded; its health still passes.
	ReachOptional = "optional"
	// ReachOff: no reach check.
	ReachOff = "off"
)

// ReachModes are the values `reach` takes.
var ReachModes = []string{ReachRequired, ReachOptional, ReachOff}

// requireKeys are the keys of a requires entry written as a mapping.
var requireKeys = []string{"service", "port", "address", "http", "reach"}

// ReachSpec is the reach check of one requires edge: a TCP connection
// opened from the dependent's host (through its SSH connection) to the
// dependency's address and port, and optionally a GET of the dependency's
// health URL over it. Load fills it for every edge:
//
//   - a plain string ("svc", "svc@host", "svc@role"): optional for a
//     service on another host that has a port to check (health.port, else
//     health.http.port), else off — a same-host dependency's own port
//     check already dials the same address from the same host;
//   - a mapping ({service: svc@host, port, address, http, reach}): reach
//     defaults to optional, port to the dependency's health.port (else
//     health.http.port; with http: true, health.http.port first), and one
//     of them must exist unless reach is off.
type ReachSpec struct {
	Mode string // ReachRequired, ReachOptional or ReachOff (effective)
	// Port to connect to (effective; 0 when Mode is ReachOff).
	Port int
	// Address the dependent connects to; "" means the dependency host's
	// service_address, or its address when that is a loopback address and
	// the hosts differ (see inventory.ReachAddress).
	Address string
	// HTTP also sends a GET to the dependency's health.http path on Port
	// and expects its status.
	HTTP bool
	// Explicit: the entry was written as a mapping.
	Explicit bool
}

// Checked says whether the edge has a reach check.
func (r ReachSpec) Checked() bool { return r.Mode != "" && r.Mode != ReachOff }

// ReachAddress is the address a dependent on host from connects to for a
// dependency on host to: the edge's address, else to's service_address,
// else (when that is a loopback address and the hosts differ: the
// dependency's services listen on its own loopback, which from is not on)
// to's address.
func ReachAddress(from, to *Host, r ReachSpec) string {
	if r.Address != "" {
		return r.Address
	}
	if from.Name != to.Name && isLoopback(to.ServiceAddress) {
		return to.Address
	}
	return to.ServiceAddress
}

func isLoopback(addr string) bool {
	if addr == "localhost" {
		return true
	}
	ip := net.ParseIP(addr)
	return ip != nil && ip.IsLoopback()
}

// requiresList decodes a service's `requires`: a list whose items are
// strings or mappings with the keys of requireKeys. It returns the
// requirement strings, and keeps each mapping's reach settings for
// checkReach.
func (l *loader) requiresList(x entry, s *Service, where string) ([]item, bool) {
	what := "requires " + where
	v := x.val
	if isNull(v) {
		return nil, true
	}
	if v.Kind != yaml.SequenceNode {
		l.errorf(x.line(), "invalid %s: must be a list, got %s", what, describe(v))
		return nil, false
	}
	items := make([]item, 0, len(v.Content))
	ok := true
	for _, n := range v.Content {
		line, aliased := n.Line, n.Kind == yaml.AliasNode // an alias is used at its own line, not its anchor's
		n = resolve(n)
		if n.Kind == yaml.MappingNode {
			it, spec, good := l.requireMapping(n, s)
			if !good {
				ok = false
				continue
			}
			if aliased {
				it.line = line
			}
			if l.reachOf == nil {
				l.reachOf = map[*Service]map[string]ReachSpec{}
			}
			if l.reachOf[s] == nil {
				l.reachOf[s] = map[string]ReachSpec{}
			}
			if _, dup := l.reachOf[s][it.value]; !dup {
				l.reachOf[s][it.value] = spec
			}
			items = append(items, it)
			continue
		}
		if n.Kind != yaml.ScalarNode || isNull(n) || n.Value == "" {
			l.errorf(line, "invalid %s: items must be names or mappings {service: ..., reach: ...}, got %s", what, describe(n))
			ok = false
			continue
		}
		items = append(items, item{n.Value, line})
	}
	return items, ok
}

// requireMapping decodes one requires entry written as a mapping.
func (l *loader) requireMapping(n *yaml.Node, s *Service) (item, ReachSpec, bool) {
	what := fmt.Sprintf("requires entry of service %q", s.Name)
	where := "in " + what
	spec := ReachSpec{Explicit: true}
	f, ok := l.fields(n, n.Line, what, requireKeys...)
	if !ok {
		return item{}, spec, false
	}
	var it item
	if x, found := f["service"]; !found {
		l.errorf(n.Line, "missing required key %q in %s", "service", what)
		ok = false
	} else if v, good := l.str(x, where); good {
		it = item{v, x.line()}
	} else {
		ok = false
	}
	if x, found := f["port"]; found {
		spec.Port, _ = l.port(x, where)
	}
	if x, found := f["address"]; found {
		if v, good := l.str(x, where); good {
			// The dependent dials it, as health checks dial a
			// service_address: an address, as for a host's.
			if p := addressProblem(v); p != "" {
				l.invalid(x, where, "%q %s", v, p)
			}
			spec.Address = v
		}
	}
	if x, found := f["http"]; found {
		spec.HTTP, _ = l.boolean(x, where)
	}
	if x, found := f["reach"]; found {
		if v, good := l.str(x, where); good {
			switch v {
			case ReachRequired, ReachOptional, ReachOff:
				spec.Mode = v
			default:
				l.invalid(x, where, "%q is not one of %s", v, strings.Join(ReachModes, ", "))
			}
		}
	}
	return it, spec, ok
}

// checkReach settles the reach check of requirement r of s (resolved by
// checkRequires, written at line): its effective mode and port.
func (l *loader) checkReach(inv *Inventory, s *Service, r *Requirement, line int) {
	spec, explicit := l.reachOf[s][r.String()]
	if !explicit {
		spec = ReachSpec{}
	}
	dep := inv.services[r.Service]
	if dep == nil {
		return
	}
	port := spec.Port
	if port == 0 && explicit && spec.HTTP && dep.Health.HTTP != nil {
		port = dep.Health.HTTP.Port // the GET goes where the health GET goes
	}
	if port == 0 {
		port = dep.Health.Port
	}
	if port == 0 && dep.Health.HTTP != nil {
		port = dep.Health.HTTP.Port
	}
	if !explicit {
		spec.Mode = ReachOff
		if !r.SameHost() && port > 0 {
			spec.Mode, spec.Port = ReachOptional, port
		}
		r.Reach = spec
		return
	}
	if spec.Mode == "" {
		spec.Mode = ReachOptional
	}
	if spec.Mode == ReachOff {
		r.Reach = ReachSpec{Mode: ReachOff, Explicit: true}
		return
	}
	if port == 0 {
		l.errorf(line, "requires entry %q of service %q has no port to reach: set port, or health.port of service %q (or reach: off)", r.String(), s.Name, dep.Name)
	}
	if spec.HTTP && dep.Health.HTTP == nil {
		l.errorf(line, "requires entry %q of service %q sets http: true, but service %q has no health.http check to probe", r.String(), s.Name, dep.Name)
		spec.HTTP = false
	}
	spec.Port = port
	r.Reach = spec
}
