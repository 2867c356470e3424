package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
)

// A restart's stop, the wait until the service is gone, its start and the
// state right after the start need no decision of omni's in between: when
// the plan runs them back to back on the target, they go to the host as
// one script (manager.Restarter), in one round trip instead of three. The
// steps are still reported one by one, each with its own result and
// duration, as if they had run apart: the dry run, -v, the events and -o
// json show the same steps. What does not change:
//   - the stop's grace period, then SIGKILL of the tree, a zombie counting
//     as stopped: the stop part is the stop step's own script;
//   - the start's timeout: the host kills the start's process tree when it
//     is over, and the start step fails with a *TimeoutError; a start that
//     goes on without its command (systemd's start job) is then ended, as
//     a start step's is (endStart);
//   - cancellation and a timeout of the whole (the stop's plus the start's,
//     plus command_timeout for the state read) kill the remote process
//     group, as they do for any step; what ran is then not known part by
//     part, and the stop step reports the failure;
//   - a part runs only when the one before it succeeded.
//
// The state read right after the start is the first attempt of the health
// step's process check, when the health step comes next and has no start
// period (a check after a start period must look after it).
//
// The cascade's restarts of dependents, a stop of the target that must
// first see whether it runs (`service stop`), a stop or start whose
// playbook sets no timeout, and managers that are not Restarters keep the
// steps apart.

// fusedRestart runs tasks[0:n] through the restart script when they are
// the target's stop, optionally its verify-stopped, then its start; n is
// 0 when they are not (the caller then runs tasks[0] as a step).
func (r *execution) fusedRestart(tasks []Task) (n int, err error) {
	stop, verify, start, health, ok := r.restartTasks(tasks)
	if !ok || stop.Timeout <= 0 || start.Timeout <= 0 {
		// A step without a timeout of its own gets command_timeout for each
		// of its commands (see withBound): kept apart, it keeps that.
		return 0, nil
	}
	inst := r.instance(stop)
	mgr, err := r.manager(inst)
	if err != nil {
		return 0, nil
	}
	restarter, ok := mgr.(manager.Restarter)
	if !ok {
		return 0, nil
	}
	conn, err := r.conn(r.ctx, stop.Host)
	if err != nil {
		return 0, nil // the stop step reports it
	}
	svc, err := r.env.Inventory.Service(inst.Service)
	if err != nil {
		return 0, nil
	}
	readState := health != nil && svc.Health.Process && svc.Health.StartPeriod == 0
	if readState && len(svc.Requires) == 0 && onlyChecksAfter(tasks, start) {
		conn = lastCommand(conn)
	}
	bound := stop.Timeout + start.Timeout
	if readState {
		bound += commandTimeout(r.env.Inventory)
	}
	ctx, cancel := context.WithTimeout(r.ctx, bound)
	defer cancel()
	ctx = ownBound(ctx)

	began := r.env.Now()
	rep, err := restarter.Restart(ctx, conn, manager.RestartOptions{Grace: stop.Grace, StartTimeout: start.Timeout, ReadState: readState})
	total := r.env.Now().Sub(began)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded && r.ctx.Err() == nil {
			err = fmt.Errorf("stop and start (one script): %w", &TimeoutError{After: bound})
		} else if r.ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", r.ctx.Err())
		}
		return 1, r.report(stop, total, "", EffectNone, err)
	}
	// The host timed the parts; the rest (the round trip) goes to the stop.
	stopTook := max(total-rep.Start.Duration-rep.Status.Duration, rep.Stop.Duration)
	var anyway *manager.StoppedAnyway
	if rep.Stop.Err != nil && !errors.As(rep.Stop.Err, &anyway) {
		return 1, r.report(stop, stopTook, "", EffectNone, rep.Stop.Err)
	}
	stopped := StepResult{Task: stop, Status: StepOK, Duration: stopTook, Note: "stopped", Effect: EffectStopped}
	if rep.NotRunning { // as step_stop.go says it
		stopped.Note, stopped.Effect = wasNotRunning, EffectNone
	} else {
		r.stopped[inst] = began.Add(stopTook)
	}
	if anyway != nil {
		stopped.Warning = anyway.Note // stopped, not as asked: said
	}
	r.reportResult(stopped)
	n = 1
	if verify != nil {
		r.report(*verify, 0, "stopped (verified by the stop step: the process is gone)", EffectNone, nil)
		n++
	}
	n++
	r.startBegun[inst] = rep.Start.Ran
	if rep.Start.Err != nil {
		err := rep.Start.Err
		if rep.StartTimedOut {
			// The script killed systemctl start, not what it queued
			// (systemd's start job): ended now, as a start step's.
			err = r.endStart(mgr, conn, time.Now().Add(-rep.Start.Duration), &TimeoutError{After: start.Timeout})
		}
		return n, r.report(start, rep.Start.Duration, "", EffectNone, r.withTail(inst, mgr, conn, err))
	}
	r.started[inst] = true
	r.reportResult(StepResult{Task: start, Status: StepOK, Duration: rep.Start.Duration, Note: "started",
		Warning: rep.Start.Warning, Effect: EffectStarted}) // a warning: started all the same, said
	if readState && rep.Status.Ran && rep.Status.Err == nil {
		r.fresh = &freshState{inst: inst, state: rep.State, afterStart: true}
		if rep.State.Running {
			r.sawRunning(inst)
		}
	}
	return n, nil
}

