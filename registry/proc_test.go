package registry

import (
	"os/exec"
	"testing"
)

// TestProcessAliveWhereProcHidesIt: /proc mounted hidepid=2 shows a user
// none of the processes of other users (found by review). A lock holder
// whose /proc entry is missing is asked with kill(pid, 0): alive while it
// runs, gone once it has exited; before, a missing entry read as "no such
// process", and a second operator's run took over the lock of a live run.
func TestProcessAliveWhereProcHidesIt(t *testing.T) {
	// Not parallel: it changes procDir, and restores it before the
	// parallel tests run.
	defer func(dir string) { procDir = dir }(procDir)
	procDir = t.TempDir() // shows no process, as hidepid=2 for another user's

	holder := exec.Command("sleep", "30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	pid := holder.Process.Pid
	if !processAlive(pid, 12345) {
		t.Error("a running process whose /proc entry is hidden is not alive")
	}
	holder.Process.Kill()
	holder.Wait()
	if processAlive(pid, 12345) {
		t.Error("an exited process whose /proc entry is hidden is alive")
	}
	if processAlive(unusedPID(t), 0) {
		t.Error("a PID that no process has is alive")
	}
}
