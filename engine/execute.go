package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// Conn is an open connection to one host.
type Conn interface {
	manager.Runner
	health.Dialer
	Stream(ctx context.Context, cmd string, stdout, stderr io.Writer) (exitCode int, err error)
}

// Connector opens (or reuses) the connection to a host.
type Connector interface {
	Connect(ctx context.Context, h *inventory.Host) (Conn, error)
}

// Env is what Execute needs from the outside world.
type Env struct {
	Inventory *inventory.Inventory
	Connector Connector
	Registry  registry.Registry
	Stdout    io.Writer          // logs output
	Stderr    io.Writer          // logs output
	Now       func() time.Time   // defaults to time.Now
	OnStep    func(r StepResult) // called after each step (progress output); may be nil
	// Run is the run's event ID, named in the registry's drain mark.
	Run string
	// Confirm is asked by the confirm step when the stop needs agreement
	// (critical, impact text, running dependents). It returns nil to go on;
	// any error ends the run before anything changed. Nil refuses.
	Confirm func(ctx context.Context, c Confirmation) error
	// Watched says that the caller reads the target's state over the
	// same connection once the plan is done (a rolling run's --min-ready
	// watch): the health step then keeps the host's remote shell for it
	// instead of ending it ahead (see processPassed).
	Watched bool
	// Soft, when set, is the first interrupt of a run of one host (ctx,
	// Execute's, is the second). Until the first step that changes the
	// service (a stop, a start, a dependency's start, a configuration
	// write: StepInfo.Changes) it ends the step in flight and the run, as
	// ctx does; a drain or a pre_stop hook in flight is undone as after a
	// failure. From that step on it is ignored, so that a signal between a
	// stop and its start does not leave the service down: the steps finish,
	// each bounded by its timeout, and only ctx cancels them.
	Soft context.Context
	// Changing, when set with Soft, is called once, as the run begins its
	// first step that changes the service: from then on a first interrupt
	// lets the run finish (the cli says so).
	Changing func()
	// shared coordinates the plans of one fleet run that act on the same
	// other instance (shared.go); nil for a run of one host.
	shared *sharedWork
}

// changes says whether a step changes the service: from its first such
// step on, a run of one host goes on through a first interrupt (Env.Soft).
func changes(step StepName) bool {
	info, ok := LookupStep(step)
	return ok && info.Changes
}

// StepResult is how one task went.
type StepResult struct {
	Task     Task          `json:"task"`
	Status   StepStatus    `json:"status"`
	Duration time.Duration `json:"duration"`
	// Note is what the step found ("already running", "passed"); for a
	// skipped step, why it did not run. Text is the note as shown.
	Note string `json:"note,omitempty"`
	// Warning is what went wrong in a step that succeeded anyway: a hook
	// with on_failure: warn that failed (step_hook.go).
	Warning string `json:"warning,omitempty"`
	// Effect is what a step that succeeded did to its service or found of
	// it, typed, for a renderer to go by instead of the note's words:
	// started, stopped, healthy, degraded; "" when none of these (it found
	// the service as it should be and left it, was skipped, or failed).
	Effect StepEffect `json:"effect,omitempty"`
	Err    error      `json:"-"` // nil when the step succeeded or was skipped
}

// StepEffect is what a step that succeeded did or found (StepResult.Effect).
type StepEffect string

// The effects. A step's note says the same in words ("started",
// "stopped", "passed", "passed; degraded: why").
const (
	EffectNone     StepEffect = ""
	EffectStarted  StepEffect = "started"  // start, or ensure: it started the service
	EffectStopped  StepEffect = "stopped"  // stop: it stopped the service (not "already stopped")
	EffectHealthy  StepEffect = "healthy"  // health: every check passed
	EffectDegraded StepEffect = "degraded" // health: passed, but an optional reach check failed
)

// StepStatus is how a step ended.
type StepStatus string

// The statuses of a step: it ran and succeeded (including finding there
// was nothing to do), did not run, or failed (Err says why).
const (
	StepOK      StepStatus = "ok"
	StepSkipped StepStatus = "skipped"
	StepFailed  StepStatus = "failed"
)

// Text is the step's note as shown to people: a skipped step's reads
// "skipped: " and why.
func (r StepResult) Text() string {
	if r.Status == StepSkipped {
		return "skipped: " + r.Note
	}
	if r.Warning != "" {
		return r.Note + "; warning: " + r.Warning
	}
	return r.Note
}

