package engine

import (
	"context"
	"strings"
	"sync"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/fanout"
	"github.com/omni-fleet/omni/internal/warm"
	"github.com/omni-fleet/omni/inventory"
)

// checker is the one definition of an instance's health, shared by the
// health step, `service status` (LiveStatus) and the rolling preflight
// (which reads LiveStatus): the service's own checks (process, port, HTTP,
// as its inventory entry configures them), the dependency check: every
// instance it requires is running and passes its own checks (a role-level
// requirement: some instance on the role does), and the reach checks: its
// host can connect to them (reach.go). All of them run side by side; the
// dependency and reach checks count, and are reported, only when the
// service's own checks pass. A failed reach check of an optional edge
// leaves the report passed but degraded (health.Report.Degraded).
//
// A step checks with the inventory's retries and start period; a look
// (status, preflight) makes one attempt of each check, so that a status
// of a thousand hosts does not wait on each, and remembers what it found
// of a dependency for the rest of the look.
type checker struct {
	inv  *inventory.Inventory
	deps *graph
	conn func(ctx context.Context, host string) (Conn, error)
	mgr  func(inst Instance) (manager.Manager, error)
	look *lookMemo // nil: a step's check, with retries
	// warm runs the checks' goroutines on ones that ran checks before
	// (see package warm); nil: new goroutines.
	warm *warm.Pool
}

// lookMemo is what one look found of the instances it read: running and
// healthy, else why not. Shared by the hosts of one
// LiveStatus, which are read in parallel, and by the dependency checks,
// which run side by side: the first to want an instance reads it, the
// others wait for what it found, so each is read once.
type lookMemo struct {
	mu    sync.Mutex
	whyOf map[Instance]*lookEntry
	roles map[string]roleRead // "svc@role" -> what a reading of it found
}

// lookEntry is one instance's reading: found (or err) once done is closed.
type lookEntry struct {
	done  chan struct{}
	found depState
	err   error
}

// depState is what a reading of one instance found: nothing wrong (it
// runs and is healthy), or why it would fail a dependency check, with the
// reason classified where it is found.
type depState struct {
	why    string                  // "stopped", "unhealthy: http: ...": "" when healthy
	reason health.DependencyReason // "" when healthy
}

// healthy: it runs and passes its own checks.
func (s depState) healthy() bool { return s.reason == "" }

// notRunning is an instance found in state status, not running.
func notRunning(status string) depState {
	return depState{why: status, reason: health.DependencyStopped}
}

// unhealthy is a running instance whose own checks failed as rep says.
func unhealthy(rep health.Report) depState {
	return depState{why: "unhealthy: " + rep.Failure(), reason: health.DependencyUnhealthy}
}

func newLookMemo() *lookMemo {
	return &lookMemo{whyOf: map[Instance]*lookEntry{}, roles: map[string]roleRead{}}
}

// unreadable starts the dependency check's error when the dependency's
// state could not be read (health.DependencyUnreadable): the run cannot
// say whether it would fix it.
const unreadable = "could not be read: "

// noHealthyInstance is the dependency check's error when no instance of a
// role-level requirement runs and is healthy, and all could be read.
const noHealthyInstance = "no running and healthy instance"

// DependencyCheck prefixes the name of the dependency check of each
// requirement: "dependency network-agent@worker1".
const DependencyCheck = "dependency "

// Check runs inst's health: its own checks and the dependency check, side
// by side; the report holds the dependency check only when the service's
// own checks pass, after them. When the caller has just read the state
// (known), the process check's first attempt uses it; seen, when not nil,
// keeps the last state the process check read.
func (c *checker) Check(ctx context.Context, inst Instance, known, seen *manager.State, started bool) (health.Report, error) {
	mode := processAsDeclared
	if started {
		mode = processAlways
	}
	rep, deps, err := c.both(ctx, inst, func(ctx context.Context) (health.Report, error) {
		return c.ownChecks(ctx, inst, known, seen, mode, keepStartPeriod)
	})
	if err != nil || !rep.Passed() {
		return rep, err
	}
	rep.Checks = append(rep.Checks, deps...)
	return rep, nil
}

// both runs inst's own checks (own: c.own, or a status's probe), its
// dependency check and its reach checks (reach.go) at once, and returns
// the own checks' report and the others' results, reach checks last.
func (c *checker) both(ctx context.Context, inst Instance, own func(context.Context) (health.Report, error)) (health.Report, []health.Result, error) {
	if len(c.deps.needs(inst)) == 0 {
		rep, err := own(ctx)
		return rep, nil, err
	}
	var deps, reach []health.Result
	var wg sync.WaitGroup
	wg.Go(func() { deps = c.dependencyChecks(ctx, inst) })
	wg.Go(func() { reach = c.reachChecks(ctx, inst) })
	rep, err := own(ctx)
	wg.Wait()
	return rep, append(deps, reach...), err
}

// processCheck says whether an instance's own checks include its process
// check.
type processCheck int

