package cli

import (
	"strings"
	"testing"
	"time"
)

// TestSlowLoginDoesNotFailStatus (found by review): the deploy user's login
// shell takes 0.8 s to start (a ~/.zshenv that loads nvm or a framework:
// here a sleep), the service's status command takes 0.3 s, and its
// health timeout is 1s (process check only). The process check's attempt
// is the status command: 0.3 s, well within 1 s.
//
// Expected: start and status agree (docs/inventory.md, health timeout: "a
// status command slower than timeout fails the process check on start,
// restart and status alike"; this one is not slower): start passes its
// health check, and `service status` shows the service healthy.
//
// Observed: start passes (its reads go through the connection's
// long-lived shell, whose login was paid once), but `service status`
// reports the health check failed: its state read runs in a session of
// its own (RunOnce), which pays the login shell's start-up, so the read
// "took" over 1 s (manager.TimedStatus times it around the whole
// command) and is not taken for the attempt (engine/step_health.go
// inTime, engine/status.go liveStatus); the re-read pays the login again
// and passes its 1 s bound. Before 78f78ef status passed.
func TestSlowLoginDoesNotFailStatus(t *testing.T) {
	u := reviewHostUser(t, "omnio1slw", "/usr/bin/zsh", map[string]string{
		".zshenv": "sleep 0.8\n",
	})
	svc := `  app:
    commands:
      start: 'nohup sleep 600.545 >/dev/null 2>&1 </dev/null & echo $! > @RUN@/app.pid'
      status: 'sleep 0.3; cat @RUN@/app.pid'
    health: {process: true, timeout: 1s}
`
	inv, _, _ := reviewHost(t, "127.0.54.15", "", u, "", "app", svc)
	out, errOut, code, _ := omniInv(t, 60*time.Second, inv, "service", "start", "web1", "app")
	if code != ExitOK {
		t.Fatalf("service start: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code, _ = omniInv(t, 60*time.Second, inv, "service", "status", "web1", "app")
	if code != ExitOK || strings.Contains(strings.ToLower(out+errOut), "fail") {
		t.Errorf("service status after a start whose health check passed: exit %d, the health check fails:\n%s%s", code, out, errOut)
	}
}
