package cli

import (
	"errors"
	"testing"

	"github.com/omni-fleet/omni/engine"
)

// TestDependencyLineGoesByEffect pins that the lines about other services
// than the target come from engine's typed StepResult.Effect, not from the
// words of a step's note: the same words without the effect print nothing,
// the effect prints its line whatever the note says.
func TestDependencyLineGoesByEffect(t *testing.T) {
	target := engine.Instance{Host: "a", Service: "web"}
	ensure := engine.Task{Step: engine.StepEnsure, Host: "a", Service: "db", Why: "required by web@a"}
	casStop := engine.Task{Step: engine.StepStop, Host: "a", Service: "api", Why: "requires db@a", Cascade: engine.CascadeStop}
	casRestart := engine.Task{Step: engine.StepHealth, Host: "a", Service: "api", Why: "requires web@a", Cascade: engine.CascadeRestart}
	ok := func(task engine.Task, note string, effect engine.StepEffect) engine.StepResult {
		return engine.StepResult{Task: task, Status: engine.StepOK, Note: note, Effect: effect}
	}
	for _, tc := range []struct {
		name string
		r    engine.StepResult
		want string
	}{
		{"ensure started", ok(ensure, "started", engine.EffectStarted), "Started db on a (required by web@a): healthy"},
		{"ensure started, the note says more", ok(ensure, "started after a while", engine.EffectStarted), "Started db on a (required by web@a): healthy"},
		{"ensure found it running", ok(ensure, "running and healthy", engine.EffectNone), ""},
		{"the note's word without the effect", ok(ensure, "started", engine.EffectNone), ""},
		{"cascade stop stopped", ok(casStop, "stopped", engine.EffectStopped), "Stopped api on a (requires db@a)"},
		{"cascade stop, the word without the effect", ok(casStop, "stopped", engine.EffectNone), ""},
		{"cascade stop already stopped", ok(casStop, "already stopped", engine.EffectNone), ""},
		{"cascade restart healthy", ok(casRestart, "passed", engine.EffectHealthy), "Restarted api on a (requires web@a): healthy"},
		{"cascade restart healthy, other words", ok(casRestart, "all checks passed", engine.EffectHealthy), "Restarted api on a (requires web@a): healthy"},
		{"cascade restart degraded", ok(casRestart, "passed; degraded: reach cache@b: connection refused", engine.EffectDegraded),
			"Restarted api on a (requires web@a): passed; degraded: reach cache@b: connection refused"},
		{"cascade restart, the word without the effect", ok(casRestart, "passed", engine.EffectNone), ""},
		{"the target's own steps", ok(engine.Task{Step: engine.StepHealth, Host: "a", Service: "web"}, "passed", engine.EffectHealthy), ""},
		{"skipped cascade stop", engine.StepResult{Task: casStop, Status: engine.StepSkipped, Note: "was not running: left as it is"},
			"api on a was not running: left as it is"},
		{"failed ensure", engine.StepResult{Task: ensure, Status: engine.StepFailed,
			Err: &engine.StepError{Host: "a", Service: "db", Step: engine.StepEnsure, Err: errors.New("no config")}},
			"FAILED db on a: ensure: no config"},
	} {
		if got := dependencyLine(style{}, tc.r, target); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