const (
	processAsDeclared processCheck = iota // when its health spec asks for one
	processNever                          // a status's probe: the state is read beside it
	// processAlways: the instance was started by this run. A start is
	// verified as the spec's post-start health checks begin, by the
	// process running, whether or not the inventory asks for a process
	// check: without it, a daemon whose start command exited 0 and which
	// died at once (its port taken, by what then passed the port check)
	// was reported started while its state read said stopped.
	processAlways
)

// own runs inst's own checks: process (when declared), port, HTTP.
func (c *checker) own(ctx context.Context, inst Instance, known, seen *manager.State) (health.Report, error) {
	return c.ownChecks(ctx, inst, known, seen, processAsDeclared, keepStartPeriod)
}

// startPeriod says whether a health read waits the service's start_period
// first: after its start, yes; for an instance found running, no.
type startPeriod bool

const (
	keepStartPeriod startPeriod = false
	skipStartPeriod startPeriod = true
)

// ownChecks runs inst's own checks, its process check as mode says.
func (c *checker) ownChecks(ctx context.Context, inst Instance, known, seen *manager.State, mode processCheck, sp startPeriod) (health.Report, error) {
	conn, m, err := reachInstance(ctx, c.conn, c.mgr, inst)
	if err != nil {
		return health.Report{}, err
	}
	h, err := c.inv.Host(inst.Host)
	if err != nil {
		return health.Report{}, err
	}
	svc, err := c.inv.Service(inst.Service)
	if err != nil {
		return health.Report{}, err
	}
	spec := svc.Health
	if c.look != nil {
		spec.Retries, spec.StartPeriod = 0, 0 // a look, not a wait
	}
	if sp == skipStartPeriod {
		spec.StartPeriod = 0
	}
	// A start verified by its process running: a systemd oneshot unit
	// that ran and exited successfully has done what its start was for.
	finished := mode == processAlways && !spec.Process
	spec.Process = mode == processAlways || (spec.Process && mode == processAsDeclared)
	return runHealthSeen(ctx, spec, h, m, conn, known, seen, c.warm, finished), nil
}

// runningAndHealthy checks one instance, without its own dependencies:
// healthy when it runs and passes its own checks, else why not.
func (c *checker) runningAndHealthy(ctx context.Context, inst Instance) (depState, error) {
	if c.look == nil {
		return c.readInstance(ctx, inst)
	}
	c.look.mu.Lock()
	e, found := c.look.whyOf[inst]
	if !found {
		e = &lookEntry{done: make(chan struct{})}
		c.look.whyOf[inst] = e
	}
	c.look.mu.Unlock()
	if found {
		select {
		case <-e.done:
			return e.found, e.err
		case <-ctx.Done():
			return depState{}, ctx.Err()
		}
	}
	e.found, e.err = c.readInstance(ctx, inst)
	if e.err != nil { // not remembered: a later look at it tries again
		c.look.mu.Lock()
		delete(c.look.whyOf, inst)
		c.look.mu.Unlock()
	}
	close(e.done)
	return e.found, e.err
}

// readInstance reads inst's state and, when it runs, its own checks.
func (c *checker) readInstance(ctx context.Context, inst Instance) (depState, error) {
	conn, m, err := reachInstance(ctx, c.conn, c.mgr, inst)
	if err != nil {
		return depState{}, err
	}
	st, err := m.Status(ctx, conn)
	if err != nil {
		return depState{}, err
	}
	if !st.Running {
		return notRunning(st.Status), nil
	}
	// An instance found running, which this read did not start: its
	// start_period (the grace after its own start) is not waited, as
	// status does not wait it; its retries still are.
	rep, err := c.ownChecks(ctx, inst, &st, nil, processAsDeclared, skipStartPeriod)
	if err != nil {
		return depState{}, err
	}
	if !rep.Passed() {
		return unhealthy(rep), nil
	}
	return depState{}, nil
}

// readInTime reports whether st, read of inst by its caller, came within
// the service's health timeout, so that its process check may take it for
// its attempt (see inTime).
func (c *checker) readInTime(inst Instance, st manager.State) bool {
	svc, err := c.inv.Service(inst.Service)
	return err == nil && inTime(st, svc.Health)
}

// remember keeps, during a look, what was found of inst (unless it is
// being read, or was read, already).
func (c *checker) remember(inst Instance, found depState) {
	if c.look == nil {
		return
	}
	c.look.mu.Lock()
	if _, ok := c.look.whyOf[inst]; !ok {
		e := &lookEntry{done: make(chan struct{}), found: found}
		close(e.done)
		c.look.whyOf[inst] = e
	}
	c.look.mu.Unlock()
}

// roleRead is what a reading of a role-level requirement "svc@role"
// found: a running, healthy instance (found; Host "" when none), and the
// instances read before it (all of them, when none is healthy) whose state
// could not be read, with why, one error each in its order.
type roleRead struct {
	found  Instance
	unread []Instance
	errs   []error
}

// ok says whether a running, healthy instance was found.
func (r roleRead) ok() bool { return r.found.Host != "" }

// unreadable names the instances that could not be read and why:
// "gdb@ghost: ghost (10.0.0.9:22): unreachable: connection refused".
func (r roleRead) unreadable() string {
	parts := make([]string, len(r.unread))
	for i, inst := range r.unread {
		parts[i] = inst.String() + ": " + r.errs[i].Error()
	}
	return strings.Join(parts, "; ")
}