// Outcome is the result of executing a plan on one (host, service).
type Outcome struct {
	Host       string
	Service    string
	Action     string
	Unchanged  string         // non-empty when there was nothing to do: "already running"
	State      manager.State  // the final state, read by the record step
	Uptime     time.Duration  // how long it has been running, when it runs
	LastActive time.Time      // when it was last active, when it is stopped
	Health     *health.Report // nil when no health step ran
	Steps      []StepResult
	Err        error // the first failure, a *StepError or a connection error
	// NotRestarted lists the running dependents a restart without
	// --cascade left as they were.
	NotRestarted []Instance
	// Unchecked lists the dependents whose state a restart could not read
	// (find-dependents), and UncheckedErrs why, one error each in its order
	// (Classify tells a host unreachable from a status that failed).
	Unchecked     []Instance
	UncheckedErrs []error
	// RoundTrips: by host, the round trips its connection waited for, read
	// at the end of the run (see countRoundTrips); nil when the Connector
	// does not count them.
	RoundTrips map[string]transport.RoundTrips
	// Config is what the config steps wrote, file by file (hashes only).
	Config []InstanceChange
	// FinishedFirst: a first interrupt (Env.Soft) came once the run had
	// begun changing the service, and the run was finished rather than
	// left halfway, without a failure. It counts as interrupted.
	FinishedFirst bool
}

// FinishedFirstNote says what FinishedFirst means, in the words the
// output and the history use.
func (o *Outcome) FinishedFirstNote() string {
	return "interrupted after the " + o.Action + " had begun changing the service: it was finished first (a second interrupt cancels the steps in flight)"
}

