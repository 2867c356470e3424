package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/inventory"
)

// TestDependencyChecksAreTyped: each dependency check says, in typed
// fields, which requirement it checked and why it failed (stopped,
// unhealthy, unreadable; a role with no healthy instance counts as
// stopped), and DependencyProblems reads those fields: a stopped one is
// startable, the others are not.
func TestDependencyChecksAreTyped(t *testing.T) {
	inv, err := inventory.Parse("inventory.yaml", []byte(strings.Join([]string{
		"version: 1",
		"defaults: {manager: command}",
		"hosts:",
		"  a: {address: 10.0.0.1, roles: [app]}",
		"  db1: {address: 10.0.0.3, roles: [db]}",
		"roles:",
		"  app: [agent, cache, odd, web]",
		"  db: [pg]",
		"services:",
		"  agent: {commands: {start: 'true', status: 'echo st-agent'}, health: {process: true}}",
		"  cache: {commands: {start: 'true', status: 'echo st-cache'}, health: {process: true, port: 7, timeout: 1s}}",
		"  odd: {commands: {start: 'true', status: 'echo unknown'}, health: {process: true}}",
		"  pg: {commands: {start: 'true', status: 'echo st-pg'}, health: {process: true}}",
		"  web: {requires: [agent, cache, odd, pg@db], commands: {start: 'true', status: 'echo st-web'}, health: {process: true}}",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	hosts := &scriptedHosts{reads: map[string]int{}, open: map[string]int{}, up: map[string]bool{"web@a": true, "cache@a": true}}
	rows := LiveStatus(context.Background(), inv, []Instance{{Host: "a", Service: "web"}}, hosts, 1)
	if len(rows) != 1 || rows[0].Err != nil || rows[0].Health == nil {
		t.Fatalf("rows %+v", rows)
	}
	want := map[string]health.DependencyReason{
		"agent@a": health.DependencyStopped,
		"cache@a": health.DependencyUnhealthy,
		"odd@a":   health.DependencyUnreadable,
		"pg@db":   health.DependencyStopped,
	}
	deps := 0
	for _, c := range rows[0].Health.Checks {
		if c.Dependency == "" {
			if c.Reason != "" {
				t.Errorf("%s: reason %q on a check that is not a dependency's", c.Check, c.Reason)
			}
			continue
		}
		deps++
		if c.Check != DependencyCheck+c.Dependency || c.Reason != want[c.Dependency] {
			t.Errorf("check %q: dependency %q, reason %q, want %q (error %q)", c.Check, c.Dependency, c.Reason, want[c.Dependency], c.Error)
		}
	}
	if deps != len(want) {
		t.Fatalf("%d dependency checks, want %d: %+v", deps, len(want), rows[0].Health.Checks)
	}
	got := map[string]bool{}
	for _, p := range DependencyProblems(rows[0].Health) {
		got[p.Need] = p.Startable
	}
	if len(got) != 4 || !got["agent@a"] || got["cache@a"] || got["odd@a"] || !got["pg@db"] {
		t.Errorf("startable %v, want agent@a and pg@db only", got)
	}
}

// TestDependencyProblemsReadTheTypedFields: the problems come from
// Dependency and Reason, not from the check's name or the wording of its
// error: a stopped dependency whose state reads "unhealthy-wait" is still
// startable, and a check merely named like a dependency's is none.
func TestDependencyProblemsReadTheTypedFields(t *testing.T) {
	rep := &health.Report{Checks: []health.Result{
		{Check: "process", Passed: true, Attempts: 1},
		{Check: DependencyCheck + "agent@h2", Dependency: "agent@h2", Attempts: 1, Error: "unhealthy-wait", Reason: health.DependencyStopped},
		{Check: DependencyCheck + "look-alike", Attempts: 1, Error: "stopped"},
	}}
	got := DependencyProblems(rep)
	if len(got) != 1 || got[0] != (DependencyProblem{Need: "agent@h2", Why: "unhealthy-wait", Startable: true, Reason: health.DependencyStopped}) {
		t.Fatalf("problems %+v, want agent@h2 startable only", got)
	}
}
