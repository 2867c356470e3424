package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestFleetStopOfTheLastRunningInstancesOnARoleNamesItsDependent (found by
// review): a fleet stop (a glob target) that takes away the last running
// instances of a svc@role requirement names the dependent and, without a
// terminal or --yes, refuses, as the same stop of one host does.
//
// backup-agent on the bastion requires storage-agent@worker. storage-agent
// runs on worker1 and worker2; worker3's is stopped. `service stop
// 'worker[12]' storage-agent` takes away every running instance
// backup-agent can use. `service stop worker1 storage-agent` with worker2's
// down refuses (exit 5) naming backup-agent (31bd6ad), and the fleet's
// --dry-run shows a confirm step "listed if running and this is the last
// healthy instance there"; but the fleet run asks nothing, names nothing,
// stops both (exit 0) and leaves backup-agent failing its dependency check:
// the fleet's impact (engine.Impact, cli/fleet.go confirmFleet) is worked
// out from the inventory alone, and the hosts' confirm steps skip
// lastOnRole in a fleet run (step_confirm.go: r.env.shared == nil).
func TestFleetStopOfTheLastRunningInstancesOnARoleNamesItsDependent(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.93.20", WorkerAddr: "127.0.93.21", MoreWorkers: []string{"127.0.93.22", "127.0.93.23"},
		Extra: []testfleet.Service{
			{Name: "storage-agent", Role: "worker"},
			{Name: "backup-agent", Role: "bastion", Keys: "requires: [storage-agent@worker]"},
		}})
	mustRun(t, f, "service", "start", "primary-bastion", "backup-agent") // starts storage-agent on worker1
	mustRun(t, f, "service", "start", "worker2", "storage-agent")
	if !testfleet.Alive(f.PID("worker1", "storage-agent")) || !testfleet.Alive(f.PID("worker2", "storage-agent")) || testfleet.Alive(f.PID("worker3", "storage-agent")) {
		t.Fatal("setup: want storage-agent running on worker1 and worker2, stopped on worker3")
	}
	pid1, pid2 := f.PID("worker1", "storage-agent"), f.PID("worker2", "storage-agent")

	out, errOut, code := omni(t, f, "service", "stop", "worker[12]", "storage-agent")
	if !strings.Contains(out+errOut, "backup-agent") {
		t.Errorf("a fleet stop of the last running storage-agents on the workers does not name backup-agent@primary-bastion, which needs one:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	if code != ExitRefused || !testfleet.Alive(pid1) || !testfleet.Alive(pid2) {
		t.Errorf("without a terminal or --yes, a fleet stop that leaves a running dependent without its requirement should refuse (exit 5) and change nothing, as `service stop worker1 storage-agent` does: exit %d, storage-agent alive on worker1 %v, worker2 %v\nstdout:\n%s\nstderr:\n%s",
			code, testfleet.Alive(pid1), testfleet.Alive(pid2), out, errOut)
	}
}

