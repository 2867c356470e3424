package engine

import (
	"fmt"
	"strings"

	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/inventory"
)

// Impact lists every instance that depends on one of targets, directly or
// not, and loses it when all of targets stop together, in the order to stop
// them (each before what it needs); the targets themselves are left out.
// It is the one impact computation: a plan's Dependents are the impact of
// its one target, a fleet's the impact of all its hosts at once, so an
// instance that needs "svc@role" is named when the fleet takes away every
// instance of svc on that role, though no single host's stop would.
func Impact(inv *inventory.Inventory, targets []Instance) []Instance {
	if len(targets) == 0 {
		return nil
	}
	g := newGraph(inv)
	// Host order, so the answer does not depend on the order targets came in.
	return g.dependentClosure(dedup(g.sorted(append([]Instance(nil), targets...)))...)
}

// InstanceGroup is the instances of one service: the hosts it runs on.
type InstanceGroup struct {
	Service string   `json:"service"`
	Hosts   []string `json:"hosts"`
}

// GroupInstances groups instances by service, the services in the order
// they first appear, each service's hosts in the order given.
func GroupInstances(list []Instance) []InstanceGroup {
	var out []InstanceGroup
	at := map[string]int{}
	for _, x := range list {
		i, ok := at[x.Service]
		if !ok {
			i = len(out)
			at[x.Service] = i
			out = append(out, InstanceGroup{Service: x.Service})
		}
		out[i].Hosts = append(out[i].Hosts, x.Host)
	}
	return out
}

// DescribeInstances is one line per service of list, naming its hosts:
// "container-runtime on worker1, worker2, worker3". A service on more than
// maxHosts hosts names the first maxHosts and counts the rest, never fewer
// than there are: "container-runtime on 100 hosts: worker001, …, worker010
// and 90 more".
func DescribeInstances(list []Instance, maxHosts int) []string {
	var lines []string
	for _, g := range GroupInstances(list) {
		if len(g.Hosts) <= maxHosts {
			lines = append(lines, g.Service+" on "+strings.Join(g.Hosts, ", "))
			continue
		}
		lines = append(lines, fmt.Sprintf("%s on %d hosts: %s and %d more", g.Service, len(g.Hosts),
			strings.Join(g.Hosts[:maxHosts], ", "), len(g.Hosts)-maxHosts))
	}
	return lines
}

// CountInstances says how many instances list holds, on how many hosts:
// "4 instances on 3 hosts", "1 instance on 1 host".
func CountInstances(list []Instance) string {
	hosts := map[string]bool{}
	for _, x := range list {
		hosts[x.Host] = true
	}
	return plural.N(len(list), "instance", "instances") + " on " + plural.N(len(hosts), "host", "hosts")
}
