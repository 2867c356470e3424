package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	osuser "os/user"
	"strings"
	"sync"
	"time"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// RunRequest is one command over one host or many, as resolved by
// Targets (and Resume): what Run does.
type RunRequest struct {
	// Request is what the command asks; Host is the target as given (a
	// host, a role, a glob, a list, all).
	Request
	// Targets are the plans, one per host, in target order: one for a
	// command on one host.
	Targets []Target
	// Fleet runs the targets as a fleet (the target is not one host, or
	// --resume): the run's budgets are Options, each host has a result in
	// the report, and the registry records an event for the run besides
	// one for each host. Otherwise Targets holds the one plan to run.
	Fleet   bool
	Options FleetOptions
	// LockTimeout is how long to wait for another run that holds one of
	// the (host, service) pairs the plans touch; 0 fails at once.
	LockTimeout time.Duration
	// Resume: the Targets are what Resume kept (for the prompt and
	// --dry-run); once Run holds the lock it asks Resume again and runs
	// only the targets still owed. Another run of the same job may have
	// finished some in between (one that held the lock this run waited
	// for): they are left out, and Warn names them. None left: nothing
	// runs and nothing is recorded (a Report without hosts).
	Resume bool
}

// RunEnv is what Run works with besides the registry: how it reaches the
// hosts and whom it tells as it goes. It never prints but on Warn.
type RunEnv struct {
	Inventory *inventory.Inventory
	// Connect opens the connector to the hosts, once the run holds its
	// lock and its event is begun; close is called as Run returns.
	Connect func() (c Connector, close func(), err error)
	Stdout  io.Writer // a logs step's output
	Stderr  io.Writer
	// HostOutput, when set, gives each host of a fleet run writers of its
	// own in place of Stdout and Stderr (fleet logs: each line prefixed
	// with its host); done is called once the host's plan is over.
	HostOutput func(host string) (stdout, stderr io.Writer, done func())
	// OnStep is told of each step of a one-host run as it finishes.
	OnStep func(StepResult)
	// Confirm is asked by a one-host run's confirm step (see Env.Confirm).
	// A fleet run is confirmed as a whole before Run, so its plans are not
	// asked again.
	Confirm func(context.Context, Confirmation) error
	// Started, when set, is called once a fleet run holds its lock, its
	// event is begun and its connector is open, before any host is
	// touched (and before the first OnEvent), with the number of hosts it
	// runs: fewer than the request's targets when a --resume run left
	// some out (see RunRequest.Resume).
	Started func(hosts int)
	// OnEvent is told of a fleet run's progress, one call at a time.
	OnEvent func(FleetEvent)
	// Hard is the context whose end cancels the steps in flight (the
	// second Ctrl-C). The end of Run's own context (the first) only stops
	// new hosts from being touched, and a run of one host before it has
	// touched the service (see Env.Soft). Nil: Run's context does both.
	Hard context.Context
	// Changing, when set, is called once a run of one host begins
	// changing the service (see Env.Changing): a first interrupt from then
	// on lets it finish; before, it ends the run.
	Changing func()
	// Warn is told what went wrong that does not change the run's result:
	// its history could not be recorded. Nil discards.
	Warn func(msg string)
}

// RunResult is what a run did: Outcome for one host, Report for a fleet.
type RunResult struct {
	Outcome *Outcome
	Report  *FleetReport
	// Targets are the plans the run ran, in the order of Report.Hosts:
	// the request's, or fewer when a --resume run left some out.
	Targets []Target
}

// Class is the run's result (see Classify and FleetReport.Class).
func (r *RunResult) Class() Class {
	if r.Report != nil {
		return r.Report.Class()
	}
	return Classify(r.Outcome.Err)
}

