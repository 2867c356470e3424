package cli

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestStatusIsACheck: `omni service status` exits as `systemctl status`
// does, over real sshd: 0 when every listed service runs and is healthy;
// 1 when one is stopped or unhealthy, or not installed on a host that
// answered (named, and never called unreachable); 4 only when every
// problem is a host that could not be reached.
func TestStatusIsACheck(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.161", WorkerAddr: "127.0.1.162", Extra: []testfleet.Service{
		{Name: "sick-api", Role: "bastion", Flags: "--unhealthy"},
		// Its program is not installed on the host: the command manager's
		// "unit not installed".
		{Name: "ghost", Role: "bastion", Keys: "requires: [network-agent]", Raw: "    commands: {start: '/opt/ghost/bin/ghostctl start', status: '/opt/ghost/bin/ghostctl status'}"},
	}})
	mustRun(t, f, "service", "start", "worker1", "container-runtime") // and network-agent, its dependency

	// Everything listed runs and is healthy: 0.
	out, errOut, code := omni(t, f, "service", "status", "worker1")
	if code != ExitOK || strings.Contains(errOut, "not running") {
		t.Fatalf("all running: exit %d, want 0\n%s%s", code, out, errOut)
	}

	// A stopped service: 1, named on stderr, in text and JSON.
	mustRun(t, f, "service", "start", "primary-bastion", "network-agent")
	out, errOut, code = omni(t, f, "service", "status", "primary-bastion", "api-gateway")
	if code != ExitFailed || !strings.Contains(errOut, "1 of 1 service is not running and healthy: api-gateway@primary-bastion (stopped)") {
		t.Fatalf("stopped: exit %d, want 1 naming it\n%s%s", code, out, errOut)
	}
	out, _, code = omni(t, f, "-o", "json", "service", "status", "all", "network-agent")
	if code != ExitOK || !strings.Contains(out, `"exit_code": 0`) {
		t.Fatalf("network-agent runs everywhere: exit %d\n%s", code, out)
	}
	mustRun(t, f, "service", "stop", "worker1", "container-runtime", "--yes")
	out, _, code = omni(t, f, "-o", "json", "service", "status", "worker1")
	if code != ExitFailed || !strings.Contains(out, `"exit_code": 1`) {
		t.Fatalf("json, one stopped: exit %d, want 1\n%s", code, out)
	}

	// Running but unhealthy: 1. (Its start fails the health check and
	// leaves it running.)
	if _, _, code := omni(t, f, "service", "start", "primary-bastion", "sick-api"); code != ExitFailed {
		t.Fatalf("start of the unhealthy service: exit %d, want 1", code)
	}
	out, errOut, code = omni(t, f, "service", "status", "primary-bastion", "sick-api")
	if code != ExitFailed || !regexp.MustCompile(`sick-api +Running .*failed: http`).MatchString(out) ||
		!strings.Contains(errOut, "sick-api@primary-bastion (unhealthy)") {
		t.Fatalf("unhealthy: exit %d, want 1\n%s%s", code, out, errOut)
	}

	// Not installed: the host answered, so 1, not 4, naming what is
	// missing; "unreachable" is said of no one.
	out, errOut, code = omni(t, f, "service", "status", "primary-bastion", "ghost")
	if code != ExitFailed || !strings.Contains(out+errOut, "/opt/ghost/bin/ghostctl") || !strings.Contains(errOut, "primary-bastion: ghost:") ||
		strings.Contains(strings.ToLower(out+errOut), "unreachable") {
		t.Fatalf("not installed: exit %d, want 1 naming it, never unreachable\n%s%s", code, out, errOut)
	}
	for _, action := range []string{"start", "restart"} {
		out, errOut, code = omni(t, f, "service", action, "primary-bastion", "ghost")
		if code != ExitFailed || !strings.Contains(out+errOut, "ghostctl") || !strings.Contains(out+errOut, "primary-bastion") ||
			strings.Contains(strings.ToLower(out+errOut), "unreachable") {
			t.Fatalf("%s of a service not installed: exit %d, want 1 naming it and the host\n%s%s", action, code, out, errOut)
		}
	}

	// An unreachable host alone: 4. With a stopped service beside it: 1,
	// the stopped service is the worse news.
	mustRun(t, f, "service", "start", "worker1", "container-runtime")
	f.Worker.Stop()
	out, errOut, code = omni(t, f, "service", "status", "worker1")
	if code != ExitUnreachable || !strings.Contains(errOut, "unreachable") {
		t.Fatalf("unreachable only: exit %d, want 4\n%s%s", code, out, errOut)
	}
	out, errOut, code = omni(t, f, "service", "status", "primary-bastion,worker1", "network-agent")
	if code != ExitUnreachable {
		t.Fatalf("network-agent runs on the bastion, worker1 unreachable: exit %d, want 4\n%s%s", code, out, errOut)
	}
	out, errOut, code = omni(t, f, "service", "status", "all")
	if code != ExitFailed {
		t.Fatalf("stopped api-gateway beside unreachable worker1: exit %d, want 1\n%s%s", code, out, errOut)
	}

	// A stop's confirmation lists the dependents whose state it could not
	// read, and says "host unreachable" only of a host that was not reached.
	out, errOut, code = omni(t, f, "service", "stop", "primary-bastion", "network-agent", "--yes")
	if code != ExitOK || !strings.Contains(out, "Could not check ghost@primary-bastion: status: the status command could not run") ||
		strings.Contains(out, "unreachable") {
		t.Fatalf("stop with a dependent not installed: exit %d, want 0 and why ghost could not be checked, not \"unreachable\"\n%s%s", code, out, errOut)
	}
}

