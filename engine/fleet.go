// The fleet runner: one plan per host over many hosts, in parallel up to
// a fork limit, or as a rolling update in batches, each batch gated on the
// health of the one before and on its hosts staying healthy for a while
// (crash-loop detection).
//
// It schedules and judges; it does not connect, record or print: Run gives
// it the per-host plans, a function that executes one (Execute, with the
// host's event), a function that reads live state (LiveStatus), and passes
// its events on as progress. Two contexts govern a run: when drain ends no
// new host is touched and hosts in flight finish their plan; when the run
// context ends, in-flight steps are cancelled.
//
// The budgets follow kubectl's rolling updates: --batch hosts at a time,
// --max-unavailable instances down at once counting those already down
// before the run, and --max-failures failed hosts before the run stops
// touching new ones. An unreachable host counts as a failure.

package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/omni-fleet/omni/internal/fanout"
	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// FleetOptions are a run's budgets, already resolved against the target's size.
type FleetOptions struct {
	Forks          int           // hosts acted on at once (parallel runs, and within a batch)
	Rolling        bool          // batches, each health-gated; otherwise all hosts, Forks at a time
	Batch          int           // rolling: hosts per batch (at least 1); those already down go first
	MaxUnavailable int           // rolling: healthy instances are taken down only while fewer than this are down, counting those already down (at least 1)
	MaxFailures    int           // failed hosts tolerated; one more and no new host is touched
	MinReady       time.Duration // rolling: how long a host must stay healthy before the next batch
}

// RollsByDefault says whether a run over hosts rolls (batches, each
// health-gated) when the operator does not say (--rolling,
// --no-rolling): a restart of a critical service on more than one host
// does, so that the service never goes down everywhere at once.
func RollsByDefault(action string, svc *inventory.Service, hosts int) bool {
	return action == "restart" && svc.Critical && hosts > 1
}

// Target is one host's plan.
type Target struct {
	Host string
	Plan *Plan
}

// Instance is the plan's (host, service).
func (t Target) Instance() Instance {
	return Instance{Host: t.Host, Service: t.Plan.Service.Name}
}

// HostResult is how the run left a host.
type HostResult string

// The results of a host. HostFailed, HostUnreachable and HostInterrupted count against
// --max-failures.
const (
	HostDone        HostResult = "done"
	HostUnchanged   HostResult = "unchanged" // nothing to do ("already running")
	HostFailed      HostResult = "failed"
	HostUnreachable HostResult = "unreachable"
	HostInterrupted HostResult = "interrupted" // its plan was cancelled mid-way
	HostUntouched   HostResult = "untouched"   // the run never acted on it
)

// Succeeded reports a host the run finished with.
func (r HostResult) Succeeded() bool { return r == HostDone || r == HostUnchanged }

// HostReport is one host's part of the run.
type HostReport struct {
	Host     string
	Service  string
	Batch    int // 1-based; 0 for a host no batch took
	Result   HostResult
	Outcome  *Outcome // nil when its plan did not run
	Started  time.Time
	Duration time.Duration // its plan, plus the min-ready watch
	Err      error         // why it failed
	Ready    string        // the min-ready watch: "healthy for 5s", or why it stopped
	// Before is its state when a rolling run began (nil for parallel runs).
	Before *InstanceStatus
}

// FleetReport is the whole run.
type FleetReport struct {
	Hosts       []*HostReport // in target order
	Batches     int           // batches started (rolling)
	Aborted     string        // why the run stopped touching new hosts; "" if it did not
	Interrupted bool          // drain ended before the run did
	// LockLost: the run's lock ended while it ran (registry.Store.LockLost),
	// so it touched no new host; its untouched hosts carry it as Err.
	LockLost error
}

// Count returns how many hosts ended with result r.
func (rep *FleetReport) Count(r HostResult) int {
	n := 0
	for _, h := range rep.Hosts {
		if h.Result == r {
			n++
		}
	}
	return n
}

