package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"

	"github.com/omni-fleet/omni/internal/plural"
)

// Request is one command as the operator typed it.
type Request struct {
	Action  string // start, stop, restart, logs
	Host    string
	Service string
	Lines   int  // logs: how many lines
	Follow  bool // logs: keep streaming
	NoDeps  bool // start, restart: refuse if a dependency is down instead of starting it
	Cascade bool // stop: stop the dependents first; restart: restart them after
}

// Task is one playbook step bound to a (host, service).
type Task struct {
	Step    StepName      `json:"step"`
	Host    string        `json:"host"`
	Service string        `json:"service"`
	Timeout time.Duration `json:"timeout,omitempty"` // 0: no limit of its own
	Grace   time.Duration `json:"grace,omitempty"`   // stop: SIGTERM → SIGKILL
	Detail  string        `json:"detail"`            // what the step will do, for the plan table
	Why     string        `json:"why,omitempty"`     // why a dependency or cascade added it
	// Group ties the tasks of one dependency or dependent together: Execute
	// decides once, at the group's first task, whether the group runs.
	Group string `json:"group,omitempty"`
	Role  string `json:"role,omitempty"` // ensure of svc@role: any instance on the role will do
	// Cascade marks the tasks --cascade adds on a dependent, and which
	// (Why says the same in words, for people).
	Cascade Cascade `json:"cascade,omitempty"`
	// Dependent, on the ensure (or --no-deps check-deps) of a requirement
	// of a dependent a restart --cascade will restart, is that dependent:
	// the task runs only if find-dependents found it running.
	Dependent *Instance `json:"dependent,omitempty"`
}

// Cascade says whether a task runs on a dependent for --cascade, and for
// which command.
type Cascade string

// The cascades: none (the target's own tasks, dependencies), the stop of a
// dependent before its dependency stops, the restart of a dependent after
// its dependency restarted.
const (
	NoCascade      Cascade = ""
	CascadeStop    Cascade = "stop"
	CascadeRestart Cascade = "restart"
)

// Confirmation is what must be shown, and agreed to, before anything
// changes: the static part is known when planning, the running dependents
// only at run time (the confirm step asks through Env.Confirm).
type Confirmation struct {
	Reason  string     // "container-runtime is a critical service"
	Impact  string     // the service's impact text, may be empty
	Running []Instance // dependents found running (run time only)
	Unknown []Instance // dependents whose state could not be read (run time only)
	// UnknownErrs says why, one error for each of Unknown, in its order:
	// transport.IsUnreachable tells a host that could not be reached from
	// one that answered but whose status failed.
	UnknownErrs []error
	// LosesLast are running dependents that need the service on a role
	// ("storage-agent@worker") and lose the last running and healthy
	// instance of it there with this stop (run time only). --cascade does
	// not stop them: they are left without it.
	LosesLast []Instance
	Cascade   bool // --cascade: the running dependents will be stopped too
}

// Plan is the ordered task list of one command.
type Plan struct {
	Request  Request
	Playbook string
	Host     *inventory.Host
	Service  *inventory.Service
	Tasks    []Task
	Confirm  *Confirmation // nil when no confirmation is needed (decided again at run time)
	// Dependents are the instances that depend on the service, directly or
	// not, in the order to stop them (each before what it needs).
	Dependents []Instance
}

// UsageError is a request that cannot be planned: exit code 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// stopMargin is the stop step's time after the grace period: SIGKILL and
// its verification (at most 5 s), and the status command the stop script
// runs first.
const stopMargin = 20 * time.Second

// commandTimeout is the inventory's command_timeout: the bound of the steps
// that read a state (check-stopped, verify-stopped, check-deps,
// find-dependents, record) and of every remote command without a bound of
// its own (see withBound).
func commandTimeout(inv *inventory.Inventory) time.Duration {
	if inv != nil && inv.Defaults.CommandTimeout > 0 {
		return inv.Defaults.CommandTimeout
	}
	return inventory.DefaultCommandTimeout
}

