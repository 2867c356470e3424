package engine

import (
	"time"

	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
)

// StepName names a step: what a playbook's `step:` says and what a task
// runs. The constants below are every step the engine knows.
type StepName string

// The steps, in the order a plan runs them when they all appear.
const (
	StepConfirm          StepName = "confirm"
	StepCheckStopped     StepName = "check-stopped"
	StepCheckDeps        StepName = "check-deps"
	StepEnsure           StepName = "ensure"
	StepFindDependents   StepName = "find-dependents"
	StepConfig           StepName = "config"
	StepPreStop          StepName = "pre-stop"
	StepDrain            StepName = "drain"
	StepStop             StepName = "stop"
	StepVerifyStopped    StepName = "verify-stopped"
	StepPostStop         StepName = "post-stop"
	StepPreStart         StepName = "pre-start"
	StepStart            StepName = "start"
	StepHealth           StepName = "health"
	StepPostStart        StepName = "post-start"
	StepUndrain          StepName = "undrain"
	StepRecord           StepName = "record"
	StepReportDependents StepName = "report-dependents"
	StepLogs             StepName = "logs"
)

// StepInfo is what the engine's step registry says of one step.
type StepInfo struct {
	Name    StepName
	Summary string // what the step does
	// Playbook: a playbook may name the step. The others are added by the
	// planner (ensure for each dependency, find-dependents and
	// report-dependents around a restart, drain and undrain around the
	// stop of a service with a drain).
	Playbook bool
	// Timeout says in words the step's bound when its playbook sets none.
	Timeout string
	Grace   bool // a playbook may set its grace (the stop)
	Changes bool // it changes the service (stop, start)
	// DecideFirst and Last are the safety rules of playbooks: a step that
	// must come before the first step that changes the service, a step
	// that must be the last one.
	DecideFirst bool
	Last        bool
	// Needs are the safety steps a playbook that names this step must
	// have too, whichever playbook it is (start: check-deps and record).
	// NeedsUnless are needed as well unless an Unless step follows this
	// one (stop: confirm, unless a start follows, as in a restart).
	Needs, NeedsUnless []StepName
	Unless             StepName
	// timeout computes the default bound from the inventory; 0 is none.
	timeout func(b bounds) time.Duration
	// describe says what the step will do, for the plan (--dry-run, -v),
	// when a playbook names it; nil for the steps the planner writes
	// itself (plan.go) and those a playbook cannot name.
	describe func(d describing) string
}

// describing is what a step's plan text is written from.
type describing struct {
	inv   *inventory.Inventory
	host  *inventory.Host
	svc   *inventory.Service
	req   Request
	grace time.Duration // the stop's grace, already resolved
}

// bounds is what a step's default timeout is computed from.
type bounds struct {
	inv    *inventory.Inventory
	svc    *inventory.Service
	grace  time.Duration // the stop's grace, already resolved
	follow bool          // logs -f
}

