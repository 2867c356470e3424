package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testfleet"
)

// TestRestartSatisfiesDependenciesFirst: with a required service stopped,
// status says the dependent is unhealthy, naming the dependency (text and
// JSON), as its health step would; restart --no-deps refuses before the
// service is touched; restart starts the dependency first, then restarts
// the service, healthy.
func TestRestartSatisfiesDependenciesFirst(t *testing.T) {
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
	if code != ExitOK || !strings.Contains(out, "↳ Started network-agent on worker1 (required by container-runtime@worker1): healthy") ||
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