// healthyOnRole finds a running, healthy instance for a role-level
// requirement "svc@role"; when there is none, it says which instances
// could not be read (an instance whose host is unreachable is not taken
// for stopped).
func (c *checker) healthyOnRole(ctx context.Context, group string) roleRead {
	if c.look != nil {
		c.look.mu.Lock()
		read, ok := c.look.roles[group]
		c.look.mu.Unlock()
		if ok {
			return read
		}
	}
	svc, role, _ := strings.Cut(group, "@")
	var read roleRead
	for _, inst := range c.deps.roleInstances(svc, role) {
		st, err := c.runningAndHealthy(ctx, inst)
		if err != nil {
			read.unread = append(read.unread, inst)
			read.errs = append(read.errs, err)
			continue
		}
		if st.healthy() {
			read.found = inst
			break
		}
	}
	if read.ok() {
		read.unread, read.errs = nil, nil // met: what could not be read does not matter
	}
	if c.look != nil {
		c.look.mu.Lock()
		c.look.roles[group] = read
		c.look.mu.Unlock()
	}
	return read
}

// dependencyChecks is the spec's fourth health check: the services inst
// requires are running and healthy. One result per requirement, named
// DependencyCheck + the requirement, its Dependency the requirement; its
// error is the dependency's state ("stopped"), "unhealthy: ...", "no
// running and healthy instance" or unreadable + why (for a role: when no
// instance is healthy and one or more could not be read, naming them), and
// its Reason classifies it.
func (c *checker) dependencyChecks(ctx context.Context, inst Instance) []health.Result {
	needs := c.deps.needs(inst)
	out := make([]health.Result, len(needs))
	fanout.Each(len(needs), dependencyReads, func(i int) {
		n := needs[i]
		res := health.Result{Check: DependencyCheck + n.String(), Dependency: n.String(), Attempts: 1, Passed: true}
		if n.role != "" {
			switch read := c.healthyOnRole(ctx, n.String()); {
			case read.ok():
			case len(read.unread) > 0:
				// Not stopped: what could not be read may run; a start
				// would not fix it, as for the svc@host form.
				res.Passed, res.Error, res.Reason = false, unreadable+read.unreadable(), health.DependencyUnreadable
			default:
				res.Passed, res.Error, res.Reason = false, noHealthyInstance, health.DependencyStopped
			}
		} else if found, err := c.runningAndHealthy(ctx, n.inst); err != nil {
			res.Passed, res.Error, res.Reason = false, unreadable+err.Error(), health.DependencyUnreadable
		} else if !found.healthy() {
			res.Passed, res.Error, res.Reason = false, found.why, found.reason
		}
		out[i] = res
	})
	return out
}

// dependencyReads bounds the dependencies one dependency check reads at
// once.
const dependencyReads = 8

// DependencyProblem is a failed dependency check of a health report.
type DependencyProblem struct {
	Need string // "network-agent@worker2", or "db@database" for a role
	Why  string // "stopped", "unhealthy: http: ...", ...
	// Startable: a start or restart (without --no-deps) starts it first:
	// it is not running, as opposed to running but unhealthy, or unread.
	Startable bool
	// Reason classifies Why (health.DependencyStopped, ...).
	Reason health.DependencyReason
}

// Sentence says the problem after the requirement's name, as a sentence
// reads for every reason: "is stopped", "is unhealthy: ...", "has no
// running and healthy instance", "could not be read: ...".
func (p DependencyProblem) Sentence() string {
	switch {
	case p.Reason == health.DependencyUnreadable:
		return p.Why // "could not be read: ..."
	case p.Why == noHealthyInstance:
		return "has " + p.Why
	}
	return "is " + p.Why
}

// DependencyProblems lists the failed dependency checks of rep (nil
// report: none), from their typed fields (Dependency, Reason).
func DependencyProblems(rep *health.Report) []DependencyProblem {
	if rep == nil {
		return nil
	}
	var out []DependencyProblem
	for _, c := range rep.Checks {
		if c.Dependency == "" || c.Passed {
			continue
		}
		out = append(out, DependencyProblem{Need: c.Dependency, Why: c.Error,
			Startable: c.Reason == health.DependencyStopped, Reason: c.Reason})
	}
	return out
}

// DepsPolicy is what a plan does with a dependency it finds down before it
// acts.
type DepsPolicy int

// The policies: a stop does not need its dependencies; a start or restart
// starts the stopped ones first, or, with --no-deps, refuses.
const (
	DepsIgnored DepsPolicy = iota
	DepsStarted
	DepsRefused
)

// DependencyPolicy says what the plan does with a dependency found down.
func (p *Plan) DependencyPolicy() DepsPolicy {
	for _, t := range p.Tasks {
		switch {
		case t.Step == StepEnsure:
			return DepsStarted
		case t.Step == StepCheckDeps && p.Request.NoDeps:
			return DepsRefused
		}
	}
	return DepsIgnored
}