// steps is the registry, in plan order.
var steps = []StepInfo{
	{Name: StepConfirm, Playbook: true, DecideFirst: true, Timeout: "none",
		Summary: "warn about the impact and ask for confirmation (critical service, impact text or running dependents)"},
	{Name: StepCheckStopped, Playbook: true, Timeout: "command_timeout", timeout: byCommand,
		describe: describeCheckStopped,
		Summary:  "verify the service is stopped; if it already runs there is nothing to do"},
	{Name: StepCheckDeps, Playbook: true, DecideFirst: true, Timeout: "command_timeout", timeout: byCommand,
		Summary: "the services it requires run and are healthy: stopped ones are started first (--no-deps: refuse instead)"},
	{Name: StepEnsure, Timeout: "the dependency's start_timeout + command_timeout", Changes: true,
		timeout: func(b bounds) time.Duration {
			if b.svc == nil {
				return 0
			}
			return b.svc.StartTimeout + commandTimeout(b.inv)
		},
		Summary: "one dependency runs and is healthy; if stopped, start it, check its health and record it"},
	{Name: StepFindDependents, Timeout: "command_timeout", timeout: byCommand,
		Summary: "note which dependents run, before a restart changes anything"},
	{Name: StepConfig, Timeout: "2 × command_timeout (the read, then the write)", Changes: true,
		timeout: func(b bounds) time.Duration { return 2 * commandTimeout(b.inv) },
		Summary: "write the service's declared configuration (env file, drop-in, files) when the host's copy differs, validated, atomically, with a daemon-reload when a drop-in changed; a failed validation writes nothing and fails the run before anything else changed"},
	{Name: StepPreStop, Timeout: hookStepTimeout, timeout: hooksTimeout("pre_stop"),
		Summary: "the service's pre_stop hooks, in order; a failed one (on_failure: abort, the default) vetoes the stop before anything changed"},
	{Name: StepDrain, Timeout: "the drain's timeout + command_timeout",
		timeout: func(b bounds) time.Duration {
			if d := drainOf(b.svc); d != nil {
				return d.Timeout + commandTimeout(b.inv)
			}
			return 0
		},
		Summary: "take the instance out of its load balancer (inventory drain): read its HAProxy server's state, set it to drain (unless an operator has it in maintenance or drain), wait for its sessions to end; a stop of a service already stopped drains nothing"},
	{Name: StepStop, Playbook: true, Grace: true, Changes: true, Timeout: "grace + 20s",
		Needs: []StepName{StepRecord}, NeedsUnless: []StepName{StepConfirm}, Unless: StepStart,
		timeout:  func(b bounds) time.Duration { return b.grace + stopMargin },
		describe: describeStop,
		Summary:  "graceful stop: SIGTERM (or the stop command), SIGKILL after the grace period"},
	{Name: StepVerifyStopped, Playbook: true, Timeout: "command_timeout", timeout: byCommand,
		describe: describeVerifyStopped,
		Summary:  "verify the process is gone (a zombie counts as stopped)"},
	{Name: StepPostStop, Timeout: hookStepTimeout, timeout: hooksTimeout("post_stop"),
		Summary: "the service's post_stop hooks, in order, also after a failed stop, and when its pre_stop hooks began but the stop did not happen (OMNI_RESULT=failed); a failed one is a warning unless on_failure: abort"},
	{Name: StepPreStart, Timeout: hookStepTimeout, timeout: hooksTimeout("pre_start"),
		Summary: "the service's pre_start hooks, in order; a failed one (on_failure: abort, the default) fails the start before the service is started"},
	{Name: StepStart, Playbook: true, Changes: true, Timeout: "the service's start_timeout",
		Needs:    []StepName{StepCheckDeps, StepRecord},
		timeout:  func(b bounds) time.Duration { return b.svc.StartTimeout },
		describe: describeStart,
		Summary:  "start the service"},
	{Name: StepHealth, Playbook: true, Timeout: "none of its own: the checks bound themselves",
		describe: describeHealthStep,
		Summary:  "run the health checks (process, port, HTTP) with retries, and its requirements' health"},
	{Name: StepPostStart, Timeout: hookStepTimeout, timeout: hooksTimeout("post_start"),
		Summary: "the service's post_start hooks, in order, once its health checks passed; a failed one (on_failure: abort, the default) is a failed health check"},
	{Name: StepUndrain, Timeout: "command_timeout", timeout: byCommand,
		Summary: "put the instance back in its load balancer once healthy: set its HAProxy server ready if it was ready before the run or drained by omni; a service that ends the run down or unhealthy keeps it drained (also after a failure or an interrupt)"},
	{Name: StepRecord, Playbook: true, Last: true, Timeout: "command_timeout", timeout: byCommand,
		describe: describeRecord,
		Summary:  "read the final state and update the service registry"},
	{Name: StepReportDependents, Timeout: "none",
		Summary: "list the running dependents a restart without --cascade left as they were"},
	{Name: StepLogs, Playbook: true, Timeout: "command_timeout; none with --follow",
		timeout: func(b bounds) time.Duration {
			if b.follow {
				return 0
			}
			return commandTimeout(b.inv)
		},
		describe: describeLogs,
		Summary:  "print the service's logs"},
}

func byCommand(b bounds) time.Duration { return commandTimeout(b.inv) }

func names(steps []StepName) []string {
	var out []string
	for _, s := range steps {
		out = append(out, string(s))
	}
	return out
}

// Steps returns the step registry, in plan order.
func Steps() []StepInfo { return append([]StepInfo(nil), steps...) }

// LookupStep returns what the registry says of a step.
func LookupStep(name StepName) (StepInfo, bool) {
	for _, s := range steps {
		if s.Name == name {
			return s, true
		}
	}
	return StepInfo{}, false
}

// defaultTimeout is the step's bound when its playbook sets none; 0 is none.
func (s StepInfo) defaultTimeout(b bounds) time.Duration {
	if s.timeout == nil {
		return 0
	}
	return s.timeout(b)
}

// Vocabulary is the steps a playbook may name, in plan order, with the
// safety rules each carries: what the playbooks package validates
// against (it keeps no list of its own).
func Vocabulary() playbooks.Vocabulary {
	var v playbooks.Vocabulary
	for _, s := range steps {
		if s.Playbook {
			v = append(v, playbooks.StepRule{Name: string(s.Name), Grace: s.Grace, Changes: s.Changes,
				DecideFirst: s.DecideFirst, Last: s.Last,
				Needs: names(s.Needs), NeedsUnless: names(s.NeedsUnless), Unless: string(s.Unless)})
		}
	}
	return v
}

// LoadPlaybooks loads the built-in playbooks and the overrides in dir
// (none when dir is ""), validated against the engine's steps.
func LoadPlaybooks(dir string) (*playbooks.Set, error) {
	return playbooks.LoadDir(dir, Vocabulary())
}