// TestFleetRunWithItsDependencyHostUnreachableDoesNotCallTheHostsUnreachable
// (found by review): in a fleet run, a host that answered, whose plan fails
// because a dependency on another host cannot be reached, is not reported
// "unreachable": docs/exit-codes.md gives a fleet host the result
// unreachable "only when its host could not be connected to, authenticated
// or trusted" ("a host that answered is never 'unreachable'").
//
// gapp on the workers requires gdb@ghost; ghost refuses connections.
// `service start worker gapp` reports worker1 and worker2 as "unreachable"
// (table, "Unreachable: worker1, worker2", JSON result, history), though
// both answered (their check-stopped step ran on them): the ensure step's
// error on ghost is classified for the target's host (engine.hostResult
// classifies the plan's error, whatever host it came from).
func TestFleetRunWithItsDependencyHostUnreachableDoesNotCallTheHostsUnreachable(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.93.30", WorkerAddr: "127.0.93.31", MoreWorkers: []string{"127.0.93.32"},
		Extra: []testfleet.Service{
			{Name: "gdb", Role: "ghostrole"}, // run by the ghost host only (added below)
			{Name: "gapp", Role: "worker", Keys: "requires: [gdb@ghost]"},
		}})
	// ghost: a host of its own that refuses connections (nothing listens on
	// port 1 of 127.0.93.39).
	f.Inventory = f.Variant("ghost.yaml", "roles:\n  all:",
		"  ghost:\n    address: 127.0.93.39\n    port: 1\n    roles: [ghostrole]\n    service_address: 127.0.93.39\nroles:\n  ghostrole: [gdb]\n  all:")

	out, errOut, code := omni(t, f, "-o", "json", "service", "start", "worker", "gapp")
	var doc struct {
		Hosts []struct {
			Host   string `json:"host"`
			Result string `json:"result"`
			Error  string `json:"error"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Hosts) != 2 {
		t.Fatalf("start worker gapp -o json: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	for _, h := range doc.Hosts {
		if !strings.Contains(h.Error, "ghost") {
			t.Errorf("%s: the error should name ghost, the dependency's host that could not be reached: %q", h.Host, h.Error)
		}
		if h.Result == "unreachable" {
			t.Errorf("%s answered (its check-stopped ran on it), yet its result is %q; it is gdb's host, ghost, that could not be reached: %q", h.Host, h.Result, h.Error)
		}
	}

	out, errOut, _ = omni(t, f, "service", "start", "worker", "gapp")
	if strings.Contains(out, "Unreachable: worker1") || strings.Contains(out, "│ unreachable") || strings.Contains(out, " unreachable  ") {
		t.Errorf("the report says worker1 and worker2 were unreachable; they answered, ghost did not:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

// TestCascadeRestartSatisfiesTheDependentsDependenciesFirst (found by
// review): a restart --cascade restarts a dependent only once what that
// dependent requires runs, as a restart of the dependent itself does
// (check-deps starts it first), or else touches nothing.
//
// app on worker1 requires cache and db@primary-bastion; db is stopped.
// `service restart worker1 app` would start db first. `service restart
// worker1 cache --cascade` restarts cache, then stops app and starts it
// again with db still stopped: app fails its health ("dependency
// db@primary-bastion: stopped"), exit 1, after both were restarted (a
// dependent that needs db to start would be left down). The cascade's
// steps on a dependent (plan.go cascadeRestartSteps) have no ensure of the
// dependent's own requirements, and nothing checks them before the target
// is touched.
func TestCascadeRestartSatisfiesTheDependentsDependenciesFirst(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.93.40", WorkerAddr: "127.0.93.41",
		Extra: []testfleet.Service{
			{Name: "db", Role: "bastion"},
			{Name: "cache", Role: "worker", Keys: "requires: [network-agent]"},
			{Name: "app", Role: "worker", Keys: "requires: [cache, db@primary-bastion]"},
		}})
	mustRun(t, f, "service", "start", "worker1", "app") // and network-agent, cache, db
	mustRun(t, f, "service", "stop", "primary-bastion", "db", "--yes")
	cachePID, appPID := f.PID("worker1", "cache"), f.PID("worker1", "app")
	if !testfleet.Alive(cachePID) || !testfleet.Alive(appPID) || testfleet.Alive(f.PID("primary-bastion", "db")) {
		t.Fatal("setup: want cache and app running on worker1, db stopped")
	}

	out, errOut, code := omni(t, f, "service", "restart", "worker1", "cache", "--cascade")
	satisfied := code == ExitOK && testfleet.Alive(f.PID("primary-bastion", "db")) && f.PID("worker1", "app") != appPID && testfleet.Alive(f.PID("worker1", "app"))
	untouched := code != ExitOK && f.PID("worker1", "cache") == cachePID && f.PID("worker1", "app") == appPID && testfleet.Alive(appPID)
	if !satisfied && !untouched {
		t.Errorf("restart --cascade with a dependent's own dependency (db) stopped: want db started before app is restarted (exit 0, app healthy), or nothing touched; got exit %d, db running %v, cache pid %d -> %d, app pid %d -> %d\nstdout:\n%s\nstderr:\n%s",
			code, testfleet.Alive(f.PID("primary-bastion", "db")), cachePID, f.PID("worker1", "cache"), appPID, f.PID("worker1", "app"), out, errOut)
	}
}

