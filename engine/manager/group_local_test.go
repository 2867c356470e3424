package manager_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/internal/testkit/proctest"
	"github.com/omni-fleet/omni/inventory"
)

// groupService is a service started with setsid, so that it leads a
// process group of its own: a main process (a shell) that exits at
// SIGTERM (onTerm), and a worker in its group that runs `worker`. Its
// status command names the main process while it lives. It returns the
// manager and, once started, the PIDs of the main process and the
// worker.
func groupService(t *testing.T, onTerm, worker string) (m manager.Manager, pid, wpid int) {
	t.Helper()
	dir := t.TempDir()
	pidfile, wpidfile := filepath.Join(dir, "pid"), filepath.Join(dir, "wpid")
	main := "(" + worker + ") & echo $! > " + shell.Quote(wpidfile) + "; trap " + shell.Quote(onTerm) + " TERM; while :; do sleep 0.05; done"
	m = commandManager(t, inventory.Commands{
		Start:  "setsid sh -c " + shell.Quote(main) + " >/dev/null 2>&1 </dev/null & echo $! > " + shell.Quote(pidfile),
		Status: "p=$(cat " + shell.Quote(pidfile) + ") && kill -0 \"$p\" && echo \"$p\"",
	})
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	waitFile(t, wpidfile)
	pid, wpid = readPid(t, pidfile), readPid(t, wpidfile)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL); syscall.Kill(wpid, syscall.SIGKILL) })
	if !proctest.Alive(pid) || !proctest.Alive(wpid) {
		t.Fatalf("service %d / worker %d not running", pid, wpid)
	}
	return m, pid, wpid
}

// A service whose main process exits at SIGTERM while a worker of its
// process group ignores it (a master that does not wait for its workers):
// the stop left the worker running and said "stopped", the worker holding
// the service's port, while the same worker was killed with the group when
// the main process outlived the grace period. What a stop leaves no longer
// depends on how fast the main process exits: the group's other processes
// get SIGTERM once it is gone, and SIGKILL at the end of the grace period.
func TestCommandManagerStopEndsGroupWorkers(t *testing.T) {
	m, pid, wpid := groupService(t, "exit 0", "trap '' TERM; exec sleep 300")
	start := time.Now()
	mustKill(t, m.Stop(context.Background(), localRunner{}, time.Second))
	if proctest.Alive(wpid) || proctest.Alive(pid) {
		t.Errorf("stop succeeded, yet worker %d (alive %v) or main %d (alive %v) of the service's process group still runs",
			wpid, proctest.Alive(wpid), pid, proctest.Alive(pid))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %s with a grace period of 1s", d)
	}
}

