package cli

// Hung commands on a host, over real sshd: a start, stop, status, logs or
// health command that never returns ends within its documented bound,
// named (host, service, step), with its exit code, and leaves no process
// of the hung command behind on the host.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// hungFleet is a test fleet with one more service, legacy-app on the
// workers, whose commands each test chooses.
type hungFleet struct {
	*testfleet.Fleet
	t *testing.T
}

// legacyCommands are legacy-app's commands; empty ones are the demo
// service's own (start, status by pidfile, logs by tail).
type legacyCommands struct {
	start, status, stop, logs string
}

// yaml is the service's commands: block, indented as a service's keys.
func (c legacyCommands) yaml() string {
	y := "    commands:\n"
	for _, kv := range [][2]string{{"start", c.start}, {"status", c.status}, {"stop", c.stop}, {"logs", c.logs}} {
		if kv[1] != "" {
			y += "      " + kv[0] + ": '" + strings.ReplaceAll(kv[1], "'", "''") + "'\n"
		}
	}
	return y
}

func startHungFleet(t *testing.T, bastion, worker string, more ...string) *hungFleet {
	t.Helper()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: bastion, WorkerAddr: worker, MoreWorkers: more,
		Extra: []testfleet.Service{{Name: "legacy-app", Role: "worker"}}})
	return &hungFleet{Fleet: f, t: t}
}

// files is the shell path (without extension) of a host's legacy-app files.
func (h *hungFleet) files() string {
	return filepath.Join(h.RunDir, `"$OMNI_HOST.$OMNI_SERVICE"`)
}

// hang is a command that records the PIDs of its shell and of its child
// in RUN/name.pids, then waits forever.
func (h *hungFleet) hang(name string) string {
	pids := filepath.Join(h.RunDir, name+".pids")
	return fmt.Sprintf(`echo $$ >>%s; sleep 3600 & echo $! >>%s; wait`, pids, pids)
}

// setLegacy rewrites the inventory: legacy-app with cmds, a 2s grace and
// start timeout, a process health check of 1s retried once, and (when
// commandTimeout) a command timeout of 3s: short, but not so short that a
// command that answers misses it on a host short of CPU.
func (h *hungFleet) setLegacy(cmds legacyCommands, commandTimeout bool) {
	h.t.Helper()
	files := h.files()
	if cmds.start == "" {
		cmds.start = fmt.Sprintf(`setsid nohup %s --name "$OMNI_SERVICE" --listen "$OMNI_ADDRESS:%d" --pidfile %s.pid --log %s.log >/dev/null 2>&1 </dev/null &`,
			h.Demo, h.Ports["legacy-app"], files, files)
	}
	if cmds.status == "" {
		cmds.status = "cat " + files + ".pid"
	}
	if cmds.logs == "" {
		cmds.logs = `tail -n "$OMNI_LINES" ` + files + ".log"
	}
	body := "    stop_grace: 2s\n    start_timeout: 2s\n" + cmds.yaml() +
		"    health:\n      process: true\n      timeout: 1s\n      retries: 1\n      interval: 100ms\n"
	h.SetService("legacy-app", body)
	if commandTimeout {
		b, err := os.ReadFile(h.Inventory)
		if err != nil {
			h.t.Fatal(err)
		}
		inv := strings.Replace(string(b), "  start_timeout: 10s\n", "  start_timeout: 10s\n  command_timeout: 3s\n", 1)
		if err := os.WriteFile(h.Inventory, []byte(inv), 0o644); err != nil {
			h.t.Fatal(err)
		}
	}
}

// run runs omni and returns its output, exit code and duration.
func (h *hungFleet) run(args ...string) (stdout, stderr string, code int, took time.Duration) {
	h.t.Helper()
	// A backstop of the test's own, far above every bound tested, so that
	// a command omni does not bound fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	stdout, stderr, code = omniCtx(ctx, h.t, h.Fleet, false, "", args...)
	return stdout, stderr, code, time.Since(began)
}