// Failures counts the failed, unreachable and interrupted hosts.
func (rep *FleetReport) Failures() int {
	return rep.Count(HostFailed) + rep.Count(HostUnreachable) + rep.Count(HostInterrupted)
}

// FleetEventKind says what happened.
type FleetEventKind string

// What a run reports as it goes.
const (
	EventPreflight FleetEventKind = "preflight" // rolling: the state of every host was read
	EventBatch     FleetEventKind = "batch"     // a batch starts: Hosts
	EventStart     FleetEventKind = "start"     // a host's plan starts
	EventStep      FleetEventKind = "step"      // a step of a host's plan finished: Step
	EventReady     FleetEventKind = "ready"     // a host's min-ready watch starts
	EventFinish    FleetEventKind = "finish"    // a host is finished: Report
	EventAbort     FleetEventKind = "abort"     // no new host will be touched: Msg
	EventDrain     FleetEventKind = "drain"     // interrupted: no new host; in-flight hosts finish
)

// FleetEvent is one line of progress.
type FleetEvent struct {
	Time    time.Time
	Kind    FleetEventKind
	Batch   int // the batch, 1-based (rolling)
	Batches int // batches expected in all, as far as known now
	Hosts   []string
	Host    string
	Step    *StepResult
	Report  *HostReport
	Msg     string
}

// ExecFunc runs one host's plan. onStep must be called after each step.
type ExecFunc func(ctx context.Context, t Target, onStep func(StepResult)) *Outcome

// StatusFunc reads the live state of instances, with one attempt of each
// health check of those that run (LiveStatus).
type StatusFunc func(ctx context.Context, instances []Instance) []InstanceStatus

// fleetRunner runs a fleet operation.
type fleetRunner struct {
	Targets []Target
	Opts    FleetOptions
	Exec    ExecFunc
	Status  StatusFunc
	// Registry, when set, records the state of a host that failed its
	// min-ready watch (Exec recorded it healthy).
	Registry registry.Registry
	// Hold, when set, is called as a host's part of the run starts, and
	// the function it returns once that part is over: its plan, and its
	// min-ready watch. The CLI holds the host's connection in between, so
	// that the plan and the watch share one, and lets it go at once after.
	Hold func(ctx context.Context, t Target) (release func())
	// Finish, when set, is called once a host's part is over (its plan,
	// then its min-ready watch), with its outcome and the host's final
	// error: the plan's, or the watch's.
	Finish func(t Target, out *Outcome, err error)
	// OnEvent reports progress. It is called from several goroutines, one
	// call at a time.
	OnEvent func(FleetEvent)
	Now     func() time.Time
	// Lost, when set, ends when the run's lock is lost (its cause says
	// why): from then on no new host is touched, as after a first
	// interrupt, and the run cannot end ok.
	Lost context.Context

	mu  sync.Mutex
	rep *FleetReport
}

// Run acts on every target, as the options say. When drain ends no new
// host is touched and in-flight hosts finish their plan (each step bounded
// by its timeout); when ctx ends, in-flight steps are cancelled too.
func (r *fleetRunner) Run(drain, ctx context.Context) *FleetReport {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Opts.Forks < 1 {
		r.Opts.Forks = 1
	}
	r.rep = &FleetReport{Hosts: make([]*HostReport, len(r.Targets))}
	for i, t := range r.Targets {
		r.rep.Hosts[i] = &HostReport{Host: t.Host, Service: t.Plan.Service.Name, Result: HostUntouched}
	}
	stopDrainWatch := context.AfterFunc(drain, func() {
		r.emit(FleetEvent{Kind: EventDrain, Msg: "interrupted: no new host will be touched; hosts in flight finish their steps"})
	})
	defer stopDrainWatch()
	ran, watched := make(chan struct{}), make(chan struct{})
	go func() {
		// The loss of the lock is said as soon as known, while hosts are
		// in flight; the watch is over before Run returns, so that
		// nothing is said after the report.
		defer close(watched)
		if r.Lost == nil {
			return
		}
		select {
		case <-r.Lost.Done():
			r.lockLost(context.Cause(r.Lost))
		case <-ran:
		}
	}()
	if r.Opts.Rolling {
		r.rolling(drain, ctx)
	} else {
		r.parallel(drain, ctx)
	}
	close(ran)
	<-watched
	r.rep.Interrupted = drain.Err() != nil
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rep.LockLost != nil {
		for _, hr := range r.rep.Hosts {
			if hr.Result == HostUntouched && hr.Err == nil {
				hr.Err = r.rep.LockLost
			}
		}
	}
	return r.rep
}

