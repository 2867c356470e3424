package engine

import (
	"fmt"
	"strings"

	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/inventory"
)

// withHooks puts the hook steps around the stops and starts of a plan's
// tasks, for every instance whose service has hooks of that kind (the
// target, the dependents of a cascade): pre-stop before the stop (the
// target's before its drain too),
// post-stop after the stop and its verify-stopped, pre-start before the
// start, post-start after the start's health step (after the start when
// no health step follows). The target's pre-stop of a `stop --cascade`
// comes before the dependents' stops, so that its veto leaves everything
// as it was. A hook task belongs to the group of the stop or start it
// surrounds: it runs, or is skipped, with it.
func withHooks(inv *inventory.Inventory, plan *Plan) []Task {
	hooked := false
	for _, s := range inv.Services {
		if hasHooks(s) {
			hooked = true
			break
		}
	}
	if !hooked {
		return plan.Tasks
	}
	tasks := plan.Tasks
	out := make([]Task, 0, len(tasks)+4)
	target := Instance{Host: plan.Host.Name, Service: plan.Service.Name}
	targetPreStop := false
	add := func(step StepName, around Task) {
		svc, err := inv.Service(around.Service)
		if err != nil {
			return
		}
		hooks := svc.Hooks.Of(hookKinds[step])
		if len(hooks) == 0 {
			return
		}
		out = append(out, Task{Step: step, Host: around.Host, Service: around.Service, Timeout: hooksBound(hooks),
			Detail: describeHooks(hooks), Why: around.Why, Group: around.Group, Role: around.Role, Cascade: around.Cascade})
	}
	same := func(a, b Task) bool { return a.Host == b.Host && a.Service == b.Service && a.Group == b.Group }
	for i, t := range tasks {
		var next *Task
		if i+1 < len(tasks) {
			next = &tasks[i+1]
		}
		mine := t.Host == target.Host && t.Service == target.Service && t.Group == "" && t.Cascade == NoCascade
		switch t.Step {
		case StepDrain, StepStop:
			// The target's pre-stop decides before anything changes: before
			// its drain, and before a cascade's first stop.
			if !targetPreStop && (mine || t.Cascade == CascadeStop) {
				add(StepPreStop, Task{Host: target.Host, Service: target.Service})
				targetPreStop = true
			}
			if t.Step == StepStop && !mine {
				add(StepPreStop, t)
			}
		case StepStart:
			add(StepPreStart, t)
		}
		out = append(out, t)
		switch {
		case t.Step == StepVerifyStopped,
			t.Step == StepStop && (next == nil || next.Step != StepVerifyStopped || !same(*next, t)):
			add(StepPostStop, t)
		case t.Step == StepHealth,
			t.Step == StepStart && (next == nil || next.Step != StepHealth || !same(*next, t)):
			add(StepPostStart, t)
		}
	}
	return out
}

func hasHooks(s *inventory.Service) bool {
	h := s.Hooks
	return len(h.PreStop)+len(h.PostStop)+len(h.PreStart)+len(h.PostStart) > 0
}

// describeHooks is a hook step's detail: each hook, where it runs, its
// timeout and failure policy.
func describeHooks(hooks []inventory.Hook) string {
	parts := make([]string, len(hooks))
	for i, h := range hooks {
		parts[i] = fmt.Sprintf("on %s: %s (%s, %s)", h.On, snippet(h.Run), h.Timeout, h.OnFailure)
	}
	return plural.N(len(hooks), "hook", "hooks") + ": " + strings.Join(parts, "; ")
}