// A worker that exits at SIGTERM, whose main process exits without
// signalling it, is stopped gracefully by the group's SIGTERM, well
// within the grace period.
func TestCommandManagerStopTermsGroupWorkers(t *testing.T) {
	m, _, wpid := groupService(t, "exit 0", "exec sleep 300")
	start := time.Now()
	if err := m.Stop(context.Background(), localRunner{}, 20*time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if proctest.Alive(wpid) {
		t.Errorf("stop succeeded, yet worker %d of the service's process group still runs", wpid)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stop took %s: the worker ends at SIGTERM, which it should have had at once", d)
	}
}

// The workers of a main process that died (crashed, or killed by hand)
// hold the service's port; its status says stopped. A stop ends them
// (they are the service's, in the group its main process led); "already
// stopped" left them, and the next start failed to bind.
func TestCommandManagerStopEndsOrphanedWorkers(t *testing.T) {
	m, pid, wpid := groupService(t, "exit 0", "exec sleep 300")
	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for proctest.Alive(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := status(t, m); st.Running {
		t.Fatalf("status %+v after the main process was killed", st)
	}
	if !proctest.Alive(wpid) {
		t.Fatalf("worker %d died with its main process", wpid)
	}
	if err := m.Stop(context.Background(), localRunner{}, 5*time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if proctest.Alive(wpid) {
		t.Errorf("stop succeeded, yet the orphaned worker %d of the service's process group still runs", wpid)
	}
}

// The restart's stop part is the same: the new start no longer runs
// beside the old worker.
func TestCommandRestartEndsGroupWorkers(t *testing.T) {
	m, _, wpid := groupService(t, "exit 0", "trap '' TERM; exec sleep 300")
	rep := restart(t, m, manager.RestartOptions{Grace: time.Second, StartTimeout: 10 * time.Second, ReadState: true})
	if rep.Start.Err != nil {
		t.Fatalf("restart: %+v", rep)
	}
	mustKill(t, rep.Stop.Err)
	t.Cleanup(func() { syscall.Kill(rep.State.PID, syscall.SIGKILL) })
	if proctest.Alive(wpid) {
		t.Errorf("restart succeeded, yet the old worker %d of the service's process group still runs", wpid)
	}
}

// A service that does not lead a process group (started without setsid)
// shares the group of whatever started it: only its own process is
// stopped, never that group.
func TestCommandManagerStopSparesSharedGroup(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	// A neighbour in the same group as the service: both are started by
	// one setsid shell, which leads the group and stays.
	nbfile := filepath.Join(dir, "nb")
	m := commandManager(t, inventory.Commands{
		Start: "setsid sh -c " + shell.Quote("sleep 301 & echo $! > "+shell.Quote(nbfile)+"; sleep 302 & echo $! > "+shell.Quote(pidfile)+"; wait") +
			" >/dev/null 2>&1 </dev/null &",
		Status: "p=$(cat " + shell.Quote(pidfile) + ") && kill -0 \"$p\" && echo \"$p\"",
	})
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	waitFile(t, pidfile)
	waitFile(t, nbfile)
	pid, nb := readPid(t, pidfile), readPid(t, nbfile)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL); syscall.Kill(nb, syscall.SIGKILL) })
	if err := m.Stop(context.Background(), localRunner{}, time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if proctest.Alive(pid) {
		t.Errorf("service %d still runs", pid)
	}
	if !proctest.Alive(nb) {
		t.Errorf("the stop killed %d, a process of the group the service shares but does not lead", nb)
	}
}

// The same on a host without ps (a minimal image), or with BusyBox's:
// the group's processes are then found in /proc.
func TestCommandManagerStopEndsGroupWorkersWithoutPS(t *testing.T) {
	for name, links := range map[string]map[string]string{
		"dash":    {"sh": "/usr/bin/dash"},
		"busybox": {"sh": "/usr/bin/busybox", "ps": "/usr/bin/busybox"},
	} {
		t.Run(name, func(t *testing.T) {
			bin := t.TempDir()
			links["sleep"], links["cat"], links["setsid"] = "/usr/bin/sleep", "/usr/bin/cat", "/usr/bin/setsid"
			for n, target := range links {
				if err := os.Symlink(target, filepath.Join(bin, n)); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("PATH", bin)
			m, pid, wpid := groupService(t, "exit 0", "trap '' TERM; exec sleep 300")
			mustKill(t, m.Stop(context.Background(), localRunner{}, time.Second))
			if proctest.Alive(wpid) || proctest.Alive(pid) {
				t.Errorf("stop succeeded, yet worker %d (alive %v) or main %d (alive %v) still runs",
					wpid, proctest.Alive(wpid), pid, proctest.Alive(pid))
			}
		})
	}
}

// mustKill fails the test unless err says the service was stopped by
// SIGKILL after its grace period (a worker that ignores SIGTERM).
func mustKill(t *testing.T, err error) {
	t.Helper()
	var anyway *manager.StoppedAnyway
	if !errors.As(err, &anyway) || !strings.Contains(anyway.Note, "killed with SIGKILL") {
		t.Fatalf("stop: %v, want stopped by SIGKILL after the grace period", err)
	}
}