// StepError is a step that failed on a host.
type StepError struct {
	Host, Service string
	Step          StepName
	Err           error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s: %s: %s: %v", e.Host, e.Service, e.Step, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// HealthError is a health check that did not pass.
type HealthError struct{ Report health.Report }

func (e *HealthError) Error() string { return e.Report.Failure() }

// errNothingToDo ends a run early without failing it.
var errNothingToDo = errors.New("nothing to do")

// Execute runs the plan's tasks in order. After a failure it still runs the
// target's record step, so the registry says what the service was left as.
// When it returns it releases every connection it opened (when the
// Connector is a Releaser): a host another caller still uses stays
// connected, any other is let go, its remote shell ended.
func Execute(ctx context.Context, plan *Plan, env Env) *Outcome {
	if env.Now == nil {
		env.Now = time.Now
	}
	run := &execution{ctx: ctx, plan: plan, env: env,
		target: Instance{Host: plan.Host.Name, Service: plan.Service.Name},
		mgrs:   map[Instance]manager.Manager{},
		groups: map[string]string{}, stopped: map[Instance]time.Time{}, seen: map[Instance]time.Time{}, started: map[Instance]bool{}, startBegun: map[Instance]bool{}, startFailed: map[Instance]bool{}, deps: newGraph(env.Inventory),
		out: &Outcome{Host: plan.Host.Name, Service: plan.Service.Name, Action: plan.Request.Action},
	}
	run.conns = newConnSet(run.connect)
	run.check = &checker{inv: env.Inventory, deps: run.deps, conn: run.conn, mgr: run.manager}
	defer run.release()
	defer run.countRoundTrips() // before the release
	// The other hosts the run will read connect while the target's does.
	run.conns.prefetch(ctx, prefetchHosts(plan, run.deps))
	run.changed, run.hard = env.Soft == nil, ctx
	defer func() {
		run.out.FinishedFirst = env.Soft != nil && run.changed && env.Soft.Err() != nil && run.out.Err == nil
	}()
	if !run.changed {
		// Until a step changes the service, the first interrupt ends the
		// step in flight too.
		either, cancel := context.WithCancel(ctx)
		defer context.AfterFunc(env.Soft, cancel)()
		defer cancel()
		run.ctx = either
	}
	if env.shared != nil {
		env.shared.begin(plan.Host.Name, plan)
		defer env.shared.end(plan.Host.Name)
		defer run.leaveShared(false)
	}
	for i := 0; i < len(plan.Tasks); i++ {
		task := plan.Tasks[i]
		run.rest = plan.Tasks[i+1:]
		if env.shared != nil {
			run.takeTurn(plan.Tasks[i:])
		}
		// An ensure changes the service only if it must start the
		// dependency: it says so itself then (beginChange).
		if !run.changed && changes(task.Step) && task.Step != StepEnsure {
			if err := run.beginChange(); err != nil {
				run.out.Err = err
				run.finish(plan.Tasks[i:])
				return run.out
			}
		}
		if skip, why := run.skipGroup(task); skip {
			run.note(task, why)
			continue
		}
		n, err := run.fusedRestart(plan.Tasks[i:]) // stop and start in one script
		if n == 0 {
			err = run.step(task)
		} else {
			i += n - 1
		}
		if errors.Is(err, errNothingToDo) {
			run.finish(plan.Tasks[i+1:])
			return run.out
		}
		if err != nil {
			run.out.Err = err
			run.finish(plan.Tasks[i+1:])
			return run.out
		}
	}
	run.leaveShared(true)
	return run.out
}

type execution struct {
	ctx context.Context
	// hard is Execute's ctx: only it ends a step that changes the service
	// (see Env.Soft); changed: the run has begun changing it.
	hard    context.Context
	changed bool
	plan    *Plan
	env     Env
	target  Instance
	conns   *connSet                     // one connection per host for the run
	mgrsMu  sync.Mutex                   // the dependency checks run side by side
	mgrs    map[Instance]manager.Manager // instance -> its manager
	groups  map[string]string            // group -> "" (runs) or why it is skipped
	running map[Instance]bool            // dependents found running (find-dependents)
	// losesLast are the running services that need the target on a role
	// and lose it for a restart, it being the last running and healthy
	// instance there (find-dependents).
	losesLast []Instance
	stopped   map[Instance]time.Time // when the stop step saw an instance go down
	seenMu    sync.Mutex
	seen      map[Instance]time.Time // when a state read of this run last saw an instance running
	started   map[Instance]bool      // instances this run started (their log tail explains a failed health check)
	// startBegun are the instances whose start this run has begun (sent to
	// the host), whether it succeeded or not: their state is not known
	// from the stop's any more.
	startBegun map[Instance]bool
	// startFailed are the instances this run started whose health check or
	// post_start hook then failed (an ensure's dependency): they do not run
	// with their applied configuration as far as the registry is told.
	startFailed map[Instance]bool
	drained     map[Instance]bool // instances this run drained and has not undrained (drain.go)
	// before is what the drain step read of an instance's server before
	// it changed anything (step_undrain.go: undoDrain).
	before map[Instance]serverBefore
	// preStopBegun are the instances whose pre_stop hooks this run began:
	// should their stop not happen, their post_stop hooks run all the
	// same, with OMNI_RESULT=failed (finish).
	preStopBegun map[Instance]bool
	deps         *graph   // the inventory's dependency graph, built once
	check        *checker // health, as status and the preflight see it
	out          *Outcome
	// rest are the plan's tasks after the one running now.
	rest []Task
	// fresh is what the step just finished established about an instance,
	// for the step right after it (its stepCall.known): what the step
	// handed on with stepCall.leave (a stop that verified the process
	// gone, the state a passing health check's process check read), or
	// the state the restart script read after the start. It saves the
	// next step an SSH session to read what is already known. Only
	// execution.step and the restart script set it.
	fresh *freshState
	// inGroup is the shared key of the task before (sharedKey);
	// sharedHeld, the group this plan runs while the fleet's other plans
	// wait (shared.go), and sharedRestart whether it is a cascade restart.
	inGroup       string
	sharedHeld    string
	sharedRestart bool
}

// freshState is an instance's state as the previous step left it known.
type freshState struct {
	inst  Instance
	state manager.State
	// afterStart: read right after the start, by the restart script: the
	// health step's first process check (restart_fused.go).
	afterStart bool
}

// finish runs the target's record step of the remaining tasks, whatever
// happened, so the registry says what the service was left as, then its
// report-dependents once find-dependents has run (the running dependents a
// failed restart left are named as after a successful one), and before
// it the undrain step when the run drained or read the target's server,
// or began its start (undoDrain says what it does). After an interrupt it
// still runs them, on a short context of their own.
//
// The post_stop hooks of an instance still run when its stop failed, as
// systemd's ExecStopPost does, and when its pre_stop hooks began but its
// stop did not happen (a pre_stop that failed or vetoed, an interrupt, a
// drain that failed): OMNI_RESULT=failed, so that they can undo what
// pre_stop began (a hook drain). Also after an interrupt, bounded by their
// step's timeout (a second interrupt still ends them).
//
// A pre_stop hook that vetoed the target's stop left the target as it
// was: its record is not rewritten either (a server drained is still put
// back).
func (r *execution) finish(rest []Task) {
	failedStop := r.failedStop()
	vetoed := r.vetoed()
	postStopDue := func(inst Instance) bool {
		return (failedStop != nil && *failedStop == inst) || (r.preStopBegun[inst] && !r.stopTookEffect(inst))
	}
	postStopRan := map[Instance]bool{}
	for _, task := range rest {
		if task.Step == StepReportDependents && r.running != nil {
			// The running dependents were left as they were, the
			// restart having failed or not: they are named.
			_ = r.step(task)
			continue
		}
		if inst := r.instance(task); task.Step == StepPostStop && postStopDue(inst) && !postStopRan[inst] {
			postStopRan[inst] = true
			if r.ctx.Err() != nil {
				base := r.hard // a first interrupt (Env.Soft) lets them run
				if base.Err() != nil {
					base = context.WithoutCancel(r.ctx)
				}
				ctx, cancel := context.WithTimeout(base, task.Timeout+hookMargin)
				defer cancel()
				r.ctx = ctx
			}
			_ = r.step(task) // the run has failed already: its error is the first
			continue
		}
		inst := r.instance(task)
		_, read := r.before[inst]
		undrain := task.Step == StepUndrain && inst == r.target && (r.drained[inst] || read || r.startBegun[inst])
		if vetoed && !undrain {
			continue
		}
		if (task.Step != StepRecord && !undrain) || r.instance(task) != r.target || !r.conns.opened(task.Host) {
			continue
		}
		if r.ctx.Err() != nil {
			bound := interruptedRecordTimeout
			if undrain {
				bound = undrainTimeout
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), bound)
			defer cancel()
			r.ctx = ctx
		}
		if err := r.step(task); err != nil && r.out.Err == nil {
			r.out.Err = err
		}
	}
}

