package manager_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/internal/testkit/proctest"
	"github.com/omni-fleet/omni/inventory"
)

// launchGroupLeader runs script with sh, detached with setsid so that the
// process it starts leads a process group (and session) of its own, and
// returns the PID written to pidfile. The process is SIGKILLed (with its
// group) when the test ends.
func launchGroupLeader(t *testing.T, script, pidfile string) int {
	t.Helper()
	if err := exec.Command("sh", "-c", script).Run(); err != nil {
		t.Fatal(err)
	}
	waitFile(t, pidfile)
	pid := readPid(t, pidfile)
	t.Cleanup(func() { syscall.Kill(-pid, syscall.SIGKILL); syscall.Kill(pid, syscall.SIGKILL) })
	if !proctest.Alive(pid) {
		t.Fatalf("process %d is not running", pid)
	}
	return pid
}

// TestStaleStatusPIDGroupIsNotSignalled: a status command that
// prints the pidfile's PID, then fails because that PID is no longer the
// service's (`cat PIDFILE && kill -0 ...` on a stale pidfile, or a status
// that guards against PID reuse by checking /proc/PID/comm after printing
// it), says "not running" (docs/inventory.md: "exit 0 when running").
//
// Since 8575a7a, stopScript's not-running path
// (engine/manager/command_scripts.go, `if [ "$omni_rc" -ne 0 ] || ...;
// then if [ -n "$omni_pid" ] && omni_group_live "$omni_pid"`) takes that
// PID as the leader of the service's orphaned group whenever a group with
// that ID has a live member: it sends SIGTERM to the whole group, then
// SIGKILL at the end of the grace period. When the PID was reused by an
// unrelated process that leads its own group (any daemon started with
// setsid, an operator's login shell, a job of an interactive shell), omni
// kills that unrelated process group, and reports "stopped" (or "killed")
// for a service its own status said was not running.
//
// A status that says "not running" must leave every process alone, as it
// did before (result=not-running); at the very least, a PID the status
// command rejected must not be taken for the service's.
func TestStaleStatusPIDGroupIsNotSignalled(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "app.pid")
	// An unrelated process, leader of its own group, which now has the
	// PID the service's stale pidfile names (PID reuse, played by writing
	// its PID there).
	other := launchGroupLeader(t, "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > "+shell.Quote(pidfile), pidfile)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if pg, err := syscall.Getpgid(other); err == nil && pg == other {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pg, err := syscall.Getpgid(other); err != nil || pg != other {
		t.Fatalf("process %d does not lead its group (pgid %d, %v)", other, pg, err)
	}
	// The status prints the PID, then rejects it: that process is not
	// the service (its name is sleep, not myappd).
	m := commandManager(t, inventory.Commands{
		Start:  "true",
		Status: "p=$(cat " + shell.Quote(pidfile) + ") && echo \"$p\" && [ \"$(cat /proc/$p/comm)\" = myappd ]",
	})
	if st := status(t, m); st.Running {
		t.Fatalf("status %+v: the status command says not running", st)
	}
	err := m.Stop(context.Background(), localRunner{}, 500*time.Millisecond)
	if !proctest.Alive(other) {
		t.Errorf("stop of a service whose status said not running killed process %d (and its group), which is not the service's: its PID was only printed by a status that rejected it (stop returned %v)", other, err)
	}
	var anyway *manager.StoppedAnyway
	if errors.As(err, &anyway) {
		t.Errorf("stop of a not-running service says %q", anyway.Note)
	}
}

// TestKillEndsGroupOfChildlessLeader: a service started with
// setsid whose main process leads its group, ignores SIGTERM, and has no
// children of its own at the stop's start: its worker is in its group but
// was started through a subshell that exited (it was re-parented to
// init), as a daemon's double fork leaves it.
//
// Before today (eb815a5) the SIGKILL at the end of the grace period went
// to the whole group the main process leads (`kill -KILL -PID`), worker
// included, as docs/reliability.md still says: "the service's main PID
// gets SIGKILL (its whole process group when it leads one: a service
// started with setsid)". Since cb2f045, the group is only remembered
// (omni_grp) when omni_has_children finds children of the main process
// (engine/manager/command_scripts.go: `[ "$omni_pg" = "$omni_pid" ] &&
// omni_has_children "$omni_pid" && omni_grp=$omni_pid`), and the SIGKILL
// path kills the group only `if [ -n "$omni_grp" ]`: the main process
// alone is killed, the worker of its group runs on (holding the port),
// and omni reports the service stopped.
func TestKillEndsGroupOfChildlessLeader(t *testing.T) {
	dir := t.TempDir()
	pidfile, wpidfile := filepath.Join(dir, "pid"), filepath.Join(dir, "wpid")
	main := "(trap '' TERM; sleep 300 </dev/null >/dev/null 2>&1 & echo $! > " + shell.Quote(wpidfile) + "); trap '' TERM; exec sleep 301"
	m := commandManager(t, inventory.Commands{
		Start:  "setsid sh -c " + shell.Quote(main) + " >/dev/null 2>&1 </dev/null & echo $! > " + shell.Quote(pidfile),
		Status: "p=$(cat " + shell.Quote(pidfile) + ") && kill -0 \"$p\" && echo \"$p\"",
	})
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	waitFile(t, pidfile)
	waitFile(t, wpidfile)
	pid, wpid := readPid(t, pidfile), readPid(t, wpidfile)
	t.Cleanup(func() {
		syscall.Kill(-pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGKILL)
		syscall.Kill(wpid, syscall.SIGKILL)
	})
	// Wait until the main process has exec'd sleep 301 (no children left).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if comm, _ := exec.Command("cat", "/proc/"+strconv.Itoa(pid)+"/comm").Output(); string(comm) == "sleep\n" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pg, err := syscall.Getpgid(wpid); err != nil || pg != pid {
		t.Fatalf("worker %d is not in the group of main %d (pgid %d, %v)", wpid, pid, pg, err)
	}
	err := m.Stop(context.Background(), localRunner{}, 500*time.Millisecond)
	mustKill(t, err)
	if proctest.Alive(pid) {
		t.Errorf("main process %d still runs", pid)
	}
	if proctest.Alive(wpid) {
		t.Errorf("stop SIGKILLed main process %d after the grace period, yet worker %d of the group it leads still runs (eb815a5 killed the whole group)", pid, wpid)
	}
}