// LockLostError is a fleet run whose lock ended while it ran: it touched
// no new host, since another run may hold them now.
type LockLostError struct{ Err error }

func (e *LockLostError) Error() string {
	return fmt.Sprintf("the run %v: it touched no new host", e.Err)
}

func (e *LockLostError) Unwrap() error { return e.Err }

// lockLost stops the run touching new hosts: its lock is gone.
func (r *fleetRunner) lockLost(cause error) {
	err := &LockLostError{Err: cause}
	r.mu.Lock()
	if r.rep.LockLost == nil {
		r.rep.LockLost = err
	}
	r.mu.Unlock()
	r.abort(err.Error())
}

func (r *fleetRunner) emit(ev FleetEvent) {
	if r.OnEvent == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = r.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.OnEvent(ev)
}

// failures counts the failed hosts so far.
func (r *fleetRunner) failures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rep.Failures()
}

// tooManyFailures says why the run stops, or "".
func (r *fleetRunner) tooManyFailures() string {
	if n := r.failures(); n > r.Opts.MaxFailures {
		return fmt.Sprintf("%s failed, more than --max-failures %d: no new host was touched",
			plural.N(n, "host", "hosts"), r.Opts.MaxFailures)
	}
	return ""
}

// abort records why the run stops touching new hosts, once: the first
// reason stands.
func (r *fleetRunner) abort(why string) {
	r.mu.Lock()
	first := r.rep.Aborted == ""
	if first {
		r.rep.Aborted = why
	}
	r.mu.Unlock()
	if first {
		r.emit(FleetEvent{Kind: EventAbort, Msg: why})
	}
}

// parallel runs every host, Forks at a time, in target order. A host
// that has its slot starts only if the run may still go on: not drained,
// not too many failures among the hosts finished so far.
func (r *fleetRunner) parallel(drain, ctx context.Context) {
	fanout.Until(len(r.Targets), r.Opts.Forks, func(int) bool {
		return r.mayGoOn(drain)
	}, func(i int) {
		r.runHost(ctx, drain, i, 0)
	})
}

