package cli

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// The review-deps tests use 127.0.7.x.

// crossHostDependent is a bastion running db and worker1 running app,
// which requires db@primary-bastion (a dependent on another host).
func crossHostDependent(t *testing.T, bastion, worker string) *testfleet.Fleet {
	f := testfleet.Start(t, testfleet.Options{BastionAddr: bastion, WorkerAddr: worker,
		Extra: []testfleet.Service{
			{Name: "db", Role: "bastion"},
			{Name: "app", Role: "worker", Keys: "requires: [db@primary-bastion]"},
		}})
	mustRun(t, f, "service", "start", "worker1", "app") // and db, its dependency
	if !testfleet.Alive(f.PID("worker1", "app")) || !testfleet.Alive(f.PID("primary-bastion", "db")) {
		t.Fatal("setup: want app on worker1 and db on primary-bastion running")
	}
	return f
}

// TestRestartCascadeDoesNotCallAnUnreachableDependentStopped (found by review): app on
// worker1 requires db@primary-bastion and is running; worker1's sshd is
// down. `service restart primary-bastion db --cascade --yes` should
// restart app after db; it cannot reach worker1.
//
// An operator expects omni to say that app@worker1 could not be checked
// or restarted because worker1 is unreachable (as `service stop
// --cascade` does: "Could not check (host unreachable): app@worker1"),
// and the run not to claim success for a cascade it could not do.
//
// omni instead prints "app on worker1 was not running: left as it is"
// (false: app is running, its host just could not be reached), and exits
// 0 with "Service restarted successfully!". The find-dependents step
// treats a status read that failed as "not running".
func TestRestartCascadeDoesNotCallAnUnreachableDependentStopped(t *testing.T) {
	t.Parallel()
	f := crossHostDependent(t, "127.0.7.1", "127.0.7.2")
	app, db := f.PID("worker1", "app"), f.PID("primary-bastion", "db")
	f.Worker.Stop() // worker1 unreachable; app keeps running on it

	out, errOut, code := omni(t, f, "service", "restart", "primary-bastion", "db", "--cascade", "--yes")
	all := out + errOut
	if strings.Contains(all, "app on worker1 was not running") {
		t.Errorf("omni says app on worker1 was not running, but it runs (pid %d alive: %v); worker1 was only unreachable:\n%s",
			app, testfleet.Alive(app), all)
	}
	if !strings.Contains(all, "app@worker1") || !strings.Contains(all, "unreachable") {
		t.Errorf("the dependent --cascade could not restart (app@worker1, host unreachable) is not named as such:\n%s", all)
	}
	if code != ExitUnreachable {
		t.Errorf("restart --cascade that could not reach a running dependent: exit %d, want 4 (unreachable)\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// Nothing was restarted: the cascade could not keep its promise.
	if got := f.PID("primary-bastion", "db"); got != db {
		t.Errorf("db was restarted (pid %d, then %d) although its dependent could not be checked", db, got)
	}
}

// TestRestartNamesADependentItCouldNotCheck: the same fleet, without
// --cascade. A restart lists the running dependents it did not restart
// ("Not restarted (pass --cascade to restart them too): ..."); a
// dependent on a host that cannot be reached may well be running and now
// talking to a restarted db, so an operator expects it named as not
// checked (host unreachable), as `service stop` names it.
//
// omni says nothing at all of app@worker1: no "Not restarted" line, no
// "Could not check" line; the dependent simply vanishes from the report.
func TestRestartNamesADependentItCouldNotCheck(t *testing.T) {
	t.Parallel()
	f := crossHostDependent(t, "127.0.7.3", "127.0.7.4")
	f.Worker.Stop()

	out, errOut, code := omni(t, f, "service", "restart", "primary-bastion", "db", "--yes")
	if code != ExitOK {
		t.Fatalf("setup: restart of db itself should succeed: exit %d\n%s\n%s", code, out, errOut)
	}
	if all := out + errOut; !strings.Contains(all, "Could not check (host unreachable): app@worker1") {
		t.Errorf("restart without --cascade: the dependent app@worker1, on an unreachable host, is not mentioned at all:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	// A restart that fails (db unhealthy after it) names it too.
	f.SetFlags("primary-bastion", "db", "--unhealthy")
	out, errOut, code = omni(t, f, "service", "restart", "primary-bastion", "db", "--yes")
	if all := out + errOut; code != ExitFailed || !strings.Contains(all, "Could not check (host unreachable): app@worker1") {
		t.Errorf("a failed restart: exit %d, want 1 and the dependent it could not check named:\n%s", code, all)
	}
}