// Run runs a command from its lock to its last event: it takes the run
// lock on every (host, service) the plans touch (another run holding one:
// a *registry.LockedError, nothing touched), records the run's event as
// begun, connects, executes the plan (one host) or the fleet's plans in
// parallel or rolling batches (each host with its own event), and records
// every event's final form: steps, per-host results, the result. An error
// is returned only when nothing was run (the lock, the first event, the
// connector); what the run did, failures included, is in the result.
//
// A run that only reads the hosts (ReadsOnly: `logs`, on one host or
// many) needs no registry, and reg is then nil: it takes no lock (reading
// logs never waits for a restart nor holds one up), records no event, and
// works when the registry cannot be opened (damaged, busy, etcd down),
// which is when an operator reads logs.
func Run(ctx context.Context, reg registry.Store, req RunRequest, env RunEnv) (*RunResult, error) {
	if len(req.Targets) == 0 {
		return nil, &UsageError{"nothing to run: no target"}
	}
	readOnly := ReadsOnly(req.Targets)
	if readOnly {
		reg = nil
	} else if reg == nil {
		return nil, fmt.Errorf("%s needs the registry: its lock and its history", req.Action)
	}
	owner := runOwner(req.Request)
	warn := env.Warn
	if warn == nil {
		warn = func(string) {}
	}
	if !readOnly {
		var keys []string
		for _, t := range req.Targets {
			keys = append(keys, lockKeys(t.Plan)...)
		}
		unlock, err := reg.Lock(ctx, keys, owner, req.LockTimeout)
		if err != nil {
			return nil, err
		}
		defer func() {
			// Tried once (etcd: a lease not revoked ends by its TTL);
			// said here, once: Close does not try again.
			if err := unlock(); err != nil {
				warn(fmt.Sprintf("the run's lock could not be released: %v", err))
			}
		}()
	}
	if req.Resume && reg != nil {
		owed, err := stillOwed(reg, req, warn)
		if err != nil {
			return nil, err
		}
		if len(owed) == 0 {
			return &RunResult{Report: &FleetReport{}, Targets: []Target{}}, nil
		}
		req.Targets = owed
	}
	h := &history{reg: reg, owner: owner, warn: warn}
	run := runFleet
	if !req.Fleet {
		run = runOne
	}
	res, err := run(ctx, req, env, h)
	if res != nil {
		res.Targets = req.Targets
	}
	return res, err
}

// stillOwed is the part of a --resume run's targets that the registry,
// read under the run's lock, says the job still owes; warn names the
// others: a run of the job that ended since the targets were chosen
// finished them (or, planned without them, no longer owes them).
func stillOwed(reg registry.Store, req RunRequest, warn func(string)) ([]Target, error) {
	owed, _, err := Resume(reg, req.Request, req.Targets)
	if err != nil {
		return nil, err
	}
	kept := map[string]bool{}
	for _, t := range owed {
		kept[t.Host] = true
	}
	var done []string
	for _, t := range req.Targets {
		if !kept[t.Host] {
			done = append(done, t.Host)
		}
	}
	if len(done) > 0 {
		warn(fmt.Sprintf("--resume: read again under the lock, the last run of this job no longer leaves %s to do (another run ended since): left out",
			strings.Join(done, ", ")))
	}
	return owed, nil
}

// ReadsOnly reports whether the plans only read their hosts: every task
// of every plan prints logs (a `logs` playbook that names other steps,
// which may stop, start or record, is a run like any other: locked and
// recorded). Such a run needs no registry (see Run).
func ReadsOnly(targets []Target) bool {
	for _, t := range targets {
		if t.Plan.Request.Action != "logs" {
			return false
		}
		for _, task := range t.Plan.Tasks {
			if task.Step != StepLogs {
				return false
			}
		}
	}
	return len(targets) > 0
}