// TestFailedRestartNamesTheRunningDependentsItLeft (found by review): a
// restart without --cascade that fails (its health check) still names the
// running dependents it left alone, in text ("Not restarted") and JSON
// (not_restarted), as it names those it could not check (4d0314a).
//
// app on worker1 requires cache; cache comes back unhealthy. `service
// restart worker1 cache` fails (exit 1) and says nothing of app, running
// and now requiring an unhealthy cache: report-dependents is planned after
// record, and Execute's finish runs only the record step after a failure.
func TestFailedRestartNamesTheRunningDependentsItLeft(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.93.50", WorkerAddr: "127.0.93.51",
		Extra: []testfleet.Service{
			{Name: "cache", Role: "worker", Keys: "requires: [network-agent]"},
			{Name: "app", Role: "worker", Keys: "requires: [cache]"},
		}})
	mustRun(t, f, "service", "start", "worker1", "app") // and network-agent, cache
	f.SetFlags("worker1", "cache", "--unhealthy")

	out, errOut, code := omni(t, f, "service", "restart", "worker1", "cache")
	if code != ExitFailed {
		t.Fatalf("restart of a cache that comes back unhealthy: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out+errOut, "app@worker1") {
		t.Errorf("the failed restart does not name app@worker1, a running dependent it left alone:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	out, errOut, _ = omni(t, f, "-o", "json", "service", "restart", "worker1", "cache")
	var doc struct {
		NotRestarted []string `json:"not_restarted"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("restart -o json: %v\n%s\n%s", err, out, errOut)
	}
	if strings.Join(doc.NotRestarted, ",") != "app@worker1" {
		t.Errorf("failed restart -o json: not_restarted %q, want [app@worker1]\n%s", doc.NotRestarted, out)
	}
}

// TestRestartOfTheLastRunningInstanceOnARoleNamesItsDependent (found by
// review): a restart that takes down the last running instance of a
// svc@role requirement names the running dependent it leaves without it
// (its "Not restarted" list and JSON not_restarted), as a stop of the same
// instance names it (31bd6ad).
//
// backup-agent requires storage-agent@worker; only worker1's runs.
// `service stop worker1 storage-agent` names backup-agent ("Left without a
// running storage-agent"); `service restart worker1 storage-agent` takes
// that last instance down and up again and names nothing: the plan's
// Dependents are worked out from the inventory alone and only the stop's
// confirm step looks at the role's other instances (lastOnRole).
func TestRestartOfTheLastRunningInstanceOnARoleNamesItsDependent(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.93.60", WorkerAddr: "127.0.93.61", MoreWorkers: []string{"127.0.93.62"},
		Extra: []testfleet.Service{
			{Name: "storage-agent", Role: "worker"},
			{Name: "backup-agent", Role: "bastion", Keys: "requires: [storage-agent@worker]"},
		}})
	mustRun(t, f, "service", "start", "primary-bastion", "backup-agent") // starts storage-agent on worker1 only
	if !testfleet.Alive(f.PID("worker1", "storage-agent")) || testfleet.Alive(f.PID("worker2", "storage-agent")) {
		t.Fatal("setup: want storage-agent running on worker1 only")
	}
	out, errOut, code := omni(t, f, "-o", "json", "service", "restart", "worker1", "storage-agent")
	var doc struct {
		NotRestarted []string `json:"not_restarted"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != ExitOK {
		t.Fatalf("restart -o json: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if strings.Join(doc.NotRestarted, ",") != "backup-agent@primary-bastion" {
		t.Errorf("restart of the last running storage-agent on a worker: not_restarted %q, want [backup-agent@primary-bastion], which lost it for the restart\n%s", doc.NotRestarted, out)
	}
}

// ghostFleet is a fleet with a host, ghost, that refuses connections
// (nothing listens on port 1 of its address) and runs gdb; rapp, on the
// workers, runs and is healthy, started while it required only
// network-agent; the inventory it returns has rapp require req instead.
func ghostFleet(t *testing.T, bastion, worker, worker2, ghost, req string) *testfleet.Fleet {
	t.Helper()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: bastion, WorkerAddr: worker, MoreWorkers: []string{worker2},
		Extra: []testfleet.Service{
			{Name: "gdb", Role: "ghostrole"}, // run by the ghost host only (added below)
			{Name: "rapp", Role: "worker", Keys: "requires: [network-agent]"},
		}})
	f.Inventory = f.Variant("ghost.yaml", "roles:\n  all:",
		"  ghost:\n    address: "+ghost+"\n    port: 1\n    roles: [ghostrole]\n    service_address: "+ghost+"\nroles:\n  ghostrole: [gdb]\n  all:")
	mustRun(t, f, "service", "start", "worker", "rapp")
	f.Inventory = f.Variant("ghost-requires.yaml", "  rapp:\n    requires: [network-agent]", "  rapp:\n    requires: ["+req+"]")
	return f
}

// TestRoleDependencyOnAnUnreachableHostIsNotCalledStopped (found by
// review): a svc@role requirement whose instances could not be read (their
// host unreachable) is said to be unreadable, naming the host, as a
// svc@host requirement is, and not "no running and healthy instance"
// (taken for stopped); so the rolling preflight refuses up front, as
// docs/fleet.md says of a dependency whose state could not be read.
//
// rapp requires gdb@ghostrole; ghost, the one host of the role, refuses
// connections. `service status worker rapp` says "failed: dependency
// gdb@ghostrole: no running and healthy instance" (never naming ghost or
// that it could not be reached), and the rolling restart's preflight says
// "gdb@ghostrole (required) is no running and healthy instance: it will be
// started first", then restarts worker1, fails there and calls it
// unreachable (exit 4). The same inventory with gdb@ghost says "could not
// be read: ghost (…): unreachable" and the preflight refuses, "no host was
// touched", exit 1. checker.healthyOnRole drops the read's error, and
// dependencyChecks gives a role's failure the reason stopped.
func TestRoleDependencyOnAnUnreachableHostIsNotCalledStopped(t *testing.T) {
	t.Parallel()
	f := ghostFleet(t, "127.0.93.70", "127.0.93.71", "127.0.93.72", "127.0.93.79", "gdb@ghostrole")

	out, errOut, _ := omni(t, f, "service", "status", "worker", "rapp")
	if strings.Contains(out, "no running and healthy instance") || !strings.Contains(out, "ghost") {
		t.Errorf("status: gdb@ghostrole's only instance could not be read (ghost unreachable); its health should say so and name ghost, not that there is no running instance:\n%s\n%s", out, errOut)
	}

	out, errOut, code := omni(t, f, "service", "restart", "worker", "rapp", "--rolling", "--min-ready", "0s")
	if strings.Contains(errOut, "it will be started first") || !strings.Contains(out, "no host was touched") || code != ExitFailed {
		t.Errorf("rolling restart with gdb@ghostrole unreadable: the preflight should refuse up front (no host touched, exit 1), not promise to start it: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestPreflightDependencyLineReadsAsASentence (found by review): the
// rolling preflight's line about a dependency that could not be read is
// literally "gdb@ghost (required) is could not be read: …": the line is
// built as "%s (required) is %s" with the dependency check's error, which
// is a state only when it is "stopped" (engine/fleet_preflight.go:27); "no
// running and healthy instance" reads "is no running and healthy
// instance" the same way.
func TestPreflightDependencyLineReadsAsASentence(t *testing.T) {
	t.Parallel()
	f := ghostFleet(t, "127.0.93.80", "127.0.93.81", "127.0.93.82", "127.0.93.89", "gdb@ghost")

	out, errOut, _ := omni(t, f, "service", "restart", "worker", "rapp", "--rolling", "--min-ready", "0s")
	if !strings.Contains(errOut, "preflight: worker1: gdb@ghost (required)") {
		t.Fatalf("rolling restart: no preflight line for gdb@ghost:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	if strings.Contains(out+errOut, "(required) is could not be read") {
		t.Errorf("the preflight says \"(required) is could not be read\":\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
}
