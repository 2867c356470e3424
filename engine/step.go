package engine

import (
	"context"
	"fmt"

	"github.com/omni-fleet/omni/engine/manager"
)

// stepRunner is what every step is behind: it runs one task of a plan on
// its host and returns what it found (the step's note). An error that is
// errNothingToDo ends the run early without failing it.
type stepRunner interface {
	run(ctx context.Context, r *execution, c stepCall) (note string, err error)
}

// stepFunc is a step written as one function.
type stepFunc func(ctx context.Context, r *execution, c stepCall) (string, error)

func (f stepFunc) run(ctx context.Context, r *execution, c stepCall) (string, error) {
	return f(ctx, r, c)
}

// stepCall is what a step runs with: its task, the instance it acts on and
// that instance's manager, the host's connection, and the state the
// previous step left known (nil when none).
type stepCall struct {
	task     Task
	inst     Instance
	isTarget bool // the instance is the plan's target, not a dependency or dependent
	mgr      manager.Manager
	conn     Conn
	known    *freshState
	out      *stepOutput // where did and leave put what the step says besides its note
}

// stepOutput is what a step says besides its note and its error: both
// count only if it succeeds.
type stepOutput struct {
	effect StepEffect  // StepResult.Effect
	known  *freshState // the state it saw last, for the next step only
}

// did says what the step did to its service (StepResult.Effect); the
// result carries it only if the step then succeeds.
func (c stepCall) did(e StepEffect) {
	if c.out != nil {
		c.out.effect = e
	}
}

// leave hands the state the step has just seen of its instance to the next
// step (its stepCall.known), which then need not read it again; only to
// the next one, and only if this step succeeds.
func (c stepCall) leave(st manager.State) {
	if c.out != nil {
		c.out.known = &freshState{inst: c.inst, state: st}
	}
}

// runners is the code of every step in the registry (steps.go), one file
// each: step_confirm.go, step_stop.go, …
var runners = map[StepName]stepRunner{
	StepConfirm:          stepFunc(runConfirm),
	StepCheckStopped:     stepFunc(runCheckStopped),
	StepCheckDeps:        stepFunc(runCheckDeps),
	StepEnsure:           stepFunc(runEnsure),
	StepFindDependents:   stepFunc(runFindDependents),
	StepConfig:           stepFunc(runConfig),
	StepPreStop:          stepFunc(runPreStop),
	StepDrain:            stepFunc(runDrain),
	StepStop:             stepFunc(runStop),
	StepVerifyStopped:    stepFunc(runVerifyStopped),
	StepPostStop:         stepFunc(runPostStop),
	StepPreStart:         stepFunc(runPreStart),
	StepStart:            stepFunc(runStart),
	StepHealth:           stepFunc(runHealth),
	StepPostStart:        stepFunc(runPostStart),
	StepUndrain:          stepFunc(runUndrain),
	StepRecord:           stepFunc(runRecord),
	StepReportDependents: stepFunc(runReportDependents),
	StepLogs:             stepFunc(runLogs),
}

// do runs one task through its step's runner: its note, what else it
// says (stepOutput) and its error.
func (r *execution) do(ctx context.Context, conn Conn, task Task, known *freshState) (string, stepOutput, error) {
	runner, ok := runners[task.Step]
	if !ok {
		return "", stepOutput{}, fmt.Errorf("unknown step %q", task.Step)
	}
	inst := r.instance(task)
	mgr, err := r.manager(inst)
	if err != nil {
		return "", stepOutput{}, err
	}
	var out stepOutput
	note, err := runner.run(ctx, r, stepCall{task: task, inst: inst, isTarget: inst == r.target,
		mgr: mgr, conn: conn, known: known, out: &out})
	return note, out, err
}
