package cli

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestStopOfTheLastRunningInstanceOnARoleNamesItsDependent (found by review): backup-agent
// on the bastion requires storage-agent@worker (any instance on a worker).
// storage-agent runs on worker1 only (worker2's is stopped), and
// backup-agent runs, satisfied by worker1's.
//
// README: "Stop also finds the running services, on every host, that
// depend on this one, prints them, and asks as it does for a critical
// service." Stopping storage-agent on worker1 takes away the last running
// instance backup-agent has: an operator expects backup-agent@primary-bastion
// named and, without a terminal and without --yes, a refusal (exit 5)
// with nothing changed.
//
// omni counts only whether the run itself stops every instance declared
// on the role (the plan is computed without looking at which run), so it
// names no dependent, asks nothing, stops storage-agent (exit 0), and
// backup-agent is left running with "failed: dependency
// storage-agent@worker: no running and healthy instance".
func TestStopOfTheLastRunningInstanceOnARoleNamesItsDependent(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.7.13", WorkerAddr: "127.0.7.14", MoreWorkers: []string{"127.0.7.15"},
		Extra: []testfleet.Service{
			{Name: "storage-agent", Role: "worker"},
			{Name: "backup-agent", Role: "bastion", Keys: "requires: [storage-agent@worker]"},
		}})
	mustRun(t, f, "service", "start", "primary-bastion", "backup-agent") // starts storage-agent on worker1 only
	if !testfleet.Alive(f.PID("worker1", "storage-agent")) || testfleet.Alive(f.PID("worker2", "storage-agent")) {
		t.Fatal("setup: want storage-agent running on worker1 only")
	}
	pid := f.PID("worker1", "storage-agent")

	out, errOut, code := omni(t, f, "service", "stop", "worker1", "storage-agent")
	if !strings.Contains(out+errOut, "backup-agent") {
		t.Errorf("stop of the last running storage-agent on a worker does not name backup-agent@primary-bastion, which needs it:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	if code != ExitRefused || !testfleet.Alive(pid) {
		t.Errorf("without a terminal or --yes, a stop with a running dependent should refuse (exit 5) and change nothing: exit %d, storage-agent on worker1 alive: %v",
			code, testfleet.Alive(pid))
	}
	// With another healthy instance on the role, nothing to ask.
	mustRun(t, f, "service", "start", "worker2", "storage-agent")
	out, errOut, code = omni(t, f, "service", "stop", "worker1", "storage-agent")
	if code != ExitOK || strings.Contains(out+errOut, "backup-agent") {
		t.Errorf("stop of one of two healthy storage-agents: exit %d, want 0 without naming backup-agent (worker2's still serves it)\n%s%s", code, out, errOut)
	}
}