// restartTasks finds the target's stop, verify-stopped (nil when absent),
// start and the health step right after it (nil when absent) at the head
// of tasks, when a restart runs them back to back.
func (r *execution) restartTasks(tasks []Task) (stop Task, verify *Task, start Task, health *Task, ok bool) {
	if r.plan.Request.Action != "restart" || len(tasks) < 2 {
		return
	}
	stop = tasks[0]
	mine := func(t Task) bool {
		return r.instance(t) == r.target && t.Group == "" && t.Cascade == NoCascade
	}
	if stop.Step != StepStop || !mine(stop) {
		return
	}
	i := 1
	if tasks[i].Step == StepVerifyStopped && mine(tasks[i]) {
		verify = &tasks[i]
		i++
	}
	if i >= len(tasks) || tasks[i].Step != StepStart || !mine(tasks[i]) {
		return
	}
	start = tasks[i]
	if i+1 < len(tasks) && tasks[i+1].Step == StepHealth && mine(tasks[i+1]) {
		health = &tasks[i+1]
	}
	return stop, verify, start, health, true
}

// report records one step of the restart script as the step machinery
// does (see execution.step): its result, and a *StepError when it failed
// (then without its effect).
func (r *execution) report(task Task, took time.Duration, note string, effect StepEffect, err error) error {
	res := StepResult{Task: task, Status: StepOK, Duration: took, Note: note, Effect: effect}
	if err != nil {
		err = &StepError{Host: task.Host, Service: task.Service, Step: task.Step, Err: err}
		res.Status, res.Err, res.Effect = StepFailed, err, EffectNone
	}
	r.reportResult(res)
	return err
}

// reportResult adds a step's result to the outcome and tells OnStep.
func (r *execution) reportResult(res StepResult) {
	r.out.Steps = append(r.out.Steps, res)
	if r.env.OnStep != nil {
		r.env.OnStep(res)
	}
}

// startedState is the state the restart script read right after the
// start, for the health step's first process check.
func startedState(known *freshState, inst Instance) *manager.State {
	if known == nil || !known.afterStart || known.inst != inst {
		return nil
	}
	st := known.state
	return &st
}

// onlyChecksAfter reports whether nothing after start in tasks runs a
// command: only the same service's health step (whose process check takes
// the state the restart script read, and whose port and HTTP checks are
// channels, not commands) and its record step (which writes that state).
func onlyChecksAfter(tasks []Task, start Task) bool {
	after := false
	for _, t := range tasks {
		switch {
		case !after:
			after = t.Step == start.Step && t.Host == start.Host && t.Service == start.Service
		case t.Host != start.Host || t.Service != start.Service ||
			(t.Step != StepHealth && t.Step != StepRecord):
			return false
		}
	}
	return after
}

// lastCommand is conn told that the restart script is, most likely, the
// last command its caller runs on it (OneCommand): when no shell is
// open on the connection yet, the script then runs in a session of its
// own, which costs the host two processes fewer than starting the
// long-lived shell for it (sh for the shell, sh for the command, and the
// shell's re-exec to read the next command), and no shell to end. The
// round trips are the same: the session's open, then the command. If a
// health check must look again, or the start fails and its log is read,
// that command starts the shell then, one round trip more on that path
// only.
func lastCommand(conn Conn) Conn {
	if b, ok := conn.(boundedConn); ok {
		b.Conn = lastCommand(b.Conn)
		return b
	}
	if o, ok := conn.(OneCommand); ok {
		return o.Once()
	}
	return conn
}