// runOne runs the plan of one host.
func runOne(ctx context.Context, req RunRequest, env RunEnv, h *history) (*RunResult, error) {
	plan := req.Targets[0].Plan
	record := h.records()
	// The connector first (keys, known_hosts: no host is touched yet), so
	// that one that cannot be set up leaves no event begun and never ended.
	conn, closeConns, err := env.Connect()
	if err != nil {
		return nil, err
	}
	defer closeConns()
	ev := h.event(plan, "", "")
	if record {
		if ev.ID, err = h.reg.BeginEvent(ev); err != nil {
			return nil, err
		}
	}
	warnDrainLeft(h.reg, plan, h.warn)
	// A first interrupt (ctx) stops the run until a step touches the
	// service; from then on only a second (env.Hard) cancels its steps,
	// as for the hosts in flight of a fleet run.
	hard, soft := ctx, context.Context(nil)
	if env.Hard != nil {
		hard, soft = env.Hard, ctx
	}
	confirm := env.Confirm
	if confirm != nil && soft != nil {
		// The prompt ends with the first interrupt: nothing is touched yet.
		confirm = func(_ context.Context, c Confirmation) error { return env.Confirm(soft, c) }
	}
	out := Execute(hard, plan, Env{
		Inventory: env.Inventory, Connector: conn, Registry: h.reg, Run: ev.ID,
		Stdout: env.Stdout, Stderr: env.Stderr, OnStep: env.OnStep, Confirm: confirm, Soft: soft, Changing: env.Changing,
	})
	if record {
		if err := h.reg.FinishEvent(finishedEvent(ev, out, "")); err != nil {
			h.warn(fmt.Sprintf("the operation ran but its history could not be recorded: %v", err))
		}
	}
	return &RunResult{Outcome: out}, nil
}

