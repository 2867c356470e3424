package engine

import (
	"fmt"
	"strings"

	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
	"github.com/omni-fleet/omni/registry"
)

// Targets plans a command over a target that is not one host (a role, a
// glob, a list, all): one plan per host that runs the service, in target
// order; skipped names the hosts of the target that do not run it. A
// target where no host runs it is a *UsageError.
func Targets(inv *inventory.Inventory, pb *playbooks.Playbook, req Request) (targets []Target, skipped []string, err error) {
	svc, err := inv.Service(req.Service)
	if err != nil {
		return nil, nil, err
	}
	hosts, err := inv.Select(req.Host)
	if err != nil {
		return nil, nil, err
	}
	for _, h := range hosts {
		if !inv.Runs(h, svc.Name) {
			skipped = append(skipped, h.Name)
			continue
		}
		one := req
		one.Host, one.Service = h.Name, svc.Name
		plan, err := NewPlan(inv, pb, one)
		if err != nil {
			return nil, nil, err
		}
		targets = append(targets, Target{Host: h.Name, Plan: plan})
	}
	if len(targets) == 0 {
		return nil, skipped, &UsageError{fmt.Sprintf("no host of %q runs %s (the hosts: %s)", req.Host, svc.Name, strings.Join(skipped, ", "))}
	}
	return targets, skipped, nil
}

// Resume keeps the targets the last run of the same command on the same
// target (req.Host) did not finish: failed, unreachable, interrupted,
// untouched. note says what it found, for the operator. No such run in the
// registry is a *UsageError.
func Resume(reg registry.Store, req Request, targets []Target) (keep []Target, note string, err error) {
	events, err := reg.Events(registry.EventQuery{Service: req.Service})
	if err != nil {
		return nil, "", err
	}
	var last *registry.Event
	for i, e := range events {
		if commandAction(e.Command) != req.Action {
			continue
		}
		if e.Host == "" && e.Target == req.Host && len(e.Hosts) > 0 {
			last = &events[i]
			break
		}
		if e.Run == "" && e.Host == req.Host && len(targets) == 1 && targets[0].Host == req.Host {
			// The last run was of this one host alone (the target is a
			// host): it is left to do unless that run succeeded.
			when := e.Started.UTC().Format("2006-01-02 15:04:05 UTC")
			if succeeded(e) {
				return nil, fmt.Sprintf("the run of %s finished on %s; nothing to do", when, req.Host), nil
			}
			return targets, fmt.Sprintf("the run of %s left %s to do", when, req.Host), nil
		}
	}
	if last == nil {
		return nil, "", &UsageError{fmt.Sprintf("--resume: no earlier run of %q on %q for %s in the registry", req.Action, req.Host, req.Service)}
	}
	finished := map[string]bool{}
	if last.Complete {
		for _, h := range last.Hosts {
			if HostResult(h.Result).Succeeded() {
				finished[h.Host] = true
			}
		}
	} else {
		// The run died (SIGKILL, power): its hosts' own events say which
		// finished.
		for _, e := range events {
			if e.Run == last.ID && succeeded(e) {
				finished[e.Host] = true
			}
		}
	}
	planned := map[string]bool{}
	for _, h := range last.Hosts {
		planned[h.Host] = true
	}
	var names []string
	targeted := map[string]bool{}
	for _, t := range targets {
		targeted[t.Host] = true
		if planned[t.Host] && !finished[t.Host] {
			keep = append(keep, t)
			names = append(names, t.Host)
		}
	}
	// A host the last run left to do that is no longer a target (taken
	// out of the inventory, or of the role, since): named, not dropped in
	// silence (found by review).
	var gone []string
	for _, h := range last.Hosts {
		if !finished[h.Host] && !targeted[h.Host] {
			gone = append(gone, h.Host)
		}
	}
	goneNote := ""
	if len(gone) > 0 {
		goneNote = fmt.Sprintf("; %s no longer a target (not in the inventory's %s) and left out: %s",
			plural.N(len(gone), "host it left is", "hosts it left are"), req.Host, strings.Join(gone, ", "))
	}
	when := last.Started.UTC().Format("2006-01-02 15:04:05 UTC")
	left := len(keep) + len(gone)
	if left == 0 {
		return nil, fmt.Sprintf("the run of %s finished on every host; nothing to do", when), nil
	}
	if len(keep) == 0 {
		return nil, fmt.Sprintf("the run of %s left %d of %s to do, none of them a target now; nothing to do%s",
			when, left, plural.N(len(last.Hosts), "host", "hosts"), goneNote), nil
	}
	return keep, fmt.Sprintf("the run of %s left %d of %s to do: %s%s", when, left, plural.N(len(last.Hosts), "host", "hosts"), strings.Join(names, ", "), goneNote), nil
}

// succeeded says whether a host's own event ended done: ok or unchanged.
func succeeded(e registry.Event) bool {
	return e.Complete && (e.Result == string(ClassOK) || e.Result == "unchanged")
}

// commandAction is the first word of an event's command: "restart".
func commandAction(command string) string {
	action, _, _ := strings.Cut(command, " ")
	return action
}
