package cli

import (
	"strings"
	"testing"
	"time"
)

// TestLogsSudoRefusalIsNamed (found by review): an operator's deploy user has no
// passwordless sudo on a host whose services run with `sudo: true`, and
// reads a service's logs (`omni service logs web1 app`).
//
// Expected: the same diagnosis every other command gives for that host
// (`service status web1 app` says "status: sudo -n refused: it wants a
// password to run sh as root (…: the login user needs a NOPASSWD rule
// that covers sh …)"), and DESIGN.md's "a missing sudo rule fails fast
// with a clear message".
//
// Observed before the fix: "omni: web1: app: logs: logs command exited with status 1"
// (and in -o json, "error": "web1: app: logs: logs command exited with
// status 1"): the failure is laid on the inventory's logs command, which
// never ran. engine/step_logs.go:runLogs only looks at the exit code; it
// does not check sudo's refusal (manager.CheckSudo, whose comment says
// the callers that run LogsCommand themselves use it).
func TestLogsSudoRefusalIsNamed(t *testing.T) {
	u := reviewHostUser(t, "rvlogs1", "/bin/sh", nil) // no sudo rule
	inv, _, _ := reviewHost(t, "127.0.51.40", "", u, "  sudo: true\n", "app", logsFileApp)
	_, statusErr, _, _ := omniInv(t, 30*time.Second, inv, "service", "status", "web1", "app")
	if !strings.Contains(statusErr, "sudo -n refused") {
		t.Fatalf("precondition: status names sudo's refusal:\n%s", statusErr)
	}
	out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "service", "logs", "web1", "app")
	t.Logf("logs: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	if code == 0 {
		t.Fatalf("logs through a refused sudo: exit 0")
	}
	for _, line := range strings.Split(errOut, "\n") {
		if strings.HasPrefix(line, "omni: ") && !strings.Contains(line, "sudo") {
			t.Errorf("`omni service logs web1 app` with sudo refused: omni blames the logs command, not sudo: %q", line)
		}
	}
}
