package engine

import (
	"fmt"
	"strings"
)

// dependencyPreflight looks at the dependency checks of the preflight's
// health reports. A dependency that is down on a host is named, host and
// service, in a preflight line. The run touches a host only if it will fix
// what it found: a start or restart starts a stopped dependency first (its
// check-deps step), so the run goes on; with --no-deps, or when the
// dependency runs but is unhealthy (or could not be read), the plan would
// refuse on that host, so nothing is touched anywhere: those hosts fail
// with the reason and the run is aborted before its first batch. It
// reports whether the run may go on.
func (r *fleetRunner) dependencyPreflight(before []InstanceStatus) bool {
	var blocked []string
	for i, st := range before {
		t := r.Targets[i]
		policy := t.Plan.DependencyPolicy()
		if st.Err != nil || policy == DepsIgnored {
			continue
		}
		var reasons []string
		for _, p := range DependencyProblems(st.Health) {
			what := fmt.Sprintf("%s: %s (required) %s", t.Host, dependencyName(p.Need, t.Host), p.Sentence())
			switch {
			case policy == DepsRefused:
				what += ": --no-deps: it will not be started"
				reasons = append(reasons, what)
			case !p.Startable:
				what += ": a restart does not fix it"
				reasons = append(reasons, what)
			default:
				what += ": it will be started first"
			}
			r.emit(FleetEvent{Kind: EventPreflight, Msg: what})
		}
		if len(reasons) > 0 {
			hr := r.rep.Hosts[i]
			hr.Result, hr.Err = HostFailed, fmt.Errorf("preflight: %s", strings.Join(reasons, "; "))
			r.emit(FleetEvent{Kind: EventFinish, Host: hr.Host, Report: hr})
			blocked = append(blocked, t.Host)
		}
	}
	if len(blocked) == 0 {
		return true
	}
	r.abort(fmt.Sprintf("a service required on %s is not running and healthy, and this run would not bring it back (see the preflight); fix it first%s: no host was touched",
		strings.Join(blocked, ", "), orWithoutNoDeps(r.Targets)))
	return false
}

// dependencyName is a requirement as a preflight line names it: the
// service alone when it is on the host itself.
func dependencyName(need, host string) string {
	return strings.TrimSuffix(need, "@"+host)
}

// orWithoutNoDeps suggests dropping --no-deps when the run has it.
func orWithoutNoDeps(targets []Target) string {
	if len(targets) > 0 && targets[0].Plan.Request.NoDeps {
		return ", or run without --no-deps"
	}
	return ""
}
