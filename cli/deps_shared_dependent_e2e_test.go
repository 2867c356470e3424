package cli

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestFleetCascadeRestartsASharedDependentOnce (found by review): db runs on worker1 and
// worker2; reporter on the bastion requires db@worker1 and db@worker2.
// `service restart worker db --cascade` (db is not critical: a parallel
// run) restarts db on both workers, and --cascade must then restart
// reporter, their one running dependent, and leave it running and healthy.
//
// An operator expects reporter restarted once and running at the end. omni
// has each worker's plan restart reporter@primary-bastion on its own, at
// the same time: two "Restarted reporter on primary-bastion ... healthy"
// lines, "2 done", exit 0, the registry recording reporter running, while
// `service status` then finds reporter stopped (the two stop/start
// sequences of one service interleave; with the command manager one
// start's daemon loses the port to the other's and exits, taking the
// pidfile with it). The same root as a shared dependency started once
// per host: nothing within a run serializes an instance several hosts'
// plans act on.
func TestFleetCascadeRestartsASharedDependentOnce(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.7.16", WorkerAddr: "127.0.7.17", MoreWorkers: []string{"127.0.7.18"},
		Extra: []testfleet.Service{
			{Name: "db", Role: "worker"},
			{Name: "reporter", Role: "bastion", Keys: "requires: [db@worker1, db@worker2]"},
		}})
	mustRun(t, f, "service", "start", "primary-bastion", "reporter") // and db on both workers

	out, errOut, code := omni(t, f, "service", "restart", "worker", "db", "--cascade")
	if n := strings.Count(errOut, "Restarted reporter on primary-bastion"); n != 1 {
		t.Errorf("reporter@primary-bastion restarted %d times by one run, want once:\n%s", n, errOut)
	}
	_, statusErr, statusCode := omni(t, f, "service", "status", "primary-bastion", "reporter")
	if statusCode != ExitOK || !testfleet.Alive(f.PID("primary-bastion", "reporter")) {
		t.Errorf("restart worker db --cascade (exit %d) left reporter@primary-bastion not running and healthy (status exit %d):\n%s\nrun stdout:\n%s\nrun stderr:\n%s",
			code, statusCode, statusErr, out, errOut)
	}
}