// failedStop is the instance whose stop or verify-stopped step just
// failed, nil when the last step is no such failure.
func (r *execution) failedStop() *Instance {
	if len(r.out.Steps) == 0 {
		return nil
	}
	last := r.out.Steps[len(r.out.Steps)-1]
	if last.Status != StepFailed || (last.Task.Step != StepStop && last.Task.Step != StepVerifyStopped) {
		return nil
	}
	inst := r.instance(last.Task)
	return &inst
}

// vetoed reports a run whose last step is the target's failed pre-stop:
// nothing of the target changed.
func (r *execution) vetoed() bool {
	if len(r.out.Steps) == 0 {
		return false
	}
	last := r.out.Steps[len(r.out.Steps)-1]
	return last.Status == StepFailed && last.Task.Step == StepPreStop && r.instance(last.Task) == r.target && last.Task.Group == ""
}

// interruptedRecordTimeout bounds the record step of an interrupted run.
const interruptedRecordTimeout = 5 * time.Second

func (r *execution) instance(t Task) Instance { return Instance{Host: t.Host, Service: t.Service} }

// skipGroup decides, at the first task of a group, whether the group runs:
// a role-level dependency already satisfied by a healthy instance, or a
// cascade dependent that was not running, is left alone.
func (r *execution) skipGroup(t Task) (bool, string) {
	if t.Dependent != nil && r.running != nil && !r.running[*t.Dependent] {
		// A requirement of a dependent the cascade does not restart.
		return true, t.Dependent.String() + " was not running: not restarted, its requirements left as they are"
	}
	if t.Group == "" {
		return false, ""
	}
	if why, decided := r.groups[t.Group]; decided {
		return why != "", why
	}
	why := ""
	switch {
	case t.Step == StepEnsure && t.Role != "" && t.Group == t.Service+"@"+t.Role:
		// the role item itself decides on its own when it runs
	case t.Cascade != NoCascade:
		inst := r.instance(t)
		if r.running != nil && !r.running[inst] {
			why = "was not running: left as it is"
		} else if r.running == nil {
			st, err := r.status(r.ctx, inst)
			if err == nil && atRest(st) {
				why = "not running: left as it is"
			}
		}
	default: // tasks of a role-level fallback: only if the role has no healthy instance
		if read := r.check.healthyOnRole(r.ctx, t.Group); read.ok() {
			why = "not needed: " + t.Group + " satisfied by " + read.found.String()
		}
	}
	r.groups[t.Group] = why
	return why != "", why
}

