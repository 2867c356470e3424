package cli

import (
	"strings"
	"testing"
)

// TestConfigRollbackLeavesAStoppedServiceStopped (found by review): config
// apply leaves a stopped service stopped ("pending: written while
// stopped"), but `config rollback --restart auto` of the same service
// restarted it, that is started it: a rollback must not bring up a
// service an operator had stopped.
func TestConfigRollbackLeavesAStoppedServiceStopped(t *testing.T) {
	f, src, _ := oneFileFleet(t, "127.0.91.30", "127.0.91.31", "")
	writeFile(t, src, "workers 4\n")
	mustRun(t, f, "service", "start", "worker1", "app")
	writeFile(t, src, "workers 16\n")
	mustRun(t, f, "config", "apply", "worker1", "app")
	mustRun(t, f, "service", "stop", "worker1", "app", "--yes")
	out := mustRun(t, f, "config", "rollback", "worker1", "app", "--yes")
	if pid := f.PID("worker1", "app"); pid != 0 {
		t.Errorf("config rollback started the stopped service (pid %d):\n%s", pid, out)
	}
	if !strings.Contains(out, "stopped") {
		t.Errorf("config rollback does not say the stopped service stays stopped:\n%s", out)
	}
	diff, _, code := omni(t, f, "config", "diff", "worker1", "app")
	if code != ExitDiffers || !strings.Contains(diff, "written while stopped") {
		t.Errorf("config diff after the rollback of a stopped service: exit %d, want 6 and pending \"written while stopped\"\n%s", code, diff)
	}
}
