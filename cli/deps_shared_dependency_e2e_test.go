package cli

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestFleetStartsASharedDependencyOnce (found by review): app runs on worker1 and worker2
// and requires db@primary-bastion, which is stopped. `service start
// worker app` (a parallel fleet run) must start db first, once, then app
// on both workers.
//
// An operator expects one "Started db on primary-bastion" line, both
// hosts done and exit 0. omni has every host's plan ensure db on its own,
// at the same time: each reads db stopped and starts it (two starts of
// one service, two "Started db ... healthy" lines), the second start's
// daemon loses the port and dies, taking the pidfile with it, and then
// every host fails with "health: dependency db@primary-bastion: stopped"
// (exit 1) while app runs on both and a db process still runs that omni
// now calls stopped (so a later `service stop primary-bastion db` stops
// nothing). Nothing within one run serializes the ensure of an instance
// several plans share.
func TestFleetStartsASharedDependencyOnce(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.7.7", WorkerAddr: "127.0.7.8", MoreWorkers: []string{"127.0.7.9"},
		Extra: []testfleet.Service{
			{Name: "db", Role: "bastion"},
			{Name: "app", Role: "worker", Keys: "requires: [db@primary-bastion]"},
		}})

	out, errOut, code := omni(t, f, "service", "start", "worker", "app")
	if n := strings.Count(errOut, "Started db on primary-bastion"); n != 1 {
		t.Errorf("db@primary-bastion started %d times by one run, want once:\n%s", n, errOut)
	}
	if code != ExitOK {
		t.Errorf("start worker app with db stopped: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	_, statusErr, statusCode := omni(t, f, "service", "status", "primary-bastion", "db")
	if statusCode != ExitOK {
		t.Errorf("after the run, db@primary-bastion is not running and healthy as omni sees it (status exit %d):\n%s", statusCode, statusErr)
	}
}