// rolling runs batches: each starts once every host of the one before
// passed its health checks and stayed healthy for MinReady.
//
// The instances already unavailable at the preflight (not running, or
// failing a health check) go first, in batches of Batch: restarting an
// instance that is down makes nothing less available, so they spend none
// of MaxUnavailable, as Kubernetes' deployment controller replaces
// unavailable pods first; Batch still sets the pace, so a release that
// does not come up is found on the first batch, not on every host. The
// healthy instances follow in batches of at most Batch, and a healthy
// instance is taken down only while fewer than MaxUnavailable instances
// are down, counting those still down (a host that failed to come back, an
// unreachable one). So the number of instances down never exceeds
// max(MaxUnavailable, those already down).
func (r *fleetRunner) rolling(drain, ctx context.Context) {
	instances := make([]Instance, len(r.Targets))
	for i, t := range r.Targets {
		instances[i] = t.Instance()
	}
	// Preflight: what is already down goes first and counts against
	// --max-unavailable until it is back; a host that cannot be reached is
	// a failure before anything starts (and, its state unknown, counts as
	// down). Health is the health step's: a host whose service requires
	// one that is down is unhealthy (see dependencyPreflight).
	before := r.Status(ctx, instances)
	down := make([]bool, len(r.Targets))
	var downFirst, healthy []int
	for i := range before {
		st := before[i]
		hr := r.rep.Hosts[i]
		hr.Before = &st
		down[i] = st.Err != nil || !st.State.Running || (st.Health != nil && !st.Health.Passed())
		switch {
		case st.Err != nil:
			hr.Result, hr.Err = hostResult(st.Err, hr.Host), st.Err
			r.emit(FleetEvent{Kind: EventFinish, Host: hr.Host, Report: hr})
		case down[i]:
			downFirst = append(downFirst, i)
		default:
			healthy = append(healthy, i)
		}
	}
	if !r.dependencyPreflight(before) {
		return
	}
	r.emit(FleetEvent{Kind: EventPreflight, Msg: r.preflightNote(down)})
	// Healthy hosts per batch when nothing else is down: for the estimate
	// of the number of batches.
	step := max(min(r.Opts.Batch, r.Opts.MaxUnavailable), 1)
	batch := 0
	for len(downFirst) > 0 {
		if !r.mayGoOn(drain) {
			return
		}
		n := min(r.Opts.Batch, len(downFirst))
		take := downFirst[:n]
		downFirst = downFirst[n:]
		batch++
		r.runBatch(ctx, drain, take, batch, batch+ceilDiv(len(downFirst), r.Opts.Batch)+ceilDiv(len(healthy), step), down,
			"already unavailable: restarted first, spending none of --max-unavailable")
	}
	for len(healthy) > 0 {
		if !r.mayGoOn(drain) {
			return
		}
		n := min(r.Opts.Batch, r.Opts.MaxUnavailable-count(down), len(healthy))
		if n < 1 {
			r.abort(fmt.Sprintf("--max-unavailable %d: %d of %s unavailable (%s); taking down another would exceed it: no new host was touched",
				r.Opts.MaxUnavailable, count(down), plural.N(len(down), "instance is", "instances are"), r.downNames(down)))
			return
		}
		take := healthy[:n]
		healthy = healthy[n:]
		batch++
		r.runBatch(ctx, drain, take, batch, batch+ceilDiv(len(healthy), step), down, "")
	}
}

// mayGoOn says whether the run may start another host or batch, and
// records why not when too many hosts failed.
func (r *fleetRunner) mayGoOn(drain context.Context) bool {
	if drain.Err() != nil {
		return false
	}
	if r.Lost != nil && r.Lost.Err() != nil {
		r.lockLost(context.Cause(r.Lost)) // as soon as known, not when the watch says it
		return false
	}
	if why := r.tooManyFailures(); why != "" {
		r.abort(why)
		return false
	}
	return true
}

// runBatch runs the hosts take, Forks at a time, and waits for them; then
// down says which of them are down: those that did not succeed.
func (r *fleetRunner) runBatch(ctx, drain context.Context, take []int, batch, batches int, down []bool, note string) {
	r.rep.Batches = batch
	hosts := make([]string, len(take))
	for k, i := range take {
		hosts[k] = r.Targets[i].Host
	}
	r.emit(FleetEvent{Kind: EventBatch, Batch: batch, Batches: batches, Hosts: hosts, Msg: note})
	// A batch wider than --forks: its later hosts wait for a slot, and
	// are not started once the run must stop.
	fanout.Until(len(take), r.Opts.Forks, func(k int) bool {
		if !r.mayGoOn(drain) { // says why, also in the last batch (found by review)
			return false
		}
		down[take[k]] = true // taken down (or still down) from now on
		return true
	}, func(k int) {
		r.runHost(ctx, drain, take[k], batch)
	})
	for _, i := range take {
		if res := r.rep.Hosts[i].Result; res != HostUntouched {
			down[i] = !res.Succeeded()
		}
	}
}