// NewPlan binds the playbook's steps to the requested host and service. It
// does no I/O.
func NewPlan(inv *inventory.Inventory, pb *playbooks.Playbook, req Request) (*Plan, error) {
	host, err := inv.Host(req.Host)
	if err != nil {
		return nil, err
	}
	svc, err := inv.Service(req.Service)
	if err != nil {
		return nil, err
	}
	if !svc.Enabled {
		return nil, &UsageError{fmt.Sprintf("service %q is disabled in the inventory (enabled: false)", svc.Name)}
	}
	if !inv.Runs(host, svc.Name) {
		return nil, &UsageError{fmt.Sprintf("host %q does not run %q: its roles (%s) run %s",
			host.Name, svc.Name, strings.Join(host.Roles, ", "), orNone(inv.HostServices(host)))}
	}
	plan := &Plan{Request: req, Playbook: pb.Name, Host: host, Service: svc}
	g := newGraph(inv)
	target := Instance{Host: host.Name, Service: svc.Name}
	if req.Action == "stop" || req.Action == "restart" {
		plan.Dependents = g.dependentClosure(target)
	}
	var perDependent []StepName // what a --cascade runs on each dependent
	switch {
	case req.Cascade && req.Action == "stop":
		perDependent = cascadeStopSteps
	case req.Cascade && req.Action == "restart":
		perDependent = cascadeRestartSteps
	}
	plan.Tasks = make([]Task, 0, len(pb.Steps)+2+len(perDependent)*len(plan.Dependents))
	templates := map[string][]Task{} // cascade tasks of a service, host left blank
	for _, step := range pb.Steps {
		switch StepName(step.Name) {
		case StepConfirm:
			byRole := g.neededOnRole(target)
			if !svc.Critical && svc.Impact == "" && len(plan.Dependents) == 0 && len(byRole) == 0 {
				continue // nothing to confirm: the step drops out of the plan
			}
			var reasons []string
			if svc.Critical || svc.Impact != "" {
				plan.Confirm = &Confirmation{Impact: svc.Impact}
				if svc.Critical {
					plan.Confirm.Reason = fmt.Sprintf("%s is a critical service", svc.Name)
				}
				reasons = append(reasons, strings.TrimSuffix(firstNonEmpty(svc.Impact, plan.Confirm.Reason), "."))
			}
			if n := len(plan.Dependents); n > 0 {
				reasons = append(reasons, fmt.Sprintf("%d %s on it (%s): listed if running", n, plural.Word(n, "service depends", "services depend"), instanceList(plan.Dependents, 4)))
			}
			if len(byRole) > 0 {
				reasons = append(reasons, fmt.Sprintf("%s on a role it is on (%s): listed if running and this is the last healthy instance there",
					plural.Word(len(byRole), "a service needs it", "services need it"), strings.Join(byRole, ", ")))
			}
			detail := "ask before going on: " + strings.Join(reasons, "; ")
			plan.Tasks = append(plan.Tasks, Task{Step: StepConfirm, Host: host.Name, Service: svc.Name, Detail: detail})
		case StepCheckDeps:
			plan.Tasks = append(plan.Tasks, dependencyTasks(g, inv, target, step, req.NoDeps)...)
		case StepStop:
			if req.Action == "stop" && req.Cascade {
				for _, d := range plan.Dependents {
					plan.Tasks = appendCascade(plan.Tasks, templates, inv, d, target, cascadeStopSteps, CascadeStop)
				}
			}
			if byRole := g.neededOnRole(target); req.Action == "restart" && (len(plan.Dependents) > 0 || len(byRole) > 0) {
				// Which dependents run is known only now, before anything changes.
				var notes []string
				if len(plan.Dependents) > 0 {
					notes = append(notes, fmt.Sprintf("note which of its %s (%s)", plural.N(len(plan.Dependents), "dependent runs", "dependents run"), instanceList(plan.Dependents, 4)))
				}
				if len(byRole) > 0 {
					notes = append(notes, fmt.Sprintf("note the running services that need it on a role it is on (%s) when this is the last healthy instance there", strings.Join(byRole, ", ")))
				}
				plan.Tasks = append(plan.Tasks, Task{Step: StepFindDependents, Host: host.Name, Service: svc.Name, Timeout: commandTimeout(inv),
					Detail: strings.Join(notes, "; ")})
			}
			if req.Action == "restart" && req.Cascade && pb.Has(string(StepStop)) {
				plan.Tasks = append(plan.Tasks, cascadeDependencyTasks(g, inv, target, plan.Dependents, step, req.NoDeps)...)
			}
			if t, ok := drainTask(inv, host, svc, req); ok {
				plan.Tasks = append(plan.Tasks, t)
			}
			plan.Tasks = append(plan.Tasks, stepTask(inv, step, host, svc, req))
		default:
			task := stepTask(inv, step, host, svc, req)
			if task.Step == "" {
				return nil, fmt.Errorf("%s: step %q is not supported by this version of omni", pb.Source, step.Name)
			}
			if task.Step == StepLogs && svc.Manager == "command" && svc.Commands.Logs == "" {
				return nil, &UsageError{fmt.Sprintf("service %q has no logs command in the inventory (commands.logs)", svc.Name)}
			}
			if t, ok := undrainTask(inv, host, svc, req); ok && task.Step == StepRecord {
				plan.Tasks = append(plan.Tasks, t)
			}
			plan.Tasks = append(plan.Tasks, task)
		}
	}
	// Its dependents are restarted (or listed) only when the target goes
	// down: a restart playbook without a stop leaves them as they are.
	byRole := g.neededOnRole(target)
	if req.Action == "restart" && (len(plan.Dependents) > 0 || len(byRole) > 0) && pb.Has(string(StepStop)) {
		if req.Cascade {
			for i := len(plan.Dependents) - 1; i >= 0; i-- { // dependencies first
				plan.Tasks = appendCascade(plan.Tasks, templates, inv, plan.Dependents[i], target, cascadeRestartSteps, CascadeRestart)
			}
		}
		switch {
		case !req.Cascade:
			plan.Tasks = append(plan.Tasks, Task{Step: StepReportDependents, Host: host.Name, Service: svc.Name,
				Detail: "list the running dependents that were not restarted (--cascade restarts them)"})
		case len(byRole) > 0:
			plan.Tasks = append(plan.Tasks, Task{Step: StepReportDependents, Host: host.Name, Service: svc.Name,
				Detail: "list the running services that lost it for the restart, being the last healthy instance on a role they need (--cascade does not restart them)"})
		}
	}
	plan.Tasks = withHooks(inv, plan)  // plan_hooks.go
	plan.Tasks = withConfig(inv, plan) // plan_config.go
	return plan, nil
}