// runFleet runs the plans of many hosts: one event for the run, one for
// each host it touches (none for logs).
func runFleet(ctx context.Context, req RunRequest, env RunEnv, h *history) (*RunResult, error) {
	record := h.records()
	service := req.Targets[0].Plan.Service.Name
	runEvent := registry.Event{Started: time.Now().UTC(), Operator: h.owner.Operator, Command: h.owner.Command,
		Target: req.Host, Service: service, Result: "incomplete"}
	for _, t := range req.Targets {
		runEvent.Hosts = append(runEvent.Hosts, registry.HostResult{Host: t.Host, Result: string(HostUntouched)})
	}
	conn, closeConns, err := env.Connect() // before the event: see runOne
	if err != nil {
		return nil, err
	}
	defer closeConns()
	if record {
		if runEvent.ID, err = h.reg.BeginEvent(runEvent); err != nil {
			return nil, err
		}
	}
	if env.Started != nil {
		env.Started(len(req.Targets))
	}
	hard := env.Hard
	if hard == nil {
		hard = ctx
	}
	forks := req.Options.Forks
	// Each host's event, from the start of its plan to the end of its
	// min-ready watch (Finish): until then the host is not done, for the
	// history as for --resume.
	var evMu sync.Mutex
	events := map[string]registry.Event{}
	shared := newSharedWork() // the hosts' plans act on a shared instance one at a time
	shared.targets = map[Instance]bool{}
	for _, t := range req.Targets {
		shared.targets[t.Instance()] = true
	}
	runner := &fleetRunner{
		Targets: req.Targets, Opts: req.Options, Registry: h.reg, OnEvent: env.OnEvent,
		Lost: lockLost(h.reg),
		Exec: func(ctx context.Context, t Target, onStep func(StepResult)) *Outcome {
			ev := h.event(t.Plan, runEvent.ID, req.Host)
			if record {
				// As for one host: nothing is done that cannot be recorded.
				id, err := h.reg.BeginEvent(ev)
				if err != nil {
					return &Outcome{Host: t.Host, Service: t.Plan.Service.Name, Action: t.Plan.Request.Action,
						Err: fmt.Errorf("the registry could not record the operation, so it was not started: %w", err)}
				}
				ev.ID = id
				evMu.Lock()
				events[t.Host] = ev
				evMu.Unlock()
			}
			warnDrainLeft(h.reg, t.Plan, h.warn)
			stdout, stderr, done := env.Stdout, env.Stderr, func() {}
			if env.HostOutput != nil {
				stdout, stderr, done = env.HostOutput(t.Host)
			}
			defer done()
			return Execute(ctx, t.Plan, Env{
				Inventory: env.Inventory, Connector: conn, Registry: h.reg, Run: ev.ID, Stdout: stdout, Stderr: stderr, OnStep: onStep,
				// The whole fleet was confirmed (or needed no confirmation) up front.
				Confirm: func(context.Context, Confirmation) error { return nil },
				Watched: req.Options.Rolling && req.Options.MinReady > 0,
				shared:  shared,
			})
		},
		Finish: func(t Target, out *Outcome, err error) {
			evMu.Lock()
			ev, ok := events[t.Host]
			evMu.Unlock()
			if !ok {
				return
			}
			final := *out
			final.Err = err // the plan's error, or its min-ready watch's
			if err := h.reg.FinishEvent(finishedEvent(ev, &final, t.Host)); err != nil {
				h.warn(fmt.Sprintf("%s: the operation ran but its history could not be recorded: %v", t.Host, err))
			}
		},
		Status: func(ctx context.Context, instances []Instance) []InstanceStatus {
			return LiveStatus(ctx, env.Inventory, instances, conn, forks)
		},
		// The host's connection, from its plan to the end of its min-ready
		// watch; then let go (Execute and LiveStatus release their own).
		// The dial starts here and goes on in the background: the host's
		// event is begun while the handshake is in flight (Execute's
		// first use of the connection waits for this same dial), so that
		// the registry's writes of a fleet's hosts, one after another on
		// the file, are not added to each host's connection time.
		Hold: func(ctx context.Context, t Target) func() {
			rel, ok := conn.(Releaser)
			if !ok {
				return func() {}
			}
			held := make(chan Conn, 1)
			go func() {
				c, err := conn.Connect(ctx, t.Plan.Host)
				if err != nil {
					c = nil // its plan meets the same error, and says so
				}
				held <- c
			}()
			return func() {
				if c := <-held; c != nil {
					rel.Release(c)
				}
			}
		},
	}
	rep := runner.Run(ctx, hard)
	if req.Follow {
		// Ctrl-C is how a follow ends, not an interruption of it.
		rep.Interrupted = false
	}
	if !record {
		return &RunResult{Report: rep}, nil
	}

	runEvent.Hosts = runEvent.Hosts[:0]
	for _, hr := range rep.Hosts {
		r := registry.HostResult{Host: hr.Host, Result: string(hr.Result), Event: events[hr.Host].ID}
		if hr.Err != nil {
			r.Error = FailureAt(hr.Err, hr.Host, hr.Service)
		}
		runEvent.Hosts = append(runEvent.Hosts, r)
	}
	runEvent.Finished, runEvent.Complete, runEvent.Result = time.Now().UTC(), true, string(rep.Class())
	runEvent.HostEvents = true
	runEvent.Error = rep.Aborted
	if err := h.reg.FinishEvent(runEvent); err != nil {
		h.warn(fmt.Sprintf("the run finished but its history could not be recorded: %v", err))
	}
	return &RunResult{Report: rep}, nil
}

// lockLost is the context that ends when the run's lock is lost, nil
// when the run took none (reg nil: logs).
func lockLost(reg registry.Store) context.Context {
	if reg == nil {
		return nil
	}
	return reg.LockLost()
}

// history is where a run records its events.
type history struct {
	reg   registry.Store
	owner registry.Owner
	warn  func(string)
}

// RedactedStore is reg as a command that loaded an inventory with secrets
// writes it: no event it records keeps a secret value in clear, whatever
// wrote it (a run, config apply, config rollback). reg as it is when
// there is no secret.
func RedactedStore(reg registry.Store, secrets *config.Secrets) registry.Store {
	if secrets.None() {
		return reg
	}
	return redactedStore{reg, secrets}
}

type redactedStore struct {
	registry.Store
	secrets *config.Secrets
}

func (r redactedStore) BeginEvent(ev registry.Event) (string, error) {
	return r.Store.BeginEvent(redactEvent(ev, r.secrets))
}

func (r redactedStore) FinishEvent(ev registry.Event) error {
	return r.Store.FinishEvent(redactEvent(ev, r.secrets))
}

