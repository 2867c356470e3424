package manager_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/internal/testkit/demosvctest"
	"github.com/omni-fleet/omni/inventory"
)

// restart runs m's restart script through a real sh.
func restart(t *testing.T, m manager.Manager, o manager.RestartOptions) manager.RestartReport {
	t.Helper()
	r, ok := m.(manager.Restarter)
	if !ok {
		t.Fatalf("%T is not a Restarter", m)
	}
	rep, err := r.Restart(context.Background(), localRunner{}, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestCommandRestartScript: one script stops the demo service (gracefully,
// waiting until it is gone), starts it again and reads its new state;
// each part says how it went and how long it took on the host.
func TestCommandRestartScript(t *testing.T) {
	d := newDemo(t, "--stop-delay", "300ms")
	d.start(t)
	old := d.pid(t)
	// The start returns once the new process has written its pidfile, so
	// that the state read right after it finds the new process.
	m := d.m
	d.m = commandManager(t, inventory.Commands{
		Start:  "rm -f " + shell.Quote(d.pidfile) + "; " + startCommand(t, d) + " i=0; until [ -s " + shell.Quote(d.pidfile) + " ]; do i=$((i+1)); [ $i -gt 1000 ] && exit 1; sleep 0.01; done",
		Status: "cat " + shell.Quote(d.pidfile),
	})
	defer func() { d.m = m }()

	rep := restart(t, d.m, manager.RestartOptions{Grace: 10 * time.Second, StartTimeout: 10 * time.Second, ReadState: true})
	if !rep.Stop.Ran || rep.Stop.Err != nil || !rep.Start.Ran || rep.Start.Err != nil || !rep.Status.Ran || rep.Status.Err != nil {
		t.Fatalf("restart: %+v", rep)
	}
	if rep.Stop.Duration < 300*time.Millisecond || rep.Stop.Duration > 5*time.Second {
		t.Errorf("stop took %s on the host, want the service's 300ms stop delay or a little more", rep.Stop.Duration)
	}
	if rep.StartTimedOut || rep.Start.Duration > 5*time.Second {
		t.Errorf("start: %+v, timed out %v", rep.Start, rep.StartTimedOut)
	}
	if !processGone(old) || !strings.Contains(d.log(t), "]: stopped") {
		t.Errorf("the old process %d was not stopped gracefully; log:\n%s", old, d.log(t))
	}
	waitHealthy(t, d.port)
	if pid := d.pid(t); !rep.State.Running || rep.State.PID != pid || pid == old {
		t.Errorf("state after the start %+v, want running with the new pid %d (old %d)", rep.State, pid, old)
	}

	// Without ReadState the status part does not run.
	rep = restart(t, d.m, manager.RestartOptions{Grace: 10 * time.Second})
	if rep.Stop.Err != nil || rep.Start.Err != nil || rep.Status.Ran {
		t.Errorf("restart without the state read: %+v", rep)
	}
	waitHealthy(t, d.port)
}

// startCommand is the demo's start command, as newDemo configures it.
func startCommand(t *testing.T, d *demo) string {
	return "setsid nohup " + shell.Quote(demosvctest.Binary(t)) +
		` --name "$OMNI_SERVICE" --listen "$OMNI_ADDRESS:` + strconv.Itoa(d.port) + `"` +
		" --pidfile " + shell.Quote(d.pidfile) + " --log " + shell.Quote(d.logPath) + " " + strings.Join(d.flags, " ") +
		" >/dev/null 2>&1 </dev/null &"
}

// TestCommandRestartStopFails: a stop that fails leaves the start and the
// state read unrun, and says why as the stop alone would.
func TestCommandRestartStopFails(t *testing.T) {
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	m := commandManager(t, inventory.Commands{
		Start:  "touch " + shell.Quote(started),
		Status: "echo running", // runs, names no PID, and there is no stop command
	})
	rep := restart(t, m, manager.RestartOptions{Grace: time.Second, ReadState: true})
	if !rep.Stop.Ran || rep.Stop.Err == nil || !strings.Contains(rep.Stop.Err.Error(), "printed no PID") {
		t.Errorf("stop part %+v, want the no-PID failure", rep.Stop)
	}
	if rep.Start.Ran || rep.Status.Ran {
		t.Errorf("start or status ran after a failed stop: %+v", rep)
	}
	if _, err := os.Stat(started); err == nil {
		t.Error("the start command ran after a failed stop")
	}
}

// TestCommandRestartStartTimeout: a start that outlives its timeout is
// killed on the host, with what it started, and reported as timed out.
func TestCommandRestartStartTimeout(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "sleeper.pid")
	m := commandManager(t, inventory.Commands{
		Start:  "sleep 30 & echo $! > " + shell.Quote(pidfile) + "; wait",
		Status: "exit 3",
	})
	began := time.Now()
	rep := restart(t, m, manager.RestartOptions{Grace: time.Second, StartTimeout: 300 * time.Millisecond, ReadState: true})
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the restart script took %s with a 300ms start timeout", took)
	}
	if !rep.Stop.Ran || rep.Stop.Err != nil {
		t.Errorf("stop part %+v, want not running: nothing to do", rep.Stop)
	}
	if !rep.StartTimedOut || rep.Start.Err == nil || rep.Status.Ran {
		t.Errorf("start part %+v (timed out %v), want timed out and no state read", rep.Start, rep.StartTimedOut)
	}
	if rep.Start.Duration < 300*time.Millisecond {
		t.Errorf("start part took %s, before its timeout", rep.Start.Duration)
	}
	sleeper := readPid(t, pidfile)
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(sleeper) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !processGone(sleeper) {
		t.Errorf("the start's child %d outlived the start's timeout", sleeper)
	}
}

// TestCommandRestartStartFails: a failing start command is the start
// part's error, with its stderr, and no state is read after it.
func TestCommandRestartStartFails(t *testing.T) {
	m := commandManager(t, inventory.Commands{Start: "echo no config >&2; exit 5", Status: "exit 3"})
	rep := restart(t, m, manager.RestartOptions{Grace: time.Second, StartTimeout: 5 * time.Second, ReadState: true})
	if rep.Stop.Err != nil || rep.Start.Err == nil || rep.Status.Ran {
		t.Fatalf("restart: %+v", rep)
	}
	if got := rep.Start.Err.Error(); got != "start command: exit 5: no config" {
		t.Errorf("start error %q, want the start command's own words", got)
	}
}

// TestCommandRestartScriptKilledDuringStart: a start that kills the
// restart script itself (here by its PID; in the field a `pkill -f` whose
// pattern matches the script's text) never reports its end: the start
// failed, with how the script ended, and is never taken for started.
func TestCommandRestartScriptKilledDuringStart(t *testing.T) {
	m := commandManager(t, inventory.Commands{Start: `kill -KILL "$$"`, Status: "exit 3"})
	r := m.(manager.Restarter)
	rep, err := r.Restart(context.Background(), localRunner{}, manager.RestartOptions{Grace: time.Second, StartTimeout: 5 * time.Second, ReadState: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Stop.Ran || rep.Stop.Err != nil || !rep.Start.Ran || rep.Start.Err == nil || rep.Status.Ran {
		t.Fatalf("restart: %+v", rep)
	}
	if got := rep.Start.Err.Error(); !strings.Contains(got, "ended during the start") || !strings.Contains(got, "137") {
		t.Errorf("start error %q, want the script's end during the start, exit 137", got)
	}
}

// TestCommandRestartKeepsSignals: what a restart's start runs has the
// signal dispositions a start alone gives it. In the background of a
// non-interactive shell, SIGINT and SIGQUIT are ignored, for good: a
// daemon started from there could never be stopped by `kill -INT` (a
// shell cannot trap it again, Python has no KeyboardInterrupt).
func TestCommandRestartKeepsSignals(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sigign")
	m := commandManager(t, inventory.Commands{
		Start:  "grep '^SigIgn:' /proc/self/status > " + shell.Quote(out),
		Status: "exit 3",
	})
	ignored := func() uint64 {
		t.Helper()
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b))
		if len(f) != 2 {
			t.Fatalf("%s: %q", out, b)
		}
		v, err := strconv.ParseUint(f[1], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	alone := ignored()
	const intQuit = 1<<(2-1) | 1<<(3-1) // SIGINT is 2, SIGQUIT 3
	for _, bound := range []time.Duration{5 * time.Second, 0} {
		rep := restart(t, m, manager.RestartOptions{Grace: time.Second, StartTimeout: bound})
		if rep.Start.Err != nil {
			t.Fatalf("restart: %+v", rep)
		}
		if got := ignored(); got&intQuit != alone&intQuit {
			t.Errorf("start timeout %s: the restart's start ignores signals %#x, a start alone %#x (SIGINT and SIGQUIT must be as a start alone leaves them)", bound, got, alone)
		}
	}
}

// TestCommandRestartProcesses: the restart script runs the stop and the
// state read in its own shell, as functions, and not each in a subshell:
// every process it starts on the host is one the work needs. Counted in a
// PID namespace of its own (the last PID it handed out), for a restart of
// a service that is not running: the status command's substitution (the
// stop's look for a PID), the start's subshell and the `&` of the start
// command, the start's watchdog and its sleep, and the status command's
// substitution again (the state read). With the stop and the state read
// in subshells, there were 7 or 8.
func TestCommandRestartProcesses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a PID namespace of the test's own needs root (CI runs as root)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare (util-linux) is needed: %v", err)
	}
	dir := t.TempDir()
	pidfile := shell.Quote(filepath.Join(dir, "svc.pid"))
	m := commandManager(t, inventory.Commands{
		Start:  "sleep 300 >/dev/null 2>&1 </dev/null & echo $! > " + pidfile,
		Status: "cat " + pidfile,
	})
	r := &pidCounter{}
	rep, err := m.(manager.Restarter).Restart(context.Background(), r, manager.RestartOptions{Grace: 5 * time.Second, StartTimeout: 5 * time.Second, ReadState: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stop.Err != nil || rep.Start.Err != nil || !rep.Status.Ran || rep.Status.Err != nil || !rep.State.Running {
		t.Fatalf("restart: %+v", rep)
	}
	// 5 when the start is over before the watchdog had forked its sleep.
	if r.started < 5 || r.started > 6 {
		t.Errorf("the restart script started %d processes on the host, want 5 or 6", r.started)
	}
}

// pidCounter runs a command as localRunner does, in a PID namespace of its
// own with its own /proc (the scripts read the state of processes there),
// and counts the processes the command started (its own shell not
// counted). Everything left in the namespace ends with it.
type pidCounter struct{ started int }

func (p *pidCounter) Run(ctx context.Context, cmd string) (manager.Result, error) {
	// The namespace's first process is the outer sh (PID 1); cmd, not its
	// last command, is forked as PID 2 and its own processes follow; then
	// one more process tells its PID, the next one handed out. Neither is
	// the last command, which bash and BusyBox would exec in place of
	// PID 1 instead of forking it.
	const mark = "omni-test-next-pid="
	outer := cmd + "\nsh -c 'echo " + mark + "$$ >&2'\n:"
	res, err := localRunner{}.Run(ctx, "exec unshare --pid --fork --mount-proc sh -c "+shell.Quote(outer))
	if err != nil {
		return res, err
	}
	_, last, ok := strings.Cut(string(res.Stderr), mark)
	n, convErr := strconv.Atoi(strings.TrimSpace(last))
	if !ok || convErr != nil {
		return res, fmt.Errorf("no PID from the namespace: %q", res.Stderr)
	}
	p.started = n - 3
	return res, nil
}

// TestCommandBrokenEnvFile: an environment file the shell cannot read (a
// syntax error ends the shell that sources it, in dash and BusyBox) never
// passes for a stopped service. Stop, Status and the restart's stop either
// fail, or (where the shell reads past the error, as bash does) see the
// service and stop it: a service that still runs is never reported
// stopped.
func TestCommandBrokenEnvFile(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "svc.env")
	if err := os.WriteFile(env, []byte("FOO=\"unterminated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(dir, "svc.pid")
	m, err := manager.New(manager.Target{
		Host: &inventory.Host{Name: "lab1", ServiceAddress: "127.0.0.1"},
		Service: &inventory.Service{Name: "demo", Manager: "command", Commands: inventory.Commands{
			Start:  "sleep 300 >/dev/null 2>&1 </dev/null & echo $! > " + shell.Quote(pidfile),
			Status: "cat " + shell.Quote(pidfile),
		}},
		EnvFile: env,
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := exec.Command("sleep", "300")
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Process.Kill(); _ = svc.Wait() })
	if err := os.WriteFile(pidfile, []byte(strconv.Itoa(svc.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	alive := func() bool { return !processGone(svc.Process.Pid) }
	ctx := context.Background()

	st, err := m.Status(ctx, localRunner{})
	if err == nil && !st.Running && alive() {
		t.Errorf("status: %+v, no error, while the service runs", st)
	}
	rep, err := m.(manager.Restarter).Restart(ctx, localRunner{}, manager.RestartOptions{Grace: 5 * time.Second, StartTimeout: 5 * time.Second, ReadState: true})
	if err == nil && rep.Stop.Err == nil && alive() {
		t.Errorf("restart: the stop says it succeeded (%+v) while the service runs", rep)
	}
	if err := m.Stop(ctx, localRunner{}, 5*time.Second); err == nil && alive() {
		t.Error("stop: no error while the service runs")
	}
}
