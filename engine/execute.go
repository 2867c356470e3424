package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
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
	// Confirm is asked by the confirm step when the stop needs agreement
	// (critical, impact text, running dependents). It returns nil to go on;
	// any error ends the run before anything changed. Nil refuses.
	Confirm func(ctx context.Context, c Confirmation) error
}

// StepResult is how one task went.
type StepResult struct {
	Task     Task          `json:"task"`
	Status   StepStatus    `json:"status"`
	Duration time.Duration `json:"duration"`
	// Note is what the step found ("already running", "passed"); for a
	// skipped step, why it did not run. Text is the note as shown.
	Note string `json:"note,omitempty"`
	Err  error  `json:"-"` // nil when the step succeeded or was skipped
}

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
	// RoundTrips: by host, the round trips its connection waited for, read
	// at the end of the run (see countRoundTrips); nil when the Connector
	// does not count them.
	RoundTrips map[string]transport.RoundTrips
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
		groups: map[string]string{}, stopped: map[Instance]time.Time{}, started: map[Instance]bool{}, deps: newGraph(env.Inventory),
		out: &Outcome{Host: plan.Host.Name, Service: plan.Service.Name, Action: plan.Request.Action},
	}
	run.conns = newConnSet(run.connect)
	run.check = &checker{inv: env.Inventory, deps: run.deps, conn: run.conn, mgr: run.manager}
	defer run.release()
	defer run.countRoundTrips() // before the release
	// The other hosts the run will read connect while the target's does.
	run.conns.prefetch(ctx, prefetchHosts(plan, run.deps))
	for i := 0; i < len(plan.Tasks); i++ {
		task := plan.Tasks[i]
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
	return run.out
}

type execution struct {
	ctx     context.Context
	plan    *Plan
	env     Env
	target  Instance
	conns   *connSet                     // one connection per host for the run
	mgrsMu  sync.Mutex                   // the dependency checks run side by side
	mgrs    map[Instance]manager.Manager // instance -> its manager
	groups  map[string]string            // group -> "" (runs) or why it is skipped
	running map[Instance]bool            // dependents found running (find-dependents)
	stopped map[Instance]time.Time       // when the stop step saw an instance go down
	started map[Instance]bool            // instances this run started (their log tail explains a failed health check)
	deps    *graph                       // the inventory's dependency graph, built once
	check   *checker                     // health, as status and the preflight see it
	out     *Outcome
	// fresh is what the step just finished established about an instance,
	// for the step right after it: a stop that verified the process gone,
	// or the state a passing health check's process check read. It saves
	// the next step an SSH session to read what is already known.
	fresh *freshState
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
// happened, so the registry says what the service was left as. After an
// interrupt it still records, on a short context of its own.
func (r *execution) finish(rest []Task) {
	for _, task := range rest {
		if task.Step != StepRecord || r.instance(task) != r.target || !r.conns.opened(task.Host) {
			continue
		}
		if r.ctx.Err() != nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), interruptedRecordTimeout)
			defer cancel()
			r.ctx = ctx
		}
		if err := r.step(task); err != nil && r.out.Err == nil {
			r.out.Err = err
		}
	}
}

// interruptedRecordTimeout bounds the record step of an interrupted run.
const interruptedRecordTimeout = 5 * time.Second

func (r *execution) instance(t Task) Instance { return Instance{Host: t.Host, Service: t.Service} }