func (r *fleetRunner) preflightNote(down []bool) string {
	n := count(down)
	if n == 0 {
		if len(down) == 1 {
			return "its 1 instance running and healthy"
		}
		return fmt.Sprintf("all %d instances running and healthy", len(down))
	}
	// Those that failed the preflight (unreachable) are never attempted;
	// the others go first.
	var first, lost []string
	for i, d := range down {
		switch {
		case !d:
		case r.rep.Hosts[i].Result != HostUntouched:
			lost = append(lost, r.Targets[i].Host)
		default:
			first = append(first, r.Targets[i].Host)
		}
	}
	note := fmt.Sprintf("%d of %s already unavailable (%s); ", n, plural.N(len(down), "instance", "instances"), r.downNames(down))
	switch {
	case len(lost) == 0 && n == 1:
		return note + fmt.Sprintf("it goes first, and counts against --max-unavailable %d until it is back", r.Opts.MaxUnavailable)
	case len(lost) == 0:
		return note + fmt.Sprintf("they go first, and count against --max-unavailable %d until they are back", r.Opts.MaxUnavailable)
	case len(first) == 0:
		return note + fmt.Sprintf("not attempted (failed at the preflight), counted against --max-unavailable %d", r.Opts.MaxUnavailable)
	}
	return note + fmt.Sprintf("%s first; %s not attempted (failed at the preflight); all counted against --max-unavailable %d until back",
		strings.Join(first, ", "), strings.Join(lost, ", "), r.Opts.MaxUnavailable)
}

func (r *fleetRunner) downNames(down []bool) string {
	var names []string
	for i, d := range down {
		if d {
			names = append(names, r.Targets[i].Host+" "+r.why(i))
		}
	}
	return strings.Join(names, ", ")
}

// why says in a word why a host counts as unavailable.
func (r *fleetRunner) why(i int) string {
	hr := r.rep.Hosts[i]
	switch {
	case hr.Result != HostUntouched && !hr.Result.Succeeded():
		return string(hr.Result)
	case hr.Before == nil:
		return "down"
	case hr.Before.Err != nil:
		return "unreachable"
	case !hr.Before.State.Running:
		return hr.Before.State.Status
	case hr.Before.Health != nil && hr.Before.Health.Failure() != "":
		return "unhealthy (" + hr.Before.Health.Failure() + ")"
	default:
		return "unhealthy"
	}
}

// runHost runs one host's plan, then (rolling) watches it for MinReady.
func (r *fleetRunner) runHost(ctx, drain context.Context, i, batch int) {
	t := r.Targets[i]
	hr := r.rep.Hosts[i]
	started := r.Now()
	r.mu.Lock()
	hr.Batch, hr.Started = batch, started
	r.mu.Unlock()
	r.emit(FleetEvent{Kind: EventStart, Batch: batch, Host: t.Host})
	release := func() {}
	if r.Hold != nil {
		release = r.Hold(ctx, t)
	}
	out := r.Exec(ctx, t, func(res StepResult) {
		r.emit(FleetEvent{Kind: EventStep, Batch: batch, Host: t.Host, Step: &res})
	})
	result, err := HostDone, out.Err
	switch {
	case out.Err != nil:
		result = hostResult(out.Err, t.Host)
	case out.Unchanged != "":
		result = HostUnchanged
	}
	ready := ""
	// A stop leaves the service stopped on purpose: nothing to watch.
	if result == HostDone && r.Opts.Rolling && r.Opts.MinReady > 0 && t.Plan.Request.Action != "stop" {
		r.emit(FleetEvent{Kind: EventReady, Batch: batch, Host: t.Host, Msg: fmt.Sprintf("watching for --min-ready %s", r.Opts.MinReady)})
		var last *InstanceStatus
		ready, last, err = r.watchReady(ctx, t, out)
		if err != nil {
			result = hostResult(err, t.Host) // its connection lost meanwhile is unreachable
		}
		if last != nil {
			observed(out, *last)
		}
	}
	if r.Finish != nil {
		r.Finish(t, out, err)
	}
	release() // this host is done: let its connection go
	r.mu.Lock()
	hr.Result, hr.Outcome, hr.Err, hr.Ready = result, out, err, ready
	hr.Duration = r.Now().Sub(started)
	r.mu.Unlock()
	r.emit(FleetEvent{Kind: EventFinish, Batch: batch, Host: t.Host, Report: hr})
}

func count(flags []bool) int {
	n := 0
	for _, f := range flags {
		if f {
			n++
		}
	}
	return n
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