// stepTask binds one playbook step to an instance, with its timeouts: the
// playbook's, else the registry's default (see steps.go).
func stepTask(inv *inventory.Inventory, step playbooks.Step, host *inventory.Host, svc *inventory.Service, req Request) Task {
	name := StepName(step.Name)
	task := Task{Step: name, Host: host.Name, Service: svc.Name}
	info, _ := LookupStep(name)
	if name == StepStop {
		task.Grace = or(step.Grace, svc.StopGrace)
	}
	task.Timeout = or(step.Timeout, info.defaultTimeout(bounds{inv: inv, svc: svc, grace: task.Grace, follow: req.Follow}))
	if info.describe == nil {
		return Task{} // not a step a playbook may name here
	}
	task.Detail = info.describe(describing{inv: inv, host: host, svc: svc, req: req, grace: task.Grace})
	return task
}

// dependencyTasks is what the check-deps step (start, restart) becomes:
// with --no-deps one check of every dependency; otherwise one ensure task
// per dependency, transitively, each after what it needs.
func dependencyTasks(g *graph, inv *inventory.Inventory, target Instance, step playbooks.Step, noDeps bool) []Task {
	items := g.ensureClosure(target)
	if len(items) == 0 {
		return []Task{{Step: StepCheckDeps, Host: target.Host, Service: target.Service, Timeout: or(step.Timeout, commandTimeout(inv)), Detail: "no dependencies"}}
	}
	if noDeps {
		var names []string
		for _, it := range items {
			if it.group == "" || it.group == it.need.String() {
				names = append(names, it.need.String())
			}
		}
		return []Task{{Step: StepCheckDeps, Host: target.Host, Service: target.Service, Timeout: or(step.Timeout, commandTimeout(inv)),
			Detail: "--no-deps: refuse unless these run and are healthy: " + strings.Join(names, ", ")}}
	}
	return ensureTasks(inv, items)
}

