package cli

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestCascadeFailureNamesTheDependentThatFailed (found by review): db on the bastion; app on
// worker1 requires db@primary-bastion; web on worker1 requires app. web
// will come back unhealthy from its next start. `service restart
// primary-bastion db --cascade --yes` restarts db (healthy), app
// (healthy), then web, whose health check fails.
//
// docs/exit-codes.md: a failed step's message "names the host, the
// service, the step and why". An operator reading the failure line expects
// it to name web on worker1. omni prints
//
//	Failed to restart db on primary-bastion: health: http: GET http://127.0.7.6:PORT/healthz: status 503 ...
//
// attributing web@worker1's failed health check to db@primary-bastion (whose
// own status block, just below, says "Health Check: Passed"). The same
// happens for any step of a cascade (a dependent's vetoed pre_stop reads
// "Failed to stop db on primary-bastion: pre-stop: pre_stop hook 1 on
// worker1 ...").
func TestCascadeFailureNamesTheDependentThatFailed(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.7.5", WorkerAddr: "127.0.7.6",
		Extra: []testfleet.Service{
			{Name: "db", Role: "bastion"},
			{Name: "app", Role: "worker", Keys: "requires: [db@primary-bastion]"},
			{Name: "web", Role: "worker", Keys: "requires: [app]"},
		}})
	mustRun(t, f, "service", "start", "worker1", "web") // and app, db
	f.SetFlags("worker1", "web", "--unhealthy")

	out, errOut, code := omni(t, f, "service", "restart", "primary-bastion", "db", "--cascade", "--yes")
	if code != ExitFailed {
		t.Fatalf("setup: want exit 1 (web unhealthy after the cascade), got %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var failed string
	for _, line := range strings.Split(errOut, "\n") {
		if strings.HasPrefix(line, "Failed to ") {
			failed = line
		}
	}
	if failed == "" {
		t.Fatalf("no failure line:\n%s", errOut)
	}
	if !strings.Contains(failed, "web") || !strings.Contains(failed, "worker1") {
		t.Errorf("the failure line does not name the instance whose step failed (web on worker1):\n  %s\nstdout:\n%s", failed, out)
	}
}