// redactEvent is ev without a secret value in any text from the hosts:
// its error and reason, its steps' notes, errors and log tails, its
// hosts' errors (see config.Secrets).
func redactEvent(ev registry.Event, secrets *config.Secrets) registry.Event {
	if secrets.None() {
		return ev
	}
	r := secrets.Redact
	ev.Error, ev.Reason = r(ev.Error), r(ev.Reason)
	ev.Steps = append([]registry.EventStep(nil), ev.Steps...)
	for i := range ev.Steps {
		st := &ev.Steps[i]
		st.Note, st.Error, st.Reason, st.LogTailError = r(st.Note), r(st.Error), r(st.Reason), r(st.LogTailError)
		st.LogTail = append([]string(nil), st.LogTail...)
		for j := range st.LogTail {
			st.LogTail[j] = r(st.LogTail[j])
		}
	}
	ev.Hosts = append([]registry.HostResult(nil), ev.Hosts...)
	for i := range ev.Hosts {
		ev.Hosts[i].Error = r(ev.Hosts[i].Error)
	}
	return ev
}

// records reports whether the run records events: every run but one that
// only reads its hosts, which Run gives no registry.
func (h *history) records() bool { return h.reg != nil }

// event is the begun event of one host's plan; run and target name the
// fleet run it is part of ("" for a run on one host).
func (h *history) event(plan *Plan, run, target string) registry.Event {
	return registry.Event{Started: time.Now().UTC(), Operator: h.owner.Operator, Command: h.owner.Command,
		Host: plan.Host.Name, Service: plan.Service.Name, Result: "incomplete", Run: run, Target: target}
}

// finishedEvent is the event's final form: each step and the result. A
// host of a fleet run (fleetHost, "" for a run of one host) has the result
// it has in the run's report (hostResult): unreachable only when its own
// host could not be reached.
func finishedEvent(ev registry.Event, out *Outcome, fleetHost string) registry.Event {
	ev.Finished, ev.Complete = time.Now().UTC(), true
	class := Classify(out.Err)
	if fleetHost != "" {
		class = ClassifyFor(out.Err, fleetHost)
	}
	ev.Result = string(class)
	if class == ClassOK && out.Unchanged != "" {
		ev.Result = "unchanged"
	}
	if out.FinishedFirst {
		ev.Result, ev.Error = string(ClassInterrupted), out.FinishedFirstNote()
	}
	if out.Err != nil {
		ev.Error = Words(out.Err)
		ev.Reason, _, _ = TailFields(out.Err)
	}
	for _, ch := range out.Config {
		ev.Config = append(ev.Config, ch.ConfigChange)
	}
	for _, r := range out.Steps {
		st := registry.EventStep{Step: string(r.Task.Step), Host: r.Task.Host, Service: r.Task.Service, Result: string(r.Status), Note: r.Text(), Duration: r.Duration}
		if r.Status == StepFailed {
			st.Error = Failure(r.Err)
			st.Reason, st.LogTail, st.LogTailError = TailFields(r.Err)
		}
		ev.Steps = append(ev.Steps, st)
	}
	return ev
}

// lockKeys are the (host, service) pairs a plan touches.
func lockKeys(plan *Plan) []string {
	seen := map[string]bool{}
	var keys []string
	add := func(host, service string) {
		k := registry.LockKey(host, service)
		if host != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	add(plan.Host.Name, plan.Service.Name)
	for _, t := range plan.Tasks {
		add(t.Host, t.Service)
	}
	return keys
}

// runOwner says who runs: user@machine, this process, the command.
func runOwner(req Request) registry.Owner {
	machine, _ := os.Hostname()
	user := os.Getenv("USER")
	if u, err := osuser.Current(); err == nil {
		user = u.Username
	}
	command := req.Action
	if req.Cascade {
		command += " --cascade"
	}
	if req.NoDeps {
		command += " --no-deps"
	}
	return registry.Owner{Operator: user + "@" + machine, PID: os.Getpid(), Machine: machine,
		Command: command + " " + req.Host + " " + req.Service, Since: time.Now().UTC()}
}
