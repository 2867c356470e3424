package cli

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/proctest"
)

// TestHidepidSudoTimedOutStartLeavesNoRootProcess: a hardened
// host mounts /proc with hidepid=2 (each user sees only its own
// processes), and its services run under `sudo: true`. A start command
// hangs past start_timeout.
//
// What omni does: "start: timed out after 1s", the service reported
// Stopped, and the start command goes on running as root: `sudo -n sh -c
// '…; sleep 600.51'` and its sleep are still there after omni has
// returned. On a timeout omni kills the shell's process tree as the
// deploy user (killTreeScript, engine/transport/client.go), which walks
// `ps -A` / /proc: under hidepid=2 the setuid sudo and everything below
// it are invisible to the deploy user, so the walk finds only the user's
// own shell, kills it, succeeds, and never takes the `sudo -n kill`
// fallback (which runs only when a kill failed). The hung start may
// still start the service later, behind omni's "Stopped".
//
// What it should do: kill what the timed-out command started whatever
// /proc shows the login user: walk the tree under `sudo -n` when the
// command ran under sudo (or kill the command's process group as root),
// so that nothing of the start is left running.
func TestHidepidSudoTimedOutStartLeavesNoRootProcess(t *testing.T) {
	inv, srv, _ := reviewHost(t, "127.0.80.51", "", "omnitest", "  sudo: true\n", "hung",
		"  hung:\n    start_timeout: 1s\n    commands: {start: 'sleep 600.51', status: 'false'}\n")
	reviewHidepid(t, srv)
	defer proctest.Kill("sleep", "600.51")
	out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "service", "start", "web1", "hung")
	if code == 0 {
		t.Fatalf("a start that hangs passed:\n%s%s", out, errOut)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(proctest.WithArgs("sleep", "600.51")) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if pids := proctest.WithArgs("sleep", "600.51"); len(pids) > 0 {
		ps, _ := exec.Command("pgrep", "-af", "600.51").Output()
		t.Errorf("hidepid=2 host, sudo: true: omni said %q, and the timed-out start command still runs as root 5s later:\n%s",
			strings.TrimSpace(errOut+out), ps)
	}
}

// TestHidepidOtherUsersServiceIsNotStopped: a hardened host
// mounts /proc with hidepid=2, omni logs in as its deploy user without
// sudo, and the service runs as a user of its own (here nobody; started
// by its init, or by `sudo -u app` in the start command). The status
// command (`cat PIDFILE`) works and names a live PID.
//
// What omni does: `service status` says Stopped, and `service stop` says
// "other is already stopped on web1; nothing to do." (exit 0) while the
// process runs on. The probe reads /proc/PID/stat (omni_ps in
// engine/manager/command_scripts.go), which hidepid hides, and takes "no
// such file" for "no such process" (statusReport.state: a PID with no
// stat is stopped, command_report.go). Without hidepid the same host
// gives Running, and the stop an error (kill -TERM: Operation not
// permitted): the truth.
//
// What it should do: tell a process it cannot see from one that is gone
// (`kill -0 PID` fails with EPERM, not ESRCH, for a live process of
// another user) and say Running, or Unknown with the reason; never
// "stopped" for a process that runs.
func TestHidepidOtherUsersServiceIsNotStopped(t *testing.T) {
	inv, srv, run := reviewHost(t, "127.0.80.52", "", "omnitest", "", "other",
		"  other:\n    commands: {start: 'false', status: 'cat @RUN@/other.pid', stop: 'kill $(cat @RUN@/other.pid)'}\n    health: {process: true}\n")
	reviewHidepid(t, srv)
	defer proctest.Kill("sleep", "600.52")
	if out, err := exec.Command("su", "-s", "/bin/sh", "nobody", "-c",
		"nohup sleep 600.52 >/dev/null 2>&1 </dev/null & echo $! > "+run+"/other.pid").CombinedOutput(); err != nil {
		t.Fatalf("starting the service as nobody: %v\n%s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(proctest.WithArgs("sleep", "600.52")) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "service", "status", "web1", "other")
	if strings.Contains(out, "Stopped") {
		t.Errorf("status of a service whose process runs (as another user, /proc hidepid=2): exit %d, it says Stopped:\n%s%s", code, out, errOut)
	}
	out, errOut, code, _ = omniInv(t, 30*time.Second, inv, "service", "stop", "web1", "other")
	if code == 0 && len(proctest.WithArgs("sleep", "600.52")) > 0 {
		t.Errorf("stop exited 0 and its process still runs:\n%s%s", out, errOut)
	}
}
