package manager

import (
	"strings"
	"testing"
)

// TestScriptsReadProcInOnePlace: the status, stop and restart scripts
// read /proc/uptime and /proc/PID/stat only through the one definition
// of procReaders (the probes, the kill-tree and the restart's clock share
// it), and take their clock from the one clock snippet. The scripts
// themselves run through a real shell in command_local_test.go and
// restart_local_test.go.
func TestScriptsReadProcInOnePlace(t *testing.T) {
	for name, script := range map[string]string{"status": statusScript, "stop": stopScript, "restart": restartScript} {
		if n := strings.Count(script, "</proc/uptime"); n != 1 {
			t.Errorf("%s script reads /proc/uptime in %d places, want 1 (omni_uptime)", name, n)
		}
		if n := strings.Count(script, "read -r omni_l && omni_sp="); n != 1 {
			t.Errorf("%s script reads a /proc stat line in %d places, want 1 (omni_stat)", name, n)
		}
		if !strings.Contains(script, procReaders) || !strings.Contains(script, clock) {
			t.Errorf("%s script does not define procReaders and clock", name)
		}
	}
}
