package manager_test

import (
	"context"
	"os"
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

// A restart whose start ends at once leaves no watchdog `sleep START_T`
// behind: the watchdog's TERM can come before it knows its sleep's PID.
func TestCommandRestartWatchdogLeavesNoSleep(t *testing.T) {
	m := commandManager(t, inventory.Commands{Start: ":", Status: "false", Stop: ":"})
	for range 40 {
		restart(t, m, manager.RestartOptions{Grace: time.Second, StartTimeout: 47310 * time.Millisecond})
	}
	time.Sleep(200 * time.Millisecond)
	if left := proctest.WithArgs("sleep", "47.31"); len(left) > 0 {
		for _, p := range left {
			syscall.Kill(p, syscall.SIGKILL)
		}
		t.Errorf("%d watchdog sleeps left behind after 40 restarts: %v", len(left), left)
	}
}

// TestCommandManagerProcessNameWithNewline: the probes read
// /proc/PID/stat with the shell's `read`, which stops at the first
// newline. A process whose name (comm: the executable's file name, or
// what it wrote to /proc/self/comm) holds a newline is then "gone":
// Status says stopped while it runs, Stop says not-running and leaves
// it, and a restart starts a second instance next to it.
func TestCommandManagerProcessNameWithNewline(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "svc\nd")
	if err := os.Symlink("/bin/sleep", exe); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(dir, "pid")
	m := commandManager(t, inventory.Commands{
		Start:  "setsid " + shell.Quote(exe) + " 300 >/dev/null 2>&1 </dev/null & echo $! >" + shell.Quote(pidfile),
		Status: "cat " + shell.Quote(pidfile),
	})
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	pid := readPid(t, pidfile)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	time.Sleep(100 * time.Millisecond)
	if !proctest.Alive(pid) {
		t.Fatalf("service %d did not start", pid)
	}
	st, err := m.Status(context.Background(), localRunner{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running || st.PID != pid {
		t.Errorf("status %+v while pid %d runs: want running", st, pid)
	}
	if err := m.Stop(context.Background(), localRunner{}, 2*time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if proctest.Alive(pid) {
		t.Errorf("stop succeeded but pid %d still runs", pid)
	}
}

// TestCommandManagerLiveProcessWithExitedMainThread: a process whose main
// thread called pthread_exit while its other threads run shows state Z
// in /proc/PID/stat (and <defunct> in ps), yet it runs: kill -0 works,
// its threads serve. omni takes "Z" for an exited process: Status says
// stopped, and Stop says not-running without signalling it, so a
// restart starts a second instance beside it. /proc/PID/task (other
// threads) or /proc/PID/status Threads: would tell them apart.
func TestCommandManagerLiveProcessWithExitedMainThread(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "zl.c")
	os.WriteFile(src, []byte(`#include <pthread.h>
#include <unistd.h>
static void *run(void *a) { for (;;) pause(); return 0; }
int main(void) { pthread_t t; pthread_create(&t, 0, run, 0); pthread_exit(0); }
`), 0o644)
	bin := filepath.Join(dir, "zl")
	if out, err := exec.Command(cc, "-o", bin, src, "-lpthread").CombinedOutput(); err != nil {
		t.Skipf("cc: %v %s", err, out)
	}
	pidfile := filepath.Join(dir, "pid")
	m := commandManager(t, inventory.Commands{
		Start:  "setsid " + shell.Quote(bin) + " >/dev/null 2>&1 </dev/null & echo $! >" + shell.Quote(pidfile),
		Status: "p=$(cat " + shell.Quote(pidfile) + ") && kill -0 \"$p\" && echo \"$p\"",
	})
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	pid := readPid(t, pidfile)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	time.Sleep(200 * time.Millisecond)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("service %d did not start: %v", pid, err)
	}
	st, err := m.Status(context.Background(), localRunner{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running {
		t.Errorf("status %+v while pid %d runs (its main thread exited, a thread serves): want running", st, pid)
	}
	if err := m.Stop(context.Background(), localRunner{}, 2*time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	// A zombie (unreaped: PID 1 may not reap) keeps its leader's entry.
	if ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task"); len(ents) > 1 {
		t.Errorf("stop succeeded but pid %d still has %d threads", pid, len(ents))
	}
}