// sharedKey is what the plans of a fleet run take turns on (shared.go):
// a dependency's or dependent's group, or the instance an ensure outside
// any group acts on; "" for the target's own tasks.
func sharedKey(t Task) string {
	switch {
	case t.Group != "":
		return t.Group
	case t.Step == StepEnsure:
		return Instance{Host: t.Host, Service: t.Service}.String()
	}
	return ""
}

// segmentRestarts says whether the tasks from tasks[0] on that share its
// key, up to the first that does not, are a cascade restart (restarts).
func segmentRestarts(tasks []Task, key string) bool {
	for _, t := range tasks {
		if sharedKey(t) != key {
			return false
		}
		if restarts(t) {
			return true
		}
	}
	return false
}

// takeTurn, in a fleet run, at the task tasks[0]: when it starts another
// shared key than the task before, it leaves the group held (if any) and
// enters the new one, waiting for the other plans as shared.go says; a
// group another plan did the work of is then noted as skipped.
func (r *execution) takeTurn(tasks []Task) {
	key := sharedKey(tasks[0])
	if key == r.inGroup {
		return
	}
	r.leaveShared(true)
	r.inGroup = key
	if key == "" {
		return
	}
	if skip, _ := r.skipGroup(tasks[0]); skip {
		r.env.shared.skipped(r.plan.Host.Name, key)
		return
	}
	restart := segmentRestarts(tasks, key)
	switch held, by := r.env.shared.enter(r.ctx, r.plan.Host.Name, key, restart); {
	case held:
		r.sharedHeld, r.sharedRestart = key, restart
	case by != "":
		r.groups[tasks[0].Group] = "restarted by " + by + "'s plan of this run, after this host's"
	}
}

// leaveShared ends this plan's hold on the group it runs for the fleet's
// plans (if any); done says that the group's tasks all ran (a failure
// ends the run).
func (r *execution) leaveShared(done bool) {
	if r.sharedHeld == "" {
		return
	}
	r.env.shared.leave(r.plan.Host.Name, r.sharedHeld, done && r.sharedRestart && r.out.Err == nil)
	r.sharedHeld = ""
}

// note records a task that did not run, with why.
func (r *execution) note(t Task, why string) {
	res := StepResult{Task: t, Status: StepSkipped, Note: why}
	r.out.Steps = append(r.out.Steps, res)
	if r.env.OnStep != nil {
		r.env.OnStep(res)
	}
}

func (r *execution) step(task Task) error {
	ctx := r.ctx
	if task.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, task.Timeout)
		defer cancel()
		ctx = ownBound(ctx)
	}
	began := r.env.Now()
	known := r.fresh // valid for this step only
	r.fresh = nil
	// The connection has its own dial and handshake deadlines: it does not
	// count against the step's timeout.
	conn, err := r.conn(r.ctx, task.Host)
	var note, warning string
	var said stepOutput
	if err == nil {
		note, said, err = r.do(ctx, conn, task, known)
	}
	var warned *stepWarning
	if errors.As(err, &warned) {
		warning, err = warned.msg, warned.then
	}
	if err == nil {
		r.fresh = said.known
	}
	var refused *RefusedError
	if err != nil && !errors.Is(err, errNothingToDo) && conn != nil && !errors.As(err, &refused) {
		if ctx.Err() == context.DeadlineExceeded && r.ctx.Err() == nil {
			err = keepTail(err, keepEnded(err, &TimeoutError{After: task.Timeout}))
		} else if r.ctx.Err() != nil {
			err = keepEnded(err, fmt.Errorf("interrupted: %w", r.ctx.Err()))
		}
		err = &StepError{Host: task.Host, Service: task.Service, Step: task.Step, Err: err}
	}
	var left *leftDrainingError
	if errors.As(err, &left) && r.out.Err != nil {
		// An undo that failed after the run's own failure: the run's
		// error is the first one, and this is said beside it.
		warning = left.Error()
	}
	res := StepResult{Task: task, Status: StepOK, Duration: r.env.Now().Sub(began), Note: note, Warning: warning, Err: err}
	if errors.Is(err, errNothingToDo) {
		res.Err = nil // the step succeeded: it found there is nothing to do
	} else if err != nil {
		res.Status = StepFailed
	} else {
		res.Effect = said.effect
	}
	r.reportResult(res)
	return err
}

// conn opens a host's connection on first use (or waits for the dial
// Execute started ahead); one per host for the run.
func (r *execution) conn(ctx context.Context, host string) (Conn, error) {
	return r.conns.get(ctx, host)
}

