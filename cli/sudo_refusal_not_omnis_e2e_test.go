package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestStartWithoutSudoIsNotReportedAsOmnisSudoRefused (found by review) (review of 1e79506):
// a command-managed service on a host WITHOUT `sudo` in the inventory
// (omni runs its commands as the login user, no sudo at all). Its start
// command tries an optional privileged step with `sudo -n` (a setcap,
// say), which prints sudo's "sudo: a password is required" on stderr,
// then carries on and launches the daemon: exit 0, the service runs.
//
// An operator expects "Service started successfully!", exit 0: the start
// command succeeded and the service runs. omni reads any "sudo: a
// password is required" on any command's stderr as its own sudo refused
// (manager.checked → CheckSudo, whatever the exit code and whether omni
// used sudo), fails the start (exit 1) and, since 1e79506, explains it
// with a false story: "it wants a password to run sh as root (omni runs a
// service's commands as `sudo -n sh -c '…'` …)" — omni ran no sudo here.
func TestStartWithoutSudoIsNotReportedAsOmnisSudoRefused(t *testing.T) {
	t.Parallel()
	run := t.TempDir()
	pid := filepath.Join(run, "capper.pid")
	// What `sudo -n setcap …` says for a user without a sudo rule, then
	// the start goes on without it.
	start := `echo "sudo: a password is required" >&2; echo "no setcap: binding to 8080 instead" >&2; ` +
		`setsid sleep 300 >/dev/null 2>&1 </dev/null & echo $! > ` + pid
	status := `p=$(cat ` + pid + ` 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"`
	raw := "    commands:\n      start: '" + yq(start) + "'\n      status: '" + yq(status) + "'\n" +
		"    health: {process: true, retries: 20, interval: 100ms}"
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.211.5", WorkerAddr: "127.0.211.6",
		Extra: []testfleet.Service{{Name: "capper", Role: "worker", Raw: raw}}})
	t.Cleanup(func() { omni(t, f, "service", "stop", "worker1", "capper") })

	out, errOut, code := omni(t, f, "service", "start", "worker1", "capper")
	b, _ := os.ReadFile(pid)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	running := n > 0 && testfleet.Alive(n)
	if code != ExitOK || strings.Contains(errOut, "sudo -n sh -c") {
		t.Errorf("start (no sudo in the inventory) whose command succeeded, the service running (%v): exit %d, want 0 and no story of omni's sudo\nstdout:\n%s\nstderr:\n%s",
			running, code, out, errOut)
	}
}
