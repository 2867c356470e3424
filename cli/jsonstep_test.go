package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/omni-fleet/omni/engine"
)

// TestJSONStepResultIsItsStatus pins that -o json gives each step's
// result as engine's StepStatus: a skipped step reads "skipped" (it read
// "ok" before, and a reader had to parse "skipped: " out of its note),
// its note still saying why.
func TestJSONStepResultIsItsStatus(t *testing.T) {
	plan := goldenPlan("stop", "a", "db", "", false)
	task := func(step engine.StepName, svc string) engine.Task {
		return engine.Task{Step: step, Host: "a", Service: svc}
	}
	out := &engine.Outcome{Steps: []engine.StepResult{
		{Task: task(engine.StepStop, "api"), Status: engine.StepOK, Note: "stopped", Effect: engine.EffectStopped},
		{Task: task(engine.StepStop, "web"), Status: engine.StepSkipped, Note: "was not running: left as it is"},
		{Task: task(engine.StepStop, "db"), Status: engine.StepFailed,
			Err: &engine.StepError{Host: "a", Service: "db", Step: engine.StepStop, Err: errors.New("still running after SIGKILL (pid 42)")}},
	}}
	var buf bytes.Buffer
	if err := writeJSON(&buf, newServiceDoc(plan, out, ExitFailed)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Steps []struct{ Service, Result, Note, Error string }
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := []struct{ svc, result, note, err string }{
		{"api", "ok", "stopped", ""},
		{"web", "skipped", "skipped: was not running: left as it is", ""},
		{"db", "failed", "", "stop: still running after SIGKILL (pid 42)"},
	}
	if len(doc.Steps) != len(want) {
		t.Fatalf("%d steps, want %d:\n%s", len(doc.Steps), len(want), buf.String())
	}
	for i, w := range want {
		if s := doc.Steps[i]; s.Service != w.svc || s.Result != w.result || s.Note != w.note || s.Error != w.err {
			t.Errorf("step %d: %+v, want %+v", i, s, w)
		}
	}
}