// TestMinReadyReportsTheFinalState: after a rolling restart's --min-ready
// watch, the table and the JSON show each host as the watch last saw it:
// an uptime of at least the wait, and a host that crashed during the wait
// as stopped, not running.
func TestMinReadyReportsTheFinalState(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.163", WorkerAddr: "127.0.1.164", MoreWorkers: []string{"127.0.1.165"}})
	mustRun(t, f, "service", "start", "worker", "container-runtime")

	out, errOut, code := omni(t, f, "service", "restart", "worker", "container-runtime", "--min-ready", "2s")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	rows := regexp.MustCompile(`(?m)^\d +(worker\d) +container-runtime +done +Running +0m (\d+)s +Passed `).FindAllStringSubmatch(out, -1)
	if len(rows) != 2 {
		t.Fatalf("want two done rows:\n%s", out)
	}
	for _, r := range rows {
		if up, _ := strconv.Atoi(r[2]); up < 2 {
			t.Errorf("%s: uptime %ss after a --min-ready of 2s, want >= 2s (the state at the end of the watch):\n%s", r[1], r[2], out)
		}
	}

	// worker1 crashes 1.5 s after its start, within its 4 s watch. The
	// watch sees it stopped, or (when a look falls on the moment it exits)
	// running with its health check failing: either way the row is that
	// last look, not the plan's "Running 0m 0s".
	f.SetFlags("worker1", "container-runtime", "--exit-after 1500ms")
	out, errOut, code = omni(t, f, "service", "restart", "worker", "container-runtime", "--min-ready", "4s")
	if code != ExitFailed {
		t.Fatalf("crash during the watch: exit %d, want 1\n%s%s", code, out, errOut)
	}
	stopped := regexp.MustCompile(`(?m)^1 +worker1 +container-runtime +failed +Stopped +- +Failed .* min-ready: crash loop: stopped`)
	dying := regexp.MustCompile(`(?m)^1 +worker1 +container-runtime +failed +Running +0m [1-4]s +Failed .* min-ready: health check failed`)
	if !stopped.MatchString(out) && !dying.MatchString(out) {
		t.Fatalf("worker1 crashed during the watch: want its last reading (Stopped, or Running for 1 s or more and unhealthy), not the plan's Running 0m 0s:\n%s", out)
	}
	out, errOut, code = omni(t, f, "-o", "json", "service", "restart", "worker", "container-runtime", "--min-ready", "4s")
	var doc fleetDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != ExitFailed {
		t.Fatalf("json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	h := doc.Hosts[0]
	if h.Host != "worker1" || h.Result != "failed" || h.Status == nil {
		t.Fatalf("worker1 in the document:\n%s", out)
	}
	switch {
	case strings.HasPrefix(h.Error, "min-ready: crash loop: stopped"):
		if h.Status.State != "stopped" || h.Status.Running || h.Status.UptimeSeconds != nil || h.Health != nil {
			t.Fatalf("worker1 seen stopped: want state stopped, no uptime, no health:\n%s", out)
		}
	case strings.HasPrefix(h.Error, "min-ready: health check failed"):
		if !h.Status.Running || h.Status.UptimeSeconds == nil || *h.Status.UptimeSeconds < 1 || h.Health == nil || h.Health.Passed() {
			t.Fatalf("worker1 seen unhealthy: want running for 1 s or more, its health failed:\n%s", out)
		}
	default:
		t.Fatalf("worker1's error: %q\n%s", h.Error, out)
	}
}
