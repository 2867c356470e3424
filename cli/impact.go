package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/inventory"
)

// impactHosts is how many hosts a line of an impact names before it counts
// the rest ("and 90 more"): a fleet of 100 hosts stays readable.
const impactHosts = 10

// fleetImpact is the one impact of a fleet's targets (engine.Impact): what
// loses the service when all of them stop together.
func fleetImpact(inv *inventory.Inventory, targets []engine.Target) []engine.Instance {
	if len(targets) == 0 {
		return nil
	}
	list := make([]engine.Instance, len(targets))
	for i, t := range targets {
		list[i] = engine.Instance{Host: t.Host, Service: t.Plan.Service.Name}
	}
	return engine.Impact(inv, list)
}

// writeInstances writes a heading with the count, then one indented line
// per service naming its hosts.
func writeInstances(w io.Writer, heading string, list []engine.Instance) {
	fmt.Fprintf(w, "%s (%s):\n", heading, engine.CountInstances(list))
	for _, line := range engine.DescribeInstances(list, impactHosts) {
		fmt.Fprintf(w, "  %s\n", line)
	}
}

// instanceStrings is list as "svc@host" strings, for the JSON documents.
func instanceStrings(list []engine.Instance) []string {
	var out []string
	for _, x := range list {
		out = append(out, x.String())
	}
	return out
}

// notCascaded is the part of a fleet's impact that no host's --cascade
// stops: instances that need the service on a role, which lose it only
// when every instance on the role stops, so no single host's plan has them
// among its dependents.
func notCascaded(targets []engine.Target, impact []engine.Instance) []engine.Instance {
	covered := map[engine.Instance]bool{}
	for _, t := range targets {
		for _, d := range t.Plan.Dependents {
			covered[d] = true
		}
	}
	var out []engine.Instance
	for _, d := range impact {
		if !covered[d] {
			out = append(out, d)
		}
	}
	return out
}

// writeImpact is a fleet's impact as the confirmation and --dry-run show
// it: every dependent on every host, grouped by service, and what the run
// does with them.
func writeImpact(w io.Writer, opts *serviceOptions, service string, targets []engine.Target, impact []engine.Instance) {
	if len(impact) == 0 {
		return
	}
	verb := map[string]string{"stop": "stopped first", "restart": "restarted after it"}[opts.Action]
	if opts.Action == "stop" {
		writeInstances(w, "Services that lose "+service+" where they run", impact)
	} else {
		writeInstances(w, "Services that depend on "+service, impact)
	}
	switch {
	case opts.Cascade:
		fmt.Fprintf(w, "--cascade: on each host, the running ones that depend on its %s are %s.\n", service, verb)
		if left := notCascaded(targets, impact); len(left) > 0 {
			writeInstances(w, "Not "+strings.TrimSuffix(strings.TrimSuffix(verb, " first"), " after it")+
				" by --cascade: they lose "+service+" only when every host of the run is without it", left)
		}
	case opts.Action == "restart":
		fmt.Fprintln(w, "They are not restarted (pass --cascade to restart, on each host, the running ones that depend on its "+service+").")
	}
}
