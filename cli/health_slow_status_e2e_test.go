package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHealthOneVerdictOnASlowStatusCommand: a command-managed service
// whose status command takes 1.5 s (a slow `systemctl is-active` wrapper,
// a status script that asks the daemon over a socket), well within
// command_timeout (10 s), with health {process: true, timeout: 1s}. The
// health timeout bounds each attempt of each check, the process check's
// read of the state included (docs/reliability.md): the process check
// cannot pass in time, and start, restart and status must all say so.
//
// Before (found by review): `service start` said "Health Check: Failed
// (process: timed out after 1s …)", exit 1, while `service status` right
// after said running, health passed, exit 0, and `service restart` said
// "Health Check: Passed": status took the process check's answer from its
// state read (bounded by command_timeout) and the restart from the read
// its script made after the start, however long either took. One
// definition of health gave two verdicts. Now a state read that took
// longer than the health timeout is not taken as the process check's
// attempt: the check asks again, bounded by its timeout, as a start does.
func TestHealthOneVerdictOnASlowStatusCommand(t *testing.T) {
	t.Parallel()
	run := t.TempDir()
	pidfile := filepath.Join(run, "slowstatus.pid")
	t.Cleanup(func() { reviewKillPidfile(pidfile) })
	inv := healthHost(t, "127.0.240.41", "", "slowstatus", fmt.Sprintf(`  slowstatus:
    commands:
      start: 'nohup sleep 7771 >/dev/null 2>&1 </dev/null & echo $! > %[1]s'
      status: 'sleep 1.5; cat %[1]s'
    health:
      process: true
      timeout: 1s
      retries: 1
      interval: 100ms
`, pidfile))

	const timedOut = "process: timed out after 1s"
	out, errOut, code, _ := omniInv(t, 40*time.Second, inv, "service", "start", "web1", "slowstatus")
	if code != ExitFailed || !strings.Contains(out+errOut, timedOut) {
		t.Fatalf("start: exit %d, want 1 and %q\n%s%s", code, timedOut, out, errOut)
	}
	out, errOut, code, _ = omniInv(t, 40*time.Second, inv, "service", "status", "web1", "slowstatus")
	if code != ExitFailed || !strings.Contains(out+errOut, timedOut) || !strings.Contains(out, "running") {
		t.Errorf("status of the same service right after: exit %d; want 1, the state running and its process check %q, as the start said\n%s%s",
			code, timedOut, out, errOut)
	}
	out, errOut, code, _ = omniInv(t, 40*time.Second, inv, "service", "restart", "web1", "slowstatus")
	if code != ExitFailed || !strings.Contains(out+errOut, timedOut) {
		t.Errorf("restart: exit %d; want 1 and %q, as the start said\n%s%s", code, timedOut, out, errOut)
	}
}