// ensureTasks is one ensure task per item, in their order.
func ensureTasks(inv *inventory.Inventory, items []ensureItem) []Task {
	var tasks []Task
	for _, it := range items {
		t := Task{Step: StepEnsure, Why: "required by " + it.by.String(), Group: it.group}
		svc, _ := inv.Service(it.need.svc)
		if it.need.role != "" {
			t.Host, t.Service, t.Role = it.fallback.Host, it.need.svc, it.need.role
			t.Detail = fmt.Sprintf("any %s on a %s host running and healthy; else start it on %s", it.need.svc, it.need.role, it.fallback.Host)
			if it.fallback.Host == "" {
				t.Detail = fmt.Sprintf("any %s on a %s host running and healthy (no host to start it on)", it.need.svc, it.need.role)
			}
		} else {
			t.Host, t.Service = it.need.inst.Host, it.need.inst.Service
			t.Detail = "running and healthy; if stopped, start it and check its health"
		}
		if it.group != "" && it.group != it.need.String() {
			t.Why += " (only if no " + it.group + " is healthy)"
		}
		ensure, _ := LookupStep(StepEnsure)
		t.Timeout = ensure.defaultTimeout(bounds{inv: inv, svc: svc})
		tasks = append(tasks, t)
	}
	return tasks
}

// cascadeDependencyTasks is what a restart --cascade does, before its
// first change, for the requirements of the dependents it will restart
// that lie outside the cascade (neither the target nor another dependent
// it restarts, nor what the target's own check-deps ensures): what a
// plain restart of each dependent would do, its ensures (start what is
// down, in dependency order; refuse when that cannot be done) or, with
// --no-deps, its check. Each task names its dependent (Task.Dependent):
// it runs only when the dependent was found running. Dependencies first,
// as the cascade restarts them.
func cascadeDependencyTasks(g *graph, inv *inventory.Inventory, target Instance, dependents []Instance, step playbooks.Step, noDeps bool) []Task {
	ensured := map[string]bool{} // the target's own ensures
	for _, it := range g.ensureClosure(target) {
		ensured[it.group+"|"+it.need.String()] = true
	}
	restarted := map[Instance]bool{target: true} // their own requirements are seen to on their own
	for _, d := range dependents {
		restarted[d] = true
	}
	var tasks []Task
	for i := len(dependents) - 1; i >= 0; i-- {
		d := dependents[i]
		var items []ensureItem
		var names []string
		closure := g.ensureClosure(d)
		insideRole := map[string]bool{} // role requirements the cascade meets: their fallbacks too
		for _, it := range closure {
			if it.need.role != "" && g.cascadeMeets(target, dependents, it.need) {
				insideRole[it.need.String()] = true
			}
		}
		for _, it := range closure {
			if g.cascadeMeets(target, dependents, it.need) || insideRole[it.group] || ensured[it.group+"|"+it.need.String()] ||
				(it.by != d && restarted[it.by]) {
				continue
			}
			items = append(items, it)
			if it.group == "" || it.group == it.need.String() {
				names = append(names, it.need.String())
			}
		}
		if len(items) == 0 {
			continue
		}
		var add []Task
		if noDeps {
			add = []Task{{Step: StepCheckDeps, Host: d.Host, Service: d.Service, Timeout: or(step.Timeout, commandTimeout(inv)),
				Detail: "--no-deps: refuse unless these run and are healthy: " + strings.Join(names, ", ")}}
		} else {
			add = ensureTasks(inv, items)
		}
		for _, t := range add {
			t.Dependent = &d
			t.Why = strings.TrimSpace(t.Why + " (--cascade restarts " + d.String() + " after " + target.String() + ")")
			tasks = append(tasks, t)
		}
	}
	return tasks
}