// connect opens a host's connection, with the command timeout's bound.
func (r *execution) connect(ctx context.Context, host string) (Conn, error) {
	h, err := r.env.Inventory.Host(host)
	if err != nil {
		return nil, err
	}
	c, err := r.env.Connector.Connect(ctx, h)
	if err != nil {
		return nil, &connectError{Host: host, Err: err} // whose connection it was, for hostResult
	}
	return withBound(c, commandTimeout(r.env.Inventory)), nil
}

// release lets go of the run's connections, after their last use.
func (r *execution) release() {
	rel, _ := r.env.Connector.(Releaser)
	r.conns.release(rel)
}

// manager returns the manager of an instance.
func (r *execution) manager(inst Instance) (manager.Manager, error) {
	r.mgrsMu.Lock()
	defer r.mgrsMu.Unlock()
	if m, ok := r.mgrs[inst]; ok {
		return m, nil
	}
	h, err := r.env.Inventory.Host(inst.Host)
	if err != nil {
		return nil, err
	}
	svc, err := r.env.Inventory.Service(inst.Service)
	if err != nil {
		return nil, err
	}
	m, err := manager.New(manager.Target{Host: h, Service: svc, EnvFile: envFileOf(r.env.Inventory, h, svc)})
	if err != nil {
		return nil, err
	}
	r.mgrs[inst] = m
	return m, nil
}

// status reads an instance's state over its host's connection.
func (r *execution) status(ctx context.Context, inst Instance) (manager.State, error) {
	conn, m, err := reachInstance(ctx, r.conn, r.manager, inst)
	if err != nil {
		return manager.State{}, err
	}
	return m.Status(ctx, conn)
}

// reachInstance gives inst's host's connection, from conn, and inst's
// manager, from mgr: what reading or checking inst needs.
func reachInstance(ctx context.Context, conn func(context.Context, string) (Conn, error),
	mgr func(Instance) (manager.Manager, error), inst Instance) (Conn, manager.Manager, error) {
	c, err := conn(ctx, inst.Host)
	if err != nil {
		return nil, nil, err
	}
	m, err := mgr(inst)
	if err != nil {
		return nil, nil, err
	}
	return c, m, nil
}

// knownState returns the state the previous step established for inst.
func knownState(known *freshState, inst Instance) (manager.State, bool) {
	if known == nil || known.inst != inst {
		return manager.State{}, false
	}
	return known.state, true
}

// atRest reports a service that is stopped and will stay so by itself.
func atRest(st manager.State) bool {
	return !st.Running && (st.Status == "stopped" || st.Status == "failed")
}

// sawRunning notes that a state read saw inst running now: the last time
// it was active, should it be found stopped at the record step (a
// service that died right after its start).
func (r *execution) sawRunning(inst Instance) {
	r.seenMu.Lock()
	r.seen[inst] = r.env.Now()
	r.seenMu.Unlock()
}

// lastSeen is when this run last knew inst active: it saw it running, or
// stopped it; zero when neither.
func (r *execution) lastSeen(inst Instance) time.Time {
	r.seenMu.Lock()
	defer r.seenMu.Unlock()
	last := r.stopped[inst]
	if s := r.seen[inst]; s.After(last) {
		last = s
	}
	return last
}

// beginChange marks the run as changing the service from now on (see
// Env.Soft): a first interrupt then lets the steps finish. It fails, with
// nothing changed, when the first interrupt has come already.
func (r *execution) beginChange() error {
	if r.changed {
		return nil
	}
	if err := r.env.Soft.Err(); err != nil {
		return fmt.Errorf("interrupted before anything changed: %w", err)
	}
	r.changed, r.ctx = true, r.hard
	if r.env.Changing != nil {
		r.env.Changing()
	}
	return nil
}

// changingNow is beginChange for a step under way that changes the service
// only part of the time (ensure: when the dependency must be started): it
// returns the step's ctx as it must be from then on, ended by the step's
// deadline and the hard context only, not by a first interrupt, and the
// function that releases it.
func (r *execution) changingNow(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if r.changed {
		return ctx, func() {}, nil
	}
	if err := r.beginChange(); err != nil {
		return ctx, func() {}, err
	}
	base := context.WithoutCancel(ctx) // its values kept
	var next context.Context
	var cancel context.CancelFunc
	if d, ok := ctx.Deadline(); ok {
		next, cancel = context.WithDeadline(base, d)
	} else {
		next, cancel = context.WithCancel(base)
	}
	stop := context.AfterFunc(r.hard, cancel)
	return next, func() { stop(); cancel() }, nil
}