// skipGroup decides, at the first task of a group, whether the group runs:
// a role-level dependency already satisfied by a healthy instance, or a
// cascade dependent that was not running, is left alone.
func (r *execution) skipGroup(t Task) (bool, string) {
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
		if inst, ok := r.check.healthyOnRole(r.ctx, t.Group); ok {
			why = "not needed: " + t.Group + " satisfied by " + inst.String()
		}
	}
	r.groups[t.Group] = why
	return why != "", why
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
	var note string
	if err == nil {
		note, err = r.do(ctx, conn, task, known)
	}
	if err != nil {
		r.fresh = nil
	}
	var refused *RefusedError
	if err != nil && !errors.Is(err, errNothingToDo) && conn != nil && !errors.As(err, &refused) {
		if ctx.Err() == context.DeadlineExceeded && r.ctx.Err() == nil {
			err = keepTail(err, &TimeoutError{After: task.Timeout})
		} else if r.ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", r.ctx.Err())
		}
		err = &StepError{Host: task.Host, Service: task.Service, Step: task.Step, Err: err}
	}
	res := StepResult{Task: task, Status: StepOK, Duration: r.env.Now().Sub(began), Note: note, Err: err}
	if errors.Is(err, errNothingToDo) {
		res.Err = nil // the step succeeded: it found there is nothing to do
	} else if err != nil {
		res.Status = StepFailed
	}
	r.out.Steps = append(r.out.Steps, res)
	if r.env.OnStep != nil {
		r.env.OnStep(res)
	}
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
		return nil, err
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
	m, err := manager.New(manager.Target{Host: h, Service: svc})
	if err != nil {
		return nil, err
	}
	r.mgrs[inst] = m
	return m, nil
}

// status reads an instance's state over its host's connection.
func (r *execution) status(ctx context.Context, inst Instance) (manager.State, error) {
	conn, err := r.conn(ctx, inst.Host)
	if err != nil {
		return manager.State{}, err
	}
	m, err := r.manager(inst)
	if err != nil {
		return manager.State{}, err
	}
	return m.Status(ctx, conn)
}

// runHealthSeen runs a service's own health checks on a host. When the
// caller has just read the state (known), the process check's first
// attempt uses it instead of asking the host again; seen (when not nil)
// keeps the last state the process check read.
func runHealthSeen(ctx context.Context, spec inventory.Health, h *inventory.Host, m manager.Manager, conn Conn, known, seen *manager.State) health.Report {
	return health.Run(ctx, health.Target{
		Spec:    spec,
		Address: h.ServiceAddress,
		Dialer:  conn,
		Process: func(ctx context.Context) (bool, string, error) {
			ctx = ownBound(ctx) // the check's timeout bounds each attempt
			if known != nil {
				st := *known
				known = nil
				if seen != nil {
					*seen = st
				}
				return st.Running, st.Status, nil
			}
			st, err := m.Status(ctx, conn)
			if err == nil && seen != nil {
				*seen = st
			}
			return st.Running, st.Status, err
		},
	})
}

// knownState returns the state the previous step established for inst.
func knownState(known *freshState, inst Instance) (manager.State, bool) {
	if known == nil || known.inst != inst {
		return manager.State{}, false
	}
	return known.state, true
}

