package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestRestartSatisfiesDependenciesFirst: with a required service stopped,
// status says the dependent is unhealthy, naming the dependency (text and
// JSON), as its health step would; restart --no-deps refuses before the
// service is touched; restart starts the dependency first, then restarts
// the service, healthy.
func TestRestartSatisfiesDependenciesFirst(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.176", WorkerAddr: "127.0.1.177"})
	mustRun(t, f, "service", "start", "worker1", "container-runtime") // and network-agent, its dependency
	mustRun(t, f, "service", "stop", "worker1", "network-agent", "--yes")
	pid := f.PID("worker1", "container-runtime")
	if !testfleet.Alive(pid) || testfleet.Alive(f.PID("worker1", "network-agent")) {
		t.Fatal("setup: want container-runtime running and network-agent stopped")
	}

	// status: the same four checks as the health step.
	out, errOut, _ := omni(t, f, "service", "status", "worker1", "container-runtime")
	if !strings.Contains(out, "failed: dependency network-agent@worker1: stopped") {
		t.Fatalf("status with a required service stopped:\n%s\n%s", out, errOut)
	}
	out, errOut, _ = omni(t, f, "-o", "json", "service", "status", "worker1")
	var doc struct {
		Services []statusRow `json:"services"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status json: %v\n%s\n%s", err, out, errOut)
	}
	var health string
	for _, r := range doc.Services {
		if r.Service == "container-runtime" {
			health = r.Health
		}
	}
	if health != "failed: dependency network-agent@worker1: stopped" {
		t.Fatalf("status json: container-runtime health %q, want the dependency named\n%s", health, out)
	}

	// restart --no-deps: refused, the dependency named, nothing touched.
	out, errOut, code := omni(t, f, "service", "restart", "worker1", "container-runtime", "--no-deps", "--yes")
	if code != ExitFailed || !strings.Contains(errOut, "check-deps: required services are not running and healthy: network-agent@worker1 (stopped)") {
		t.Fatalf("restart --no-deps with a dependency down: exit %d\n%s\n%s", code, out, errOut)
	}
	if f.PID("worker1", "container-runtime") != pid || !testfleet.Alive(pid) || testfleet.Alive(f.PID("worker1", "network-agent")) {
		t.Fatal("restart --no-deps touched a service")
	}

	// restart: network-agent started first, then container-runtime restarted.
	out, errOut, code = omni(t, f, "service", "restart", "worker1", "container-runtime", "--yes")
	if code != ExitOK || !strings.Contains(out, "Started network-agent on worker1 (required by container-runtime@worker1): healthy") ||
		!strings.Contains(out, "Health Check:     Passed") {
		t.Fatalf("restart with a dependency down: exit %d\n%s\n%s", code, out, errOut)
	}
	if now := f.PID("worker1", "container-runtime"); now == pid || !testfleet.Alive(now) || !testfleet.Alive(f.PID("worker1", "network-agent")) {
		t.Fatalf("restart: container-runtime pid %d -> %d, network-agent alive %v", pid, now, testfleet.Alive(f.PID("worker1", "network-agent")))
	}
	if procStart(f.PID("worker1", "network-agent")) > procStart(f.PID("worker1", "container-runtime")) {
		t.Fatal("network-agent was started after container-runtime")
	}
}

// TestRollingRestartPreflightNamesDependencyDown: network-agent, which
// container-runtime requires, is stopped on worker2. The preflight names
// it (host and service). With --no-deps nothing is touched (exit 1); without,
// worker2 goes first (it is unavailable) and its restart starts network-agent
// first, then the healthy hosts follow.
func TestRollingRestartPreflightNamesDependencyDown(t *testing.T) {
	t.Parallel()
	f := fourWorkers(t, 171)
	mustRun(t, f, "service", "stop", "worker2", "network-agent", "--yes")
	before := pids(f, "container-runtime")

	out, errOut, code := omni(t, f, "service", "restart", "worker", "container-runtime", "--no-deps", "--min-ready", "0s")
	if code != ExitFailed || !strings.Contains(errOut, "preflight: worker2: network-agent (required) is stopped: --no-deps: it will not be started") ||
		!strings.Contains(out, "no host was touched") {
		t.Fatalf("rolling restart --no-deps with a dependency down: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for w, pid := range pids(f, "container-runtime") {
		if pid != before[w] || !testfleet.Alive(pid) {
			t.Fatalf("--no-deps: %s was touched (pid %d -> %d)", w, before[w], pid)
		}
	}
	if testfleet.Alive(f.PID("worker2", "network-agent")) {
		t.Fatal("--no-deps started network-agent on worker2")
	}

	out, errOut, code = omni(t, f, "service", "restart", "worker", "container-runtime", "--batch", "3", "--min-ready", "0s")
	if code != ExitOK || !strings.Contains(errOut, "preflight: worker2: network-agent (required) is stopped: it will be started first") {
		t.Fatalf("rolling restart with a dependency down: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if batches := batchLine.FindAllStringSubmatch(errOut, -1); len(batches) != 2 || !strings.HasPrefix(batches[0][3], "worker2 (") || batches[1][3] != "worker1, worker3, worker4" {
		t.Fatalf("worker2, unavailable, should go first: %q\n%s", batches, errOut)
	}
	for w, pid := range pids(f, "container-runtime") {
		if pid == before[w] || !testfleet.Alive(pid) {
			t.Fatalf("%s not restarted (pid %d -> %d)\n%s", w, before[w], pid, errOut)
		}
	}
	if !testfleet.Alive(f.PID("worker2", "network-agent")) ||
		!strings.Contains(errOut, "worker2: Started network-agent on worker2 (required by container-runtime@worker2): healthy") {
		t.Fatalf("network-agent on worker2 was not started, or not said:\n%s", errOut)
	}
}
