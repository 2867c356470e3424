package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/health"
)

// depRunner is a rolling restart of 4 hosts, h2's service unhealthy
// because the dependency agent@h2 is why (classified as reason); with noDeps the plans refuse
// a dependency that is down (restart --no-deps), else they start it.
func depRunner(s *sim, why string, reason health.DependencyReason, noDeps bool) *fleetRunner {
	r := s.runner(4, FleetOptions{Forks: 10, Rolling: true, Batch: 1, MaxUnavailable: 1})
	for _, t := range r.Targets {
		t.Plan.Request = Request{Action: "restart", NoDeps: noDeps}
		step := StepEnsure
		if noDeps {
			step = StepCheckDeps
		}
		t.Plan.Tasks = []Task{{Step: step, Host: t.Host}, {Step: StepStop, Host: t.Host}}
	}
	status := r.Status
	r.Status = func(ctx context.Context, instances []Instance) []InstanceStatus {
		rows := status(ctx, instances)
		for i := range rows {
			rep := &health.Report{Checks: []health.Result{{Check: "process", Passed: true, Attempts: 1}}}
			if rows[i].Host == "h2" {
				rep.Checks = append(rep.Checks, health.Result{Check: DependencyCheck + "agent@h2", Dependency: "agent@h2", Attempts: 1, Error: why, Reason: reason})
			}
			rows[i].Health = rep
		}
		return rows
	}
	return r
}

func preflightLines(s *sim) string {
	var lines []string
	for _, ev := range s.events {
		if ev.Kind == EventPreflight {
			lines = append(lines, ev.Msg)
		}
	}
	return strings.Join(lines, "\n")
}

// A stopped dependency on one host: the preflight names it, the host goes
// first (it is unavailable) and its restart starts the dependency.
func TestPreflightDependencyStoppedIsStartedFirst(t *testing.T) {
	s := newSim()
	rep := depRunner(s, "stopped", health.DependencyStopped, false).Run(context.Background(), context.Background())
	pre := preflightLines(s)
	if !strings.Contains(pre, "h2: agent (required) is stopped: it will be started first") ||
		!strings.Contains(pre, "1 of 4 instances already unavailable (h2 unhealthy (dependency agent@h2: stopped))") {
		t.Fatalf("preflight:\n%s", pre)
	}
	if got := fmt.Sprint(s.batches()); got != "[[h2] [h1] [h3] [h4]]" || results(rep) != "h1=done h2=done h3=done h4=done" {
		t.Fatalf("batches %s, report %s", got, results(rep))
	}
}

// With --no-deps, or a dependency that runs but is unhealthy (a restart
// does not fix it), nothing is touched: the host fails with the reason,
// the others are untouched, the run is aborted.
func TestPreflightDependencyDownRefusesUpFront(t *testing.T) {
	for _, c := range []struct {
		name, why string
		reason    health.DependencyReason
		noDeps    bool
		want      string
	}{
		{"no-deps", "stopped", health.DependencyStopped, true, "h2: agent (required) is stopped: --no-deps: it will not be started"},
		{"unhealthy", "unhealthy: port 7: refused", health.DependencyUnhealthy, false, "h2: agent (required) is unhealthy: port 7: refused: a restart does not fix it"},
		// A sentence for every reason (found by review: "is could not be read").
		{"unreadable", "could not be read: h9 (10.0.0.9:22): unreachable: connection refused", health.DependencyUnreadable, false,
			"h2: agent (required) could not be read: h9 (10.0.0.9:22): unreachable: connection refused: a restart does not fix it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSim()
			rep := depRunner(s, c.why, c.reason, c.noDeps).Run(context.Background(), context.Background())
			if !strings.Contains(preflightLines(s), c.want) {
				t.Fatalf("preflight:\n%s", preflightLines(s))
			}
			if len(s.order) != 0 || results(rep) != "h1=untouched h2=failed h3=untouched h4=untouched" {
				t.Fatalf("touched %v, report %s", s.order, results(rep))
			}
			if err := rep.Hosts[1].Err; err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("h2's error: %v", err)
			}
			if !strings.Contains(rep.Aborted, "a service required on h2 is not running and healthy") || !strings.Contains(rep.Aborted, "no host was touched") {
				t.Fatalf("aborted: %q", rep.Aborted)
			}
		})
	}
}
