package engine

import (
	"slices"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/registry"
)

// TestEnsureVerifiesDependencyStart: since ae9f3a3 "after a start
// or restart the process check runs whatever [health.process] says: a
// start is verified by the service running" (docs/inventory.md, health).
// A dependency started by the ensure step is started by the run too, yet
// runEnsure (engine/step_ensure.go) checks it with r.check.own, whose
// process check is processAsDeclared (engine/check.go), not with the
// processAlways mode the target's health step now gets: a dependency
// without `process: true` whose start command exits 0 and which dies at
// once (the redis-server of ae9f3a3, its port taken) is reported
// "started", and the target is started on top of a dead dependency.
//
// Here db declares no process check (one quick attempt of nothing: its
// health block only tunes retries), its start exits 0 and leaves it
// stopped. The ensure step should fail (dependency db@a ... process), and
// web should not be started, as when db declares `process: true`
// (TestExecuteEnsureStep).
func TestEnsureVerifiesDependencyStart(t *testing.T) {
	inv := strings.Replace(stepsInventory, "logs: 'logs-db'}, health: {process: true, retries: 1, interval: 10ms}",
		"logs: 'logs-db'}, health: {retries: 1, interval: 10ms}", 1)
	if inv == stepsInventory {
		t.Fatal("inventory not edited")
	}
	runStepCase(t, stepCase{
		name:    "a dependency without a declared process check dies right after its start",
		inv:     inv,
		req:     Request{Action: "start", Service: "web"},
		conn:    &svcConn{startDies: map[string]bool{"db": true}, logs: "db: exited: bad config\n"},
		want:    []string{"web check-stopped ok", "db ensure failed", "web record ok"},
		wantErr: []string{"dependency db@a"},
		check: func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
			if slices.Contains(c.starts, "web") {
				t.Errorf("started %v (ensure note %q): web was started although its dependency db died right after its start", c.starts, stepNote(out, "db", StepEnsure))
			}
		},
	})
}