func (r *execution) do(ctx context.Context, conn Conn, task Task, known *freshState) (string, error) {
	inst := r.instance(task)
	mgr, err := r.manager(inst)
	if err != nil {
		return "", err
	}
	isTarget := inst == r.target
	switch task.Step {
	case StepConfirm:
		return r.confirm(ctx)
	case StepCheckStopped:
		st, err := mgr.Status(ctx, conn)
		if err != nil {
			return "", err
		}
		if st.Running {
			r.out.Unchanged = "already running"
			return "already running", errNothingToDo
		}
		return st.Status, nil
	case StepCheckDeps:
		return r.checkDeps(ctx)
	case StepEnsure:
		return r.ensure(ctx, task)
	case StepFindDependents:
		r.running = map[Instance]bool{}
		var names []string
		for _, d := range r.plan.Dependents {
			if st, err := r.status(ctx, d); err == nil && st.Running {
				r.running[d] = true
				names = append(names, d.String())
			}
		}
		return "running: " + orNone(names), nil
	case StepReportDependents:
		for _, d := range r.plan.Dependents {
			if r.running[d] {
				r.out.NotRestarted = append(r.out.NotRestarted, d)
			}
		}
		return fmt.Sprintf("%d running dependents not restarted", len(r.out.NotRestarted)), nil
	case StepStop:
		// Only a service at rest has nothing to stop: one that is activating
		// (a crash loop), deactivating or in maintenance still needs the stop.
		if r.plan.Request.Action == "stop" || !isTarget {
			if st, err := mgr.Status(ctx, conn); err == nil && atRest(st) {
				if isTarget {
					r.out.Unchanged = "already stopped"
					return "already stopped", errNothingToDo
				}
				return "already stopped", nil
			}
		}
		if err := mgr.Stop(ctx, conn, task.Grace); err != nil {
			return "", err
		}
		r.stopped[inst] = r.env.Now()
		// Stop returns nil only once it has seen the process gone.
		r.fresh = &freshState{inst: inst, state: manager.State{Status: "stopped"}}
		return "stopped", nil
	case StepVerifyStopped:
		if st, ok := knownState(known, inst); ok && !st.Running {
			return "stopped (verified by the stop step: the process is gone)", nil
		}
		st, err := mgr.Status(ctx, conn)
		if err != nil {
			return "", err
		}
		if st.Running {
			return "", fmt.Errorf("still running (pid %d)", st.PID)
		}
		return st.Status, nil
	case StepStart:
		if err := mgr.Start(ctx, conn); err != nil {
			return "", r.withTail(inst, mgr, conn, err)
		}
		r.started[inst] = true
		return "started", nil
	case StepHealth:
		var seen manager.State
		report, err := r.check.Check(ctx, inst, startedState(known, inst), &seen)
		if err != nil {
			return "", err
		}
		if isTarget {
			r.out.Health = &report
		}
		if !report.Passed() {
			var err error = &HealthError{Report: report}
			if r.started[inst] {
				err = healthTail(report, r.withTail(inst, mgr, conn, err))
			}
			return "", err
		}
		if seen.Running {
			r.fresh = &freshState{inst: inst, state: seen}
		}
		return "passed", nil
	case StepRecord:
		if st, ok := knownState(known, inst); ok {
			return "", r.recordState(inst, isTarget, st)
		}
		return "", r.record(ctx, inst, isTarget)
	case StepLogs:
		if r.plan.Request.Follow {
			ctx = unbounded(ctx) // until Ctrl-C
		}
		code, err := conn.Stream(ctx, mgr.LogsCommand(r.plan.Request.Lines, r.plan.Request.Follow), r.env.Stdout, r.env.Stderr)
		if err != nil {
			if r.plan.Request.Follow && errors.Is(err, context.Canceled) {
				return "stopped following", nil // Ctrl-C ends a follow cleanly
			}
			return "", err
		}
		if code != 0 {
			return "", fmt.Errorf("logs command exited with status %d", code)
		}
		return "", nil
	}
	return "", fmt.Errorf("unknown step %q", task.Step)
}

// RefusedError is a run the operator (or the lack of a terminal) did not
// agree to; nothing was changed.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// confirm finds the running dependents and asks, through Env.Confirm, when
// the stop needs agreement.
func (r *execution) confirm(ctx context.Context) (string, error) {
	// A stop of a service already at rest changes nothing: no question.
	if r.plan.Request.Action == "stop" {
		if st, err := r.status(ctx, r.target); err == nil && atRest(st) {
			r.out.Unchanged = "already stopped"
			return "already stopped", errNothingToDo
		}
	}
	c := Confirmation{Cascade: r.plan.Request.Cascade}
	if r.plan.Confirm != nil {
		c.Reason, c.Impact = r.plan.Confirm.Reason, r.plan.Confirm.Impact
	}
	for _, d := range r.plan.Dependents {
		st, err := r.status(ctx, d)
		switch {
		case err != nil:
			c.Unknown = append(c.Unknown, d)
			c.UnknownErrs = append(c.UnknownErrs, err)
		case st.Running:
			c.Running = append(c.Running, d)
		}
	}
	if c.Reason == "" && c.Impact == "" && len(c.Running) == 0 && len(c.Unknown) == 0 {
		return "nothing to confirm", nil
	}
	if r.env.Confirm == nil {
		return "", &RefusedError{errors.New("confirmation needed and no way to ask")}
	}
	if err := r.env.Confirm(ctx, c); err != nil {
		return "", &RefusedError{err}
	}
	return "confirmed", nil
}

