package cli

import (
	"fmt"
	"testing"
	"time"
)

// TestRestartDaemonKeepsOutput: a start that leaves its daemon in the
// background with the start's stdout and stderr (no redirections) is done
// when the start command ends, in a restart as alone. The restart script
// runs in a session of its own (the service has a process check), whose
// output that daemon holds open for as long as it runs: the restart
// waited for its whole bound, then failed its stop, while the service had
// been stopped and started again.
func TestRestartDaemonKeepsOutput(t *testing.T) {
	h := startHungFleet(t, "127.0.77.10", "127.0.77.11")
	files := h.files()
	start := fmt.Sprintf(`setsid %s --name "$OMNI_SERVICE" --listen "$OMNI_ADDRESS:%d" --pidfile %s.pid --log %s.log </dev/null &`,
		h.Demo, h.Ports["legacy-app"], files, files)
	h.setLegacy(legacyCommands{start: start}, true)
	if out, errOut, code, _ := h.run("service", "start", "worker1", "legacy-app", "--yes"); code != 0 {
		t.Fatalf("start: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code, took := h.run("service", "restart", "-v", "worker1", "legacy-app", "--yes")
	if code != 0 || took > 10*time.Second {
		t.Errorf("restart: exit %d after %s, want 0 at once\n%s\n%s", code, took, out, errOut)
	}
}
