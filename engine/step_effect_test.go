package engine

import (
	"slices"
	"testing"

	"github.com/omni-fleet/omni/registry"
)

// effects lists "service step effect" of each result that has an effect.
func effects(out *Outcome) []string {
	var got []string
	for _, r := range out.Steps {
		if r.Effect != EffectNone {
			got = append(got, r.Task.Service+" "+string(r.Task.Step)+" "+string(r.Effect))
		}
	}
	return got
}

// TestStepEffects pins StepResult.Effect, the typed word a renderer goes
// by (cli's dependency lines) instead of a step's note: set by the step
// that started or stopped a service or found it healthy, and by no other;
// a step that found nothing to do, was skipped or failed has none.
func TestStepEffects(t *testing.T) {
	wantEffects := func(want ...string) func(t *testing.T, out *Outcome, _ *svcConn, _ registry.Registry) {
		return func(t *testing.T, out *Outcome, _ *svcConn, _ registry.Registry) {
			t.Helper()
			if got := effects(out); !slices.Equal(got, want) {
				t.Errorf("effects:\n got %q\nwant %q", got, want)
			}
		}
	}
	for _, tc := range []stepCase{{
		name:  "start: a stopped dependency started by ensure, the target started and healthy",
		req:   Request{Action: "start", Service: "web"},
		conn:  &svcConn{},
		want:  []string{"web check-stopped ok", "db ensure ok", "web start ok", "web health ok", "web record ok"},
		check: wantEffects("db ensure started", "web start started", "web health healthy"),
	}, {
		name:  "start: a running dependency is left alone, ensure has no effect",
		req:   Request{Action: "start", Service: "web"},
		conn:  &svcConn{running: map[string]bool{"db": true}},
		want:  []string{"web check-stopped ok", "db ensure ok", "web start ok", "web health ok", "web record ok"},
		check: wantEffects("web start started", "web health healthy"),
	}, {
		name:  "restart: the one script's stop and start carry theirs",
		req:   Request{Action: "restart", Service: "web"},
		conn:  &svcConn{running: map[string]bool{"db": true, "web": true}},
		want:  []string{"db ensure ok", "web stop ok", "web verify-stopped ok", "web start ok", "web health ok", "web record ok"},
		check: wantEffects("web stop stopped", "web start started", "web health healthy"),
	}, {
		name:    "restart: a failed start has no effect, its stop has",
		req:     Request{Action: "restart", Service: "web"},
		conn:    &svcConn{running: map[string]bool{"db": true, "web": true}, startErr: map[string]string{"web": "no config"}},
		want:    []string{"db ensure ok", "web stop ok", "web verify-stopped ok", "web start failed", "web record ok"},
		wantErr: []string{"a: web: start: "},
		check:   wantEffects("web stop stopped"),
	}, {
		name: "stop --cascade: a running dependent stopped, a stopped one skipped without effect",
		req:  Request{Action: "stop", Service: "db", Cascade: true},
		conn: &svcConn{running: map[string]bool{"db": true, "api": true}},
		want: []string{"db confirm ok",
			"api stop ok", "api verify-stopped ok", "api record ok",
			"web stop skipped", "web verify-stopped skipped", "web record skipped",
			"db stop ok", "db verify-stopped ok", "db record ok"},
		check: wantEffects("api stop stopped", "db stop stopped"),
	}, {
		name:  "stop of a stopped service: already stopped, no effect",
		req:   Request{Action: "stop", Service: "web"},
		conn:  &svcConn{},
		want:  []string{"web stop ok", "web record ok"},
		check: wantEffects(),
	}, {
		name:    "start whose health check fails: the start's effect, none for health",
		req:     Request{Action: "start", Service: "web"},
		conn:    &svcConn{running: map[string]bool{"db": true}, startDies: map[string]bool{"web": true}},
		want:    []string{"web check-stopped ok", "db ensure ok", "web start ok", "web health failed", "web record ok"},
		wantErr: []string{"a: web: health: "},
		check:   wantEffects("web start started"),
	}} {
		t.Run(tc.name, func(t *testing.T) { runStepCase(t, tc) })
	}
}