// checkDeps (--no-deps) verifies every dependency runs and is healthy, and
// lists all that do not.
func (r *execution) checkDeps(ctx context.Context) (string, error) {
	var down []string
	for _, it := range r.deps.ensureClosure(r.target) {
		if it.group != "" && it.group != it.need.String() {
			continue // a role fallback's own needs: not required as such
		}
		if it.need.role != "" {
			if _, ok := r.check.healthyOnRole(ctx, it.need.String()); !ok {
				down = append(down, it.need.String()+" (no healthy instance)")
			}
			continue
		}
		why, err := r.check.runningAndHealthy(ctx, it.need.inst)
		if err != nil {
			return "", fmt.Errorf("%s: %w", it.need, err)
		}
		if why != "" {
			down = append(down, fmt.Sprintf("%s (%s)", it.need, why))
		}
	}
	if len(down) > 0 {
		return "", fmt.Errorf("required services are not running and healthy: %s; start them first, or run without --no-deps", strings.Join(down, ", "))
	}
	return "satisfied", nil
}

// ensure makes one dependency run and be healthy: left alone when it is,
// started (and health-checked, and recorded) when it is stopped.
func (r *execution) ensure(ctx context.Context, t Task) (string, error) {
	inst := r.instance(t)
	if t.Role != "" {
		if found, ok := r.check.healthyOnRole(ctx, t.Service+"@"+t.Role); ok {
			return "satisfied by " + found.String(), nil
		}
		if t.Host == "" {
			return "", fmt.Errorf("no host with role %s runs %s", t.Role, t.Service)
		}
	}
	why, err := r.check.runningAndHealthy(ctx, inst)
	if err != nil {
		return "", err
	}
	if why == "" {
		return "running and healthy", nil
	}
	if strings.HasPrefix(why, "unhealthy") {
		return "", fmt.Errorf("dependency %s is running but %s", inst, why)
	}
	mgr, _ := r.manager(inst)
	conn, _ := r.conn(ctx, inst.Host)
	if err := mgr.Start(ctx, conn); err != nil {
		return "", fmt.Errorf("starting dependency %s: %w", inst, r.withTail(inst, mgr, conn, err))
	}
	r.started[inst] = true
	rep, err := r.check.own(ctx, inst, nil, nil)
	if err == nil && !rep.Passed() {
		err = healthTail(rep, r.withTail(inst, mgr, conn, fmt.Errorf("dependency %s failed its health check: %s", inst, rep.Failure())))
	}
	if recErr := r.record(ctx, inst, false); err == nil {
		err = recErr
	}
	if err != nil {
		return "", err
	}
	return "started", nil
}

// atRest reports a service that is stopped and will stay so by itself.
func atRest(st manager.State) bool {
	return !st.Running && (st.Status == "stopped" || st.Status == "failed")
}

// record reads an instance's final state and writes it to the registry;
// for the target it also fills the outcome.
func (r *execution) record(ctx context.Context, inst Instance, isTarget bool) error {
	st, err := r.status(ctx, inst)
	if err != nil {
		return err
	}
	return r.recordState(inst, isTarget, st)
}

// recordState writes an instance's state, just read, to the registry.
func (r *execution) recordState(inst Instance, isTarget bool, st manager.State) error {
	now := r.env.Now()
	rec := registry.Record{Host: inst.Host, Service: inst.Service, State: st.Status, UpdatedAt: now.UTC()}
	prev, hadPrev, err := r.env.Registry.Get(rec.Host, rec.Service)
	if err != nil {
		return err
	}
	var uptime time.Duration
	if st.Running {
		rec.LastActive = now.UTC()
		rec.Since = st.Since.UTC()
		if !st.Since.IsZero() {
			uptime = now.Sub(st.Since)
		}
	} else {
		switch {
		case !st.LastActive.IsZero(): // systemd knows when it went down
			rec.LastActive = st.LastActive.UTC()
		case !r.stopped[inst].IsZero(): // we stopped it just now
			rec.LastActive = r.stopped[inst].UTC()
		case hadPrev:
			rec.LastActive = prev.LastActive
		}
		rec.Since = rec.LastActive
	}
	if hadPrev && prev.State == rec.State && !prev.Since.IsZero() && rec.Since.IsZero() {
		rec.Since = prev.Since
	}
	if isTarget {
		r.out.State, r.out.Uptime = st, uptime
		if !st.Running {
			r.out.LastActive = rec.LastActive
		}
		if h := r.out.Health; h != nil {
			rec.Health = "passed"
			if !h.Passed() {
				rec.Health = "failed: " + h.Failure()
			}
		}
	}
	return r.env.Registry.Put(rec)
}
