package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestHungStartInARestart: a restart sends its stop and start to the host
// as one script; a start that never returns still fails the start step
// after start_timeout, named, exit 1, with the stop reported as done and
// nothing of the start left behind on the host (the script kills the
// start's process tree at its timeout).
func TestHungStartInARestart(t *testing.T) {
	h := startHungFleet(t, "127.0.1.246", "127.0.1.247")
	mustRun(t, h.Fleet, "service", "start", "worker1", "legacy-app")
	pid := h.PID("worker1", "legacy-app")
	h.setLegacy(legacyCommands{start: h.hang("start")}, true)
	out, errOut, code, took := h.run("service", "restart", "-v", "worker1", "legacy-app", "--yes")
	if code != ExitFailed || !strings.Contains(errOut, "Failed to restart legacy-app on worker1: start: timed out after 2s") {
		t.Fatalf("restart: exit %d, want 1 and the start step named\n%s\n%s", code, out, errOut)
	}
	for _, step := range []string{"ok stop", "ok verify-stopped", "start"} {
		if !strings.Contains(errOut, step) {
			t.Errorf("-v does not show %q:\n%s", step, errOut)
		}
	}
	within(t, "the restart", took, 2*time.Second, 9*time.Second)
	h.assertGone("start")
	if testfleet.Alive(pid) {
		t.Errorf("the old legacy-app (pid %d) still runs", pid)
	}
}
