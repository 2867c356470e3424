package engine

import (
	"strings"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/inventory"
)

// withConfig puts a config step before the first start of every instance
// a start or restart launches whose service declares configuration: the
// target, and the dependents a `restart --cascade` restarts. They all come
// together right before the target's first step that changes anything
// (its pre-stop, drain, stop, pre-start or start), after confirm,
// check-stopped, check-deps and find-dependents: a validation that fails
// leaves every service as it was. A dependent's config step belongs to
// its cascade group: it runs only when the dependent was running, as its
// restart does. The stop, verify-stopped and start of a restart stay back
// to back (restart_fused.go).
//
// The ensure of a stopped dependency starts it with what its host has: it
// does not apply the dependency's configuration (`omni config apply` or
// its own start does; `omni config diff` shows it pending).
func withConfig(inv *inventory.Inventory, plan *Plan) []Task {
	action := plan.Request.Action
	if action != "start" && action != "restart" {
		return plan.Tasks
	}
	target := Instance{Host: plan.Host.Name, Service: plan.Service.Name}
	mine := func(t Task) bool {
		return t.Host == target.Host && t.Service == target.Service && t.Group == "" && t.Cascade == NoCascade
	}
	var adds []Task
	if declares(inv, target.Host, target.Service) && hasStart(plan.Tasks, mine) {
		adds = append(adds, configTask(inv, Task{Host: target.Host, Service: target.Service}))
	}
	if action == "restart" && plan.Request.Cascade {
		seen := map[string]bool{}
		for _, t := range plan.Tasks {
			if t.Cascade != CascadeRestart || t.Step != StepStart || seen[t.Group] {
				continue
			}
			seen[t.Group] = true
			if declares(inv, t.Host, t.Service) {
				adds = append(adds, configTask(inv, t))
			}
		}
	}
	if len(adds) == 0 {
		return plan.Tasks
	}
	out := make([]Task, 0, len(plan.Tasks)+len(adds))
	placed := false
	for _, t := range plan.Tasks {
		if !placed && mine(t) && changesService(t.Step) {
			out = append(out, adds...)
			placed = true
		}
		out = append(out, t)
	}
	if !placed {
		return plan.Tasks
	}
	return out
}

// changesService: the steps of the target before which its configuration
// must be in place, and nothing may have changed yet.
func changesService(s StepName) bool {
	switch s {
	case StepPreStop, StepDrain, StepStop, StepPreStart, StepStart:
		return true
	}
	return false
}

func hasStart(tasks []Task, mine func(Task) bool) bool {
	for _, t := range tasks {
		if t.Step == StepStart && mine(t) {
			return true
		}
	}
	return false
}

// configTask is the config step of the instance of around, in its group.
func configTask(inv *inventory.Inventory, around Task) Task {
	info, _ := LookupStep(StepConfig)
	return Task{Step: StepConfig, Host: around.Host, Service: around.Service,
		Timeout: info.defaultTimeout(bounds{inv: inv}),
		Detail:  configDetail(inv, around.Host, around.Service),
		Why:     around.Why, Group: around.Group, Cascade: around.Cascade}
}

// configDetail names the files the step may write.
func configDetail(inv *inventory.Inventory, host, service string) string {
	const what = "write the declared configuration when the host's copy differs"
	set, err := config.Render(inv, host, service)
	if err != nil {
		return what + " (it cannot be rendered: " + err.Error() + ")"
	}
	paths := make([]string, len(set.Files))
	for i, f := range set.Files {
		paths[i] = f.Path
	}
	return what + ": " + strings.Join(paths, ", ")
}
