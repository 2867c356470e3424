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

// TestCommandStopStatusCannotRun (found by review): a stop, and the stop
// part of a restart, take a status command the host cannot run (exit 127:
// its program is not installed or not in PATH; 126: not executable) for a
// stopped service, where Status calls it an error: the stop says "not
// running: nothing to stop" and leaves a running service as it is, and a
// restart then runs the start command beside it (a second instance).
func TestCommandStopStatusCannotRun(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "started")
	cmds := inventory.Commands{
		Start:  "touch " + shell.Quote(marker),
		Status: "/opt/nothere/bin/appctl status",
	}
	m := commandManager(t, cmds)
	if _, err := m.Status(context.Background(), localRunner{}); err == nil {
		t.Fatal("status: no error for a status command that cannot run")
	}
	err := m.Stop(context.Background(), localRunner{}, time.Second)
	if err == nil || errors.Is(err, manager.ErrWasNotRunning) || !strings.Contains(err.Error(), "could not run") {
		t.Errorf("stop with a status command that cannot run (exit 127): %v; want the error Status gives (the status command could not run), not \"was not running\"", err)
	}
	rep, err := m.(manager.Restarter).Restart(context.Background(), localRunner{}, manager.RestartOptions{Grace: time.Second, ReadState: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, statErr := os.Stat(marker); statErr == nil || rep.NotRunning || rep.Stop.Err == nil {
		t.Errorf("restart with a status command that cannot run: stop part %+v (not running: %v), start ran: %v; "+
			"want the stop part to fail (the status command could not run) and no start", rep.Stop, rep.NotRunning, statErr == nil)
	}
}

// TestCommandStopLeavesWorkers (found by review): a stop whose main
// process exits at SIGTERM without waiting for its workers says
// "stopped" and leaves the workers running (holding the service's port,
// so that the next start cannot bind), whenever they are not in a process
// group the main process leads: the main process was started without
// setsid (`nohup app &`), or a worker put itself in a session of its own
// (as PostgreSQL's backends do). The same workers die when the main
// process is slow enough to get SIGKILL (omni_kill_tree finds them).
func TestCommandStopLeavesWorkers(t *testing.T) {
	for _, tc := range []struct{ name, launch, worker, secs string }{
		{"started without setsid", "nohup", "", "3011"},
		{"worker in a session of its own", "setsid", "setsid ", "3012"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidfile := filepath.Join(dir, "pid")
			body := tc.worker + "sleep " + tc.secs + " & echo $$ >" + shell.Quote(pidfile) + "; wait"
			m := commandManager(t, inventory.Commands{
				Start:  tc.launch + " sh -c " + shell.Quote(body) + " >/dev/null 2>&1 </dev/null &",
				Status: "p=$(cat " + shell.Quote(pidfile) + ") && kill -0 \"$p\" && echo \"$p\"",
			})
			t.Cleanup(func() { proctest.Kill("sleep", tc.secs) })
			if err := m.Start(context.Background(), localRunner{}); err != nil {
				t.Fatal(err)
			}
			var workers []int
			for i := 0; i < 200 && len(workers) == 0; i++ {
				time.Sleep(10 * time.Millisecond)
				workers = proctest.WithArgs("sleep", tc.secs)
			}
			if len(workers) != 1 || !status(t, m).Running {
				t.Fatalf("the service did not start: workers %v", workers)
			}
			err := m.Stop(context.Background(), localRunner{}, 2*time.Second)
			var anyway *manager.StoppedAnyway
			if err != nil && !errors.As(err, &anyway) {
				t.Fatalf("stop: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
			if proctest.Alive(workers[0]) {
				t.Errorf("stop said stopped (%v), yet the service's worker %d (a child of its main process at the stop's start) still runs", err, workers[0])
			}
		})
	}
}

// TestCommandHugeNumberFromStatus (found by review): a status command
// that exits 0 and prints a number too big for a PID (a garbled or
// overwritten pidfile) makes Status fail with a parse error ("bad pid"),
// and Stop fail although its script found nothing running
// (result=not-running): the shell takes the 20 digits for a PID, Go's
// strconv.Atoi cannot hold them.
func TestCommandHugeNumberFromStatus(t *testing.T) {
	m := commandManager(t, inventory.Commands{Start: "true", Status: "echo 99999999999999999999"})
	if _, err := m.Status(context.Background(), localRunner{}); err != nil {
		t.Errorf("status: %v; want a state (no such process), not a parse error", err)
	}
	if err := m.Stop(context.Background(), localRunner{}, time.Second); err != nil && strings.Contains(err.Error(), "bad pid") {
		t.Errorf("stop: %v; want \"not running\" (what the stop script found), not a parse error", err)
	}
}

// TestCommandStatusPidZero (found by review): a status command that exits
// 0 and prints PID 0 names no process (`docker inspect -f
// '{{.State.Pid}}' app` prints 0, exit 0, for a container that is not
// running), yet omni drops the 0 as "no PID" and trusts the exit code:
// Status says running, and Stop fails ("says running but printed no
// PID") instead of "not running"; docs/inventory.md: the first word, if
// numeric, is the main PID, and a service runs when that process is
// alive.
func TestCommandStatusPidZero(t *testing.T) {
	m := commandManager(t, inventory.Commands{Start: "true", Status: "echo 0"})
	if st := status(t, m); st.Running {
		t.Errorf("status command printed PID 0 (no process): %+v; want stopped", st)
	}
	if err := m.Stop(context.Background(), localRunner{}, time.Second); !errors.Is(err, manager.ErrWasNotRunning) {
		t.Errorf("stop when the status command printed PID 0: %v; want not running (nothing to stop)", err)
	}
}

// TestCommandStopOfAStoppedProcess (found by review): a service whose
// process is stopped (SIGSTOP: paused by an operator or a debugger, or left
// so by an interrupted kill) and that handles SIGTERM to shut down
// gracefully never sees the SIGTERM: a stopped process acts on no signal
// but SIGKILL and SIGCONT. omni sends no SIGCONT after SIGTERM (systemd
// does, for this reason), so the stop waits the whole grace period and
// ends in SIGKILL, never graceful.
func TestCommandStopOfAStoppedProcess(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	done := filepath.Join(dir, "graceful")
	script := `trap 'echo bye >` + shell.Quote(done) + `; exit 0' TERM; echo $$ >` + shell.Quote(pidfile) + `; while :; do sleep 0.1; done`
	m := commandManager(t, inventory.Commands{
		Start:  "setsid sh -c " + shell.Quote(script) + " >/dev/null 2>&1 </dev/null &",
		Status: "p=$(cat " + shell.Quote(pidfile) + ") && kill -0 \"$p\" && echo \"$p\"",
	})
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	var pid int
	for i := 0; i < 200; i++ {
		time.Sleep(10 * time.Millisecond)
		if b, err := os.ReadFile(pidfile); err == nil && len(b) > 1 {
			pid = readPid(t, pidfile)
			break
		}
	}
	if pid == 0 || !status(t, m).Running {
		t.Fatal("the service did not start")
	}
	t.Cleanup(func() { syscall.Kill(-pid, syscall.SIGKILL) })
	syscall.Kill(pid, syscall.SIGSTOP)
	begin := time.Now()
	err := m.Stop(context.Background(), localRunner{}, 3*time.Second)
	if _, statErr := os.Stat(done); err != nil || statErr != nil {
		t.Errorf("stop of a paused (SIGSTOP) service that handles SIGTERM: %v after %s, its TERM handler ran: %v; "+
			"want a graceful stop (SIGTERM then SIGCONT), not SIGKILL at the end of the grace period", err, time.Since(begin).Round(time.Millisecond), statErr == nil)
	}
}

// TestCommandStatusPidWithCRLF (found by review): a status command whose
// output ends its lines with CRLF (a pidfile written on Windows or by a
// tool that writes CRLF, `docker exec -t` or anything run through a pty)
// prints "PID\r": the shell splits words on blanks and newlines only, the
// "\r" makes the word non-numeric, and omni drops the PID: status shows
// the service running without PID or uptime, and a stop without a stop
// command fails ("printed no PID") while the process runs.
func TestCommandStatusPidWithCRLF(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	m := commandManager(t, inventory.Commands{
		Start:  "setsid sleep 3031 >/dev/null 2>&1 </dev/null & printf '%s\\r\\n' $! >" + shell.Quote(pidfile),
		Status: "cat " + shell.Quote(pidfile),
	})
	t.Cleanup(func() { proctest.Kill("sleep", "3031") })
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	pids := proctest.WithArgs("sleep", "3031")
	if len(pids) != 1 {
		t.Fatalf("service did not start: %v", pids)
	}
	if st := status(t, m); !st.Running || st.PID != pids[0] {
		t.Errorf("status with a CRLF pidfile: %+v; want running with PID %d", st, pids[0])
	}
	if err := m.Stop(context.Background(), localRunner{}, 2*time.Second); err != nil {
		t.Errorf("stop with a CRLF pidfile: %v; want the process %d stopped", err, pids[0])
	}
}
