package manager_test

// These tests run the command manager's real scripts through a real sh on
// this machine, against real processes: the demo service listening on a
// free loopback port, processes that ignore SIGTERM, zombies.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/internal/testkit/demosvctest"
	"github.com/omni-fleet/omni/inventory"
)

// localRunner runs commands with `sh -c` on this machine, as sshd runs
// them on a host.
type localRunner struct{}

func (localRunner) Run(ctx context.Context, cmd string) (manager.Result, error) {
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	c.WaitDelay = 2 * time.Second // a launched service must not hold our pipes
	err := c.Run()
	res := manager.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		res.ExitCode = exitErr.ExitCode()
		return res, nil
	}
	// Killed by a signal, not by ctx: 128 + the signal, as the SSH
	// transport reports an exit-signal.
	if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ctx.Err() == nil && exitErr != nil {
		res.ExitCode = 128 + int(ws.Signal())
		return res, nil
	}
	return res, err
}

func commandManager(t *testing.T, cmds inventory.Commands) manager.Manager {
	t.Helper()
	m, err := manager.New(manager.Target{
		Host:    &inventory.Host{Name: "lab1", ServiceAddress: "127.0.0.1"},
		Service: &inventory.Service{Name: "demo", Manager: "command", Commands: cmds},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// demo is a demo service driven by the command manager.
type demo struct {
	port    int
	pidfile string
	logPath string
	flags   []string // quoted
	m       manager.Manager
}

// newDemo returns a command manager for the demo service run with flags,
// using the start/status/logs commands documented in package demosvc and
// the manager's default stop (SIGTERM to the PID).
func newDemo(t *testing.T, flags ...string) *demo {
	t.Helper()
	dir := t.TempDir()
	d := &demo{port: freePort(t), pidfile: filepath.Join(dir, "demo.pid"), logPath: filepath.Join(dir, "demo.log")}
	d.flags = make([]string, len(flags))
	for i, f := range flags {
		d.flags[i] = shell.Quote(f)
	}
	d.setStopCommand(t, "")
	t.Cleanup(func() { killPidfile(d.pidfile) })
	return d
}

func (d *demo) setStopCommand(t *testing.T, stop string) {
	t.Helper()
	pidfile := shell.Quote(d.pidfile)
	d.m = commandManager(t, inventory.Commands{
		Start: "setsid nohup " + shell.Quote(demosvctest.Binary(t)) +
			` --name "$OMNI_SERVICE" --listen "$OMNI_ADDRESS:` + strconv.Itoa(d.port) + `"` +
			" --pidfile " + pidfile + " --log " + shell.Quote(d.logPath) + " " + strings.Join(d.flags, " ") +
			" >/dev/null 2>&1 </dev/null &",
		Status: "cat " + pidfile + ` 2>/dev/null && kill -0 "$(cat ` + pidfile + `)"`,
		Stop:   stop,
		Logs:   `tail -n "$OMNI_LINES" ` + shell.Quote(d.logPath),
	})
}

func (d *demo) start(t *testing.T) {
	t.Helper()
	if err := d.m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, d.port)
}

func (d *demo) pid(t *testing.T) int {
	t.Helper()
	return readPid(t, d.pidfile)
}

func (d *demo) log(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func killPidfile(path string) {
	if b, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitHealthy(t *testing.T, port int) {
	t.Helper()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(body) == "ok" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy after 10s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// psStat is the ps state of pid, "" when there is no such process.
func psStat(pid int) string {
	out, _ := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output()
	return strings.TrimSpace(string(out))
}

// processGone reports whether pid has exited (it may be a zombie).
func processGone(pid int) bool {
	stat := psStat(pid)
	return stat == "" || stat[0] == 'Z'
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func status(t *testing.T, m manager.Manager) manager.State {
	t.Helper()
	st, err := m.Status(context.Background(), localRunner{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCommandManagerDemoService(t *testing.T) {
	d := newDemo(t)
	before := time.Now()
	d.start(t)

	st := status(t, d.m)
	pid := d.pid(t)
	if !st.Running || st.Status != "running" || st.PID != pid {
		t.Errorf("status after start = %+v, want running with pid %d", st, pid)
	}
	if st.Since.IsZero() || st.Since.Before(before.Add(-2*time.Second)) || st.Since.After(time.Now()) {
		t.Errorf("Since = %v, want between %v and now", st.Since, before)
	}

	logs, err := localRunner{}.Run(context.Background(), d.m.LogsCommand(2, false))
	if err != nil || logs.ExitCode != 0 {
		t.Fatalf("logs: %v %+v", err, logs)
	}
	if lines := strings.Split(strings.TrimSpace(string(logs.Stdout)), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "GET /healthz 200") {
		t.Errorf("last 2 log lines = %q", lines)
	}

	stopped := time.Now()
	if err := d.m.Stop(context.Background(), localRunner{}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(stopped); elapsed > 5*time.Second {
		t.Errorf("graceful stop took %s", elapsed)
	}
	if !processGone(pid) {
		t.Errorf("pid %d still alive after Stop", pid)
	}
	logText := d.log(t)
	if !strings.Contains(logText, "stopping (SIGTERM)") || !strings.Contains(logText, "]: stopped") {
		t.Errorf("the service did not stop gracefully; log:\n%s", logText)
	}
	if _, err := os.Stat(d.pidfile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pidfile left after a graceful stop: %v", err)
	}
	if st := status(t, d.m); st.Running || st.Status != "stopped" || st.PID != 0 {
		t.Errorf("status after stop = %+v, want stopped", st)
	}
	// Stopping a stopped service succeeds, saying it was not running.
	if err := d.m.Stop(context.Background(), localRunner{}, time.Second); err != manager.ErrWasNotRunning {
		t.Errorf("second stop: %v, want ErrWasNotRunning", err)
	}
}

func TestCommandManagerStopDelay(t *testing.T) {
	d := newDemo(t, "--stop-delay", "600ms")
	d.start(t)
	pid := d.pid(t)
	stopped := time.Now()
	if err := d.m.Stop(context.Background(), localRunner{}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(stopped); elapsed < 600*time.Millisecond {
		t.Errorf("Stop returned after %s, before the service's 600ms stop delay", elapsed)
	}
	if !processGone(pid) || !strings.Contains(d.log(t), "]: stopped") {
		t.Errorf("not stopped gracefully; log:\n%s", d.log(t))
	}
}

func TestCommandManagerKillsAfterGrace(t *testing.T) {
	d := newDemo(t, "--ignore-sigterm")
	d.start(t)
	pid := d.pid(t)
	const grace = time.Second
	stopped := time.Now()
	mustKill(t, d.m.Stop(context.Background(), localRunner{}, grace))
	if elapsed := time.Since(stopped); elapsed < grace || elapsed > grace+5*time.Second {
		t.Errorf("Stop took %s, want the %s grace and then SIGKILL", elapsed, grace)
	}
	if !processGone(pid) {
		t.Errorf("pid %d alive after Stop", pid)
	}
	logText := d.log(t)
	if !strings.Contains(logText, "ignoring SIGTERM") || strings.Contains(logText, "]: stopped") {
		t.Errorf("want SIGTERM ignored and no graceful stop; log:\n%s", logText)
	}
	if st := status(t, d.m); st.Running {
		t.Errorf("status after kill = %+v, want not running", st)
	}
}

func TestCommandManagerStopCommand(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "stop-ran")
	d := newDemo(t)
	// The stop command finds the PID itself and leaves a marker.
	d.setStopCommand(t, `touch `+shell.Quote(marker)+` && kill -TERM "$(cat `+shell.Quote(d.pidfile)+`)"`)
	d.start(t)
	pid := d.pid(t)
	if err := d.m.Stop(context.Background(), localRunner{}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("stop command did not run: %v", err)
	}
	if !processGone(pid) || !strings.Contains(d.log(t), "]: stopped") {
		t.Errorf("not stopped gracefully; log:\n%s", d.log(t))
	}
}

// zombieCommands starts `sh -c 'CHILD & echo $! >inner; echo $$ >outer;
// exec sleep 60'`: CHILD's parent becomes a sleep that never reaps it, so
// once CHILD exits it stays a zombie. The status command reports CHILD's
// PID (kill -0 succeeds on a zombie, as on a live process).
func zombieCommands(t *testing.T, child string) (cmds inventory.Commands, inner, outer string) {
	dir := t.TempDir()
	inner, outer = filepath.Join(dir, "inner.pid"), filepath.Join(dir, "outer.pid")
	script := child + ` & echo $! >` + shell.Quote(inner) + `; echo $$ >` + shell.Quote(outer) + `; exec sleep 60`
	t.Cleanup(func() { killPidfile(outer); killPidfile(inner) })
	return inventory.Commands{
		Start:  "setsid sh -c " + shell.Quote(script) + " >/dev/null 2>&1 </dev/null &",
		Status: "cat " + shell.Quote(inner) + ` 2>/dev/null && kill -0 "$(cat ` + shell.Quote(inner) + `)"`,
	}, inner, outer
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCommandManagerZombieIsStopped(t *testing.T) {
	cmds, inner, outer := zombieCommands(t, "sleep 0.1")
	m := commandManager(t, cmds)
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	waitFile(t, inner)
	waitFile(t, outer)
	time.Sleep(300 * time.Millisecond) // the child has exited: a zombie now
	if stat := psStat(readPid(t, inner)); !strings.HasPrefix(stat, "Z") {
		t.Fatalf("child state %q, want a zombie", stat)
	}
	if st := status(t, m); st.Running || st.Status != "stopped" {
		t.Errorf("status of a zombie = %+v, want stopped", st)
	}
	stopped := time.Now()
	if err := m.Stop(context.Background(), localRunner{}, 10*time.Second); err != nil && err != manager.ErrWasNotRunning {
		t.Fatal(err)
	}
	if elapsed := time.Since(stopped); elapsed > 3*time.Second {
		t.Errorf("stopping a zombie took %s", elapsed)
	}
}

func TestCommandManagerStopLeavesZombie(t *testing.T) {
	cmds, inner, outer := zombieCommands(t, "sleep 30")
	m := commandManager(t, cmds)
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	waitFile(t, inner)
	waitFile(t, outer)
	if st := status(t, m); !st.Running {
		t.Fatalf("status = %+v, want running", st)
	}
	// SIGTERM kills the child, which stays a zombie: that is stopped, and
	// Stop must not wait out the grace period for it.
	stopped := time.Now()
	if err := m.Stop(context.Background(), localRunner{}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(stopped); elapsed > 3*time.Second {
		t.Errorf("Stop took %s waiting for a zombie", elapsed)
	}
	if stat := psStat(readPid(t, inner)); !strings.HasPrefix(stat, "Z") {
		t.Errorf("child state after Stop %q, want a zombie", stat)
	}
}

func TestCommandManagerWithoutPID(t *testing.T) {
	dir := t.TempDir()
	flag := shell.Quote(filepath.Join(dir, "up"))
	cmds := inventory.Commands{Start: "touch " + flag, Status: "test -e " + flag, Stop: "rm " + flag}

	m := commandManager(t, cmds)
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	if st := status(t, m); !st.Running || st.PID != 0 || !st.Since.IsZero() {
		t.Errorf("status = %+v, want running without PID", st)
	}
	if err := m.Stop(context.Background(), localRunner{}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := status(t, m); st.Running {
		t.Errorf("status after stop = %+v", st)
	}

	// A stop command that does not stop it: reported after the grace.
	cmds.Stop = "echo 'refusing to stop' >&2; exit 3"
	m = commandManager(t, cmds)
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	err := m.Stop(context.Background(), localRunner{}, 500*time.Millisecond)
	want := "still running 500ms after the stop command (stop command exit 3: refusing to stop); no PID to SIGKILL"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}

	// No PID and no stop command: nothing omni can do.
	cmds.Stop = ""
	err = commandManager(t, cmds).Stop(context.Background(), localRunner{}, time.Second)
	if err == nil || !strings.Contains(err.Error(), "printed no PID") {
		t.Errorf("error = %v, want the no-PID error", err)
	}
}

// TestCommandManagerStatusNotInstalled: a status command the host cannot
// run (its program is not installed, or not executable) is an error, the
// command manager's "unit not installed", not a stopped service; a status
// command that runs and fails is a stopped one.
func TestCommandManagerStatusNotInstalled(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "democtl")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ status, want string }{
		{"/opt/demo/bin/democtl status", "status: the status command could not run on this host (exit 127: not found): "},
		{shell.Quote(notExec) + " status", "status: the status command could not run on this host (exit 126: not executable): "},
	} {
		_, err := commandManager(t, inventory.Commands{Start: "true", Status: tc.status}).Status(context.Background(), localRunner{})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !strings.Contains(err.Error(), "democtl") ||
			!strings.HasSuffix(err.Error(), "is the service installed? check its commands.status in the inventory") {
			t.Errorf("status %q: error\n got %v\nwant %s... naming democtl", tc.status, err, tc.want)
		}
	}
	if st := status(t, commandManager(t, inventory.Commands{Start: "true", Status: "exit 3"})); st.Running || st.Status != "stopped" {
		t.Errorf("a status command that fails: %+v, want stopped", st)
	}
}

func TestCommandManagerStartFailure(t *testing.T) {
	m := commandManager(t, inventory.Commands{Start: "echo 'cannot read /etc/demo.conf' >&2; exit 2", Status: "false"})
	err := m.Start(context.Background(), localRunner{})
	if want := "start command: exit 2: cannot read /etc/demo.conf"; err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
}

// TestCommandManagerEnvironment checks, through a real shell, that the
// OMNI_* variables reach the commands intact whatever they contain.
func TestCommandManagerEnvironment(t *testing.T) {
	out := filepath.Join(t.TempDir(), "env")
	m, err := manager.New(manager.Target{
		Host: &inventory.Host{Name: "it's $(a) `host`", ServiceAddress: "10.0.0.1; echo pwned"},
		Service: &inventory.Service{Name: "svc\"name", Manager: "command", Commands: inventory.Commands{
			Start:  `printf '%s\n' "$OMNI_HOST" "$OMNI_SERVICE" "$OMNI_ADDRESS" >` + shell.Quote(out),
			Status: "true",
			Logs:   `echo "lines=$OMNI_LINES follow=$OMNI_FOLLOW service=$OMNI_SERVICE"`,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "it's $(a) `host`\nsvc\"name\n10.0.0.1; echo pwned\n"; string(got) != want {
		t.Errorf("environment seen by the start command:\n%s\nwant\n%s", got, want)
	}
	res, err := localRunner{}.Run(context.Background(), m.LogsCommand(25, true))
	if err != nil {
		t.Fatal(err)
	}
	if want := "lines=25 follow=1 service=svc\"name\n"; string(res.Stdout) != want {
		t.Errorf("logs command printed %q, want %q", res.Stdout, want)
	}
}

// TestCommandManagerHungStopCommand: a stop command that never returns is
// bounded by the grace period. It is killed with the processes it
// started, the service gets SIGKILL, and the stop succeeds.
func TestCommandManagerHungStopCommand(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "stop.pids")
	d := newDemo(t, "--ignore-sigterm")
	// The stop command records its shell's PID and its child's, then waits forever.
	d.setStopCommand(t, `echo $$ >>`+shell.Quote(pids)+`; sleep 3600 & echo $! >>`+shell.Quote(pids)+`; wait`)
	d.start(t)
	pid := d.pid(t)
	const grace = time.Second
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second) // the old script waited forever
	defer cancel()
	err := d.m.Stop(ctx, localRunner{}, grace)
	mustKill(t, err)
	if !strings.Contains(err.Error(), "its stop command had not ended after the 1s grace period and was killed") {
		t.Errorf("the stop's note does not say its stop command hung: %v", err)
	}
	if elapsed := time.Since(began); elapsed < grace || elapsed > grace+5*time.Second {
		t.Errorf("Stop took %s, want the %s grace and then SIGKILL", elapsed, grace)
	}
	if !processGone(pid) {
		t.Errorf("service pid %d alive after Stop", pid)
	}
	b, err := os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	stopPids := strings.Fields(string(b))
	if len(stopPids) != 2 {
		t.Fatalf("stop command pids %q, want its shell's and its sleep's", stopPids)
	}
	for _, p := range stopPids {
		n, _ := strconv.Atoi(p)
		if !processGone(n) {
			t.Errorf("stop command process %d left running (%s)", n, psStat(n))
			syscall.Kill(n, syscall.SIGKILL)
		}
	}
}

// TestCommandManagerHungStopCommandWithoutPID: without a PID, a stop
// command that never returns is killed after the grace period and the
// error says so.
func TestCommandManagerHungStopCommandWithoutPID(t *testing.T) {
	dir := t.TempDir()
	flag := shell.Quote(filepath.Join(dir, "up"))
	pids := filepath.Join(dir, "stop.pids")
	m := commandManager(t, inventory.Commands{Start: "touch " + flag, Status: "test -e " + flag,
		Stop: `echo $$ >>` + shell.Quote(pids) + `; sleep 3600 & echo $! >>` + shell.Quote(pids) + `; wait`})
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := m.Stop(ctx, localRunner{}, time.Second)
	if elapsed := time.Since(began); elapsed > 6*time.Second {
		t.Errorf("Stop took %s", elapsed)
	}
	want := "still running 1s after the stop command (the stop command had not ended after the 1s grace period: killed); no PID to SIGKILL"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
	b, _ := os.ReadFile(pids)
	for _, p := range strings.Fields(string(b)) {
		n, _ := strconv.Atoi(p)
		if !processGone(n) {
			t.Errorf("stop command process %d left running", n)
			syscall.Kill(n, syscall.SIGKILL)
		}
	}
}

// TestCommandManagerEnvFile checks, through a real shell, that a service's
// environment file reaches its start, status and stop commands (values
// with spaces and quotes intact), that the OMNI_* variables still win,
// and that a missing file is no error.
func TestCommandManagerEnvFile(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "it's env", "svc.env")
	if err := os.MkdirAll(filepath.Dir(envFile), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "seen")
	record := `printf '%s|%s|%s\n' "$GREETING" "$OMNI_SERVICE" "$LEVEL" >>` + shell.Quote(out)
	m, err := manager.New(manager.Target{
		Host: &inventory.Host{Name: "h1"},
		Service: &inventory.Service{Name: "svc", Manager: "command", Commands: inventory.Commands{
			Start: record, Status: record + "; false", Stop: record,
		}},
		EnvFile: envFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.Start(ctx, localRunner{}); err != nil { // no file yet: nothing exported, no error
		t.Fatal(err)
	}
	env := "GREETING='hello \"world\" $(x)'\nLEVEL=debug\nOMNI_SERVICE=overridden\n"
	if err := os.WriteFile(envFile, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx, localRunner{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Status(ctx, localRunner{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(ctx, localRunner{}, time.Second); err != nil && err != manager.ErrWasNotRunning {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{"|svc|", `hello "world" $(x)|svc|debug`, `hello "world" $(x)|svc|debug`, `hello "world" $(x)|svc|debug`}
	if len(lines) < 3 || lines[0] != want[0] || lines[1] != want[1] || lines[2] != want[2] {
		t.Errorf("environment seen by start, start, status, stop:\n%s\nwant\n%s", b, strings.Join(want, "\n"))
	}
}

// TestCommandManagerStopStatusCannotRunWhileWatched: without a PID, a stop
// with a stop command watches the status command until it fails; a status
// command that then cannot run (here its program was removed: exit 127)
// says nothing of the service, and the stop fails, naming it, as a status
// command that cannot run from the start does (found by review).
func TestCommandManagerStopStatusCannotRunWhileWatched(t *testing.T) {
	dir := t.TempDir()
	ctl := filepath.Join(dir, "democtl")
	if err := os.WriteFile(ctl, []byte("#!/bin/sh\necho up\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := commandManager(t, inventory.Commands{Start: "true", Status: shell.Quote(ctl), Stop: "sleep 0.1; rm " + shell.Quote(ctl)})
	err := m.Stop(context.Background(), localRunner{}, 2*time.Second)
	if err == nil || errors.Is(err, manager.ErrWasNotRunning) ||
		!strings.Contains(err.Error(), "after the stop command: the status command could not run on this host (exit 127: not found)") {
		t.Errorf("stop whose status command could no longer run: %v; want the status command's failure", err)
	}
}