// assertGone checks that every process the hung command name recorded has
// ended (a zombie counts), and kills any left.
func (h *hungFleet) assertGone(name string) {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.RunDir, name+".pids"))
	pids := strings.Fields(string(b))
	if err != nil || len(pids) < 2 {
		h.t.Fatalf("the hung %s command did not run: %q, %v", name, b, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		for testfleet.Alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if testfleet.Alive(pid) {
			h.t.Errorf("process %d of the hung %s command left running on the host", pid, name)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func within(t *testing.T, what string, took, low, high time.Duration) {
	t.Helper()
	if took < low || took > high {
		t.Errorf("%s took %s, want between %s and %s", what, took.Round(time.Millisecond), low, high)
	}
}

// TestHungStopCommand: a stop command that never returns, stop_grace 2s:
// after the grace period omni kills it and SIGKILLs the service; the stop
// succeeds within grace + 5s and nothing is left running.
func TestHungStopCommand(t *testing.T) {
	h := startHungFleet(t, "127.0.1.231", "127.0.1.232")
	h.setLegacy(legacyCommands{stop: h.hang("stop")}, false)
	mustRun(t, h.Fleet, "service", "start", "worker1", "legacy-app")
	pid := h.PID("worker1", "legacy-app")
	if !testfleet.Alive(pid) {
		t.Fatalf("legacy-app not running after start (pid %d)", pid)
	}
	out, errOut, code, took := h.run("service", "stop", "worker1", "legacy-app", "--yes")
	if code != ExitOK || !strings.Contains(out, "Service stopped successfully") {
		t.Fatalf("stop: exit %d\n%s\n%s", code, out, errOut)
	}
	within(t, "the stop", took, 2*time.Second, 8*time.Second) // about grace + 5s
	if testfleet.Alive(pid) {
		t.Errorf("legacy-app (pid %d) still running after the stop", pid)
	}
	h.assertGone("stop")
}

// TestHungStartCommand: a start command that never returns fails the
// start step after start_timeout, named, exit 1, nothing left behind.
func TestHungStartCommand(t *testing.T) {
	h := startHungFleet(t, "127.0.1.233", "127.0.1.234")
	h.setLegacy(legacyCommands{start: h.hang("start")}, true)
	_, errOut, code, took := h.run("service", "start", "worker1", "legacy-app")
	if code != ExitFailed || !strings.Contains(errOut, "Failed to start legacy-app on worker1: start: timed out after 2s") {
		t.Fatalf("start: exit %d, want 1 and the step named\n%s", code, errOut)
	}
	within(t, "the start", took, 2*time.Second, 9*time.Second)
	h.assertGone("start")
}

// TestHungStatusCommand: `omni service status` ends after command_timeout
// when a status command hangs, names the host and service, exits 1, and
// still shows the other services and hosts. Both ways a command runs on a
// host are covered: a session of its own (one service on the host) and
// the connection's long-lived shell (several).
func TestHungStatusCommand(t *testing.T) {
	h := startHungFleet(t, "127.0.1.235", "127.0.1.236", "127.0.1.237")
	// Only worker1's hangs; worker2's answers (stopped).
	h.setLegacy(legacyCommands{status: `if [ "$OMNI_HOST" = worker1 ]; then ` + h.hang("status") + `; fi; cat ` + h.files() + ".pid"}, true)
	const msg = "worker1: legacy-app: status: timed out after 3s"

	out, errOut, code, took := h.run("service", "status", "worker1", "legacy-app")
	if code != ExitFailed || !strings.Contains(errOut, msg) || !regexp.MustCompile(`(?m)^worker1 +legacy-app +Unknown `).MatchString(out) {
		t.Fatalf("status of one service: exit %d, want 1 and %q\n%s\n%s", code, msg, out, errOut)
	}
	within(t, "status of one service", took, 3*time.Second, 10*time.Second)
	h.assertGone("status")

	os.Remove(filepath.Join(h.RunDir, "status.pids"))
	out, errOut, code, took = h.run("service", "status", "worker")
	if code != ExitFailed || !strings.Contains(errOut, msg) || !strings.Contains(errOut, "1 of 6 services could not be read") {
		t.Fatalf("status of the workers: exit %d, want 1 and %q\n%s\n%s", code, msg, out, errOut)
	}
	within(t, "status of the workers", took, 3*time.Second, 10*time.Second)
	for _, row := range []string{"worker1 network-agent", "worker1 container-runtime", "worker2 legacy-app", "worker2 network-agent"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), row+" Stopped") {
			t.Errorf("status of the workers: no row %q stopped:\n%s", row, out)
		}
	}
	h.assertGone("status")
}

// TestHungLogsCommand: `omni service logs` ends after command_timeout when
// the logs command hangs; `logs -f` is not bounded (Ctrl-C ends it).
func TestHungLogsCommand(t *testing.T) {
	h := startHungFleet(t, "127.0.1.238", "127.0.1.239")
	h.setLegacy(legacyCommands{logs: h.hang("logs")}, true)
	_, errOut, code, took := h.run("service", "logs", "worker1", "legacy-app")
	if code != ExitFailed || !strings.Contains(errOut, "worker1: legacy-app: logs: timed out after 3s") {
		t.Fatalf("logs: exit %d, want 1 and the step named\n%s", code, errOut)
	}
	within(t, "logs", took, 3*time.Second, 10*time.Second)
	h.assertGone("logs")

	os.Remove(filepath.Join(h.RunDir, "logs.pids"))
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(3700*time.Millisecond, cancel)
	defer timer.Stop()
	began := time.Now()
	_, errOut, code = omniCtx(ctx, t, h.Fleet, false, "", "service", "logs", "worker1", "legacy-app", "-f")
	took = time.Since(began)
	if code != ExitOK && code != ExitInterrupted {
		t.Fatalf("logs -f: exit %d\n%s", code, errOut)
	}
	within(t, "logs -f (ended by the test after 3.7s, past the 3s bound)", took, 3700*time.Millisecond, 10*time.Second)
	h.assertGone("logs")
}

// TestHungHealthCheck: after a start, the process health check's status
// command hangs: each attempt ends after the health timeout (1s; 3
// attempts in the 100ms retry budget), the health step fails, named, exit 1; the record step after
// it is bounded by command_timeout; nothing is left behind.
func TestHungHealthCheck(t *testing.T) {
	h := startHungFleet(t, "127.0.1.240", "127.0.1.241")
	up := filepath.Join(h.RunDir, "up")
	h.setLegacy(legacyCommands{
		start:  "touch " + up,
		status: "if [ -e " + up + " ]; then " + h.hang("status") + "; fi; false",
	}, true)
	_, errOut, code, took := h.run("service", "start", "worker1", "legacy-app")
	const msg = "Failed to start legacy-app on worker1: health: process: timed out after 1s (after "
	if code != ExitFailed || !strings.Contains(errOut, msg) {
		t.Fatalf("start: exit %d, want 1 and %q\n%s", code, msg, errOut)
	}
	// Three attempts of 1s, then the record step's status: 3s.
	within(t, "the start", took, 3*time.Second, 13*time.Second)
	h.assertGone("status")
}