// cascadeMeets says whether n is met by the cascade of a restart of
// target: it is target or one of the dependents the cascade restarts (for
// a role, one of them is on it).
func (g *graph) cascadeMeets(target Instance, dependents []Instance, n need) bool {
	if g.satisfies(n, target) {
		return true
	}
	for _, d := range dependents {
		if g.satisfies(n, d) {
			return true
		}
	}
	return false
}

// The steps a --cascade runs on each running dependent: stopped before
// the target's stop (stop --cascade); restarted after the target, the
// dependencies of a dependent before it (restart --cascade).
var (
	cascadeStopSteps    = []StepName{StepStop, StepVerifyStopped, StepRecord}
	cascadeRestartSteps = []StepName{StepStop, StepVerifyStopped, StepStart, StepHealth, StepRecord}
)

// appendCascade appends the steps run on a dependent for --cascade. The
// tasks of a service are the same on every host but for the host and the
// group, so they are built once per service (a fleet-wide cascade has tens
// of thousands of dependents).
func appendCascade(tasks []Task, templates map[string][]Task, inv *inventory.Inventory, d, target Instance, steps []StepName, cascade Cascade) []Task {
	tmpl, ok := templates[d.Service]
	if !ok {
		host, _ := inv.Host(d.Host)
		svc, _ := inv.Service(d.Service)
		why := "depends on " + target.String() + " (--cascade " + string(cascade) + ")"
		for _, name := range steps {
			t := stepTask(inv, playbooks.Step{Name: string(name)}, host, svc, Request{})
			t.Why, t.Cascade = why, cascade
			tmpl = append(tmpl, t)
		}
		templates[d.Service] = tmpl
	}
	group := d.String()
	for _, t := range tmpl {
		t.Host, t.Group = d.Host, group
		tasks = append(tasks, t)
	}
	return tasks
}

// instanceList names up to max instances, then how many more.
func instanceList(list []Instance, max int) string {
	var names []string
	for i, x := range list {
		if i == max {
			names = append(names, fmt.Sprintf("and %d more", len(list)-max))
			break
		}
		names = append(names, x.String())
	}
	return strings.Join(names, ", ")
}

func describeHealth(h inventory.Health) string {
	var checks []string
	if h.Process {
		checks = append(checks, "process")
	}
	if h.Port > 0 {
		checks = append(checks, fmt.Sprintf("port %d", h.Port))
	}
	if h.HTTP != nil {
		checks = append(checks, fmt.Sprintf("http GET :%d%s → %d", h.HTTP.Port, h.HTTP.Path, h.HTTP.Expect))
	}
	if len(checks) == 0 {
		return "no health checks configured"
	}
	return fmt.Sprintf("%s (%s; %s each)", strings.Join(checks, ", "), describeSchedule(h), h.Timeout)
}

// describeSchedule says how a failing check is retried, as health.retry
// does it: the attempts its budget (retries × interval) allows, the
// shorter first pauses, and that the budget counts only once the checks
// before it passed (until then a check keeps trying, so it may make more).
func describeSchedule(h inventory.Health) string {
	attempts, short := health.Schedule(h)
	switch {
	case attempts == 1:
		return "1 attempt"
	case h.Interval <= 0:
		return fmt.Sprintf("%d attempts back to back", attempts)
	}
	pauses := make([]string, 0, len(short)+1)
	for _, p := range short {
		pauses = append(pauses, p.String())
	}
	pauses = append(pauses, h.Interval.String())
	last := len(pauses) - 1
	if last > 0 {
		pauses[last] = "then " + pauses[last]
	}
	return fmt.Sprintf("%d attempts, pausing %s: at most %s of pauses, counted once the checks before it pass", attempts,
		strings.Join(pauses, ", "), time.Duration(h.Retries)*h.Interval)
}

func or(d, fallback time.Duration) time.Duration {
	if d != 0 {
		return d
	}
	return fallback
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
