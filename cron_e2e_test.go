package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// Adversarial review: omni run by cron and automation. Each test runs the
// real omni binary over real OpenSSH sshd hosts (127.0.57.1xx).

// hungAgent listens on a Unix socket, accepts every connection and never
// answers: an ssh-agent that is wedged, or a stale SSH_AUTH_SOCK forwarded
// into a CI job whose other end no longer reads.
func hungAgent(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return sock
}

// TestCronHungSSHAgentDoesNotHang: the inventory names an identity file
// that works; SSH_AUTH_SOCK points at an agent that never answers. The
// README: "It never hangs", connect_timeout bounds "TCP connect plus SSH
// handshake, per host". omni must finish within the connect bound (5 s
// in the test fleet), using the identity file or reporting the host
// unreachable; and a SIGTERM (cron's timeout) must end it.
// It blocked for ever in the agent's list of keys, past connect_timeout,
// holding the run lock (every later cron run exited 5), through SIGTERMs.
func TestCronHungSSHAgentDoesNotHang(t *testing.T) {
	if testing.Short() {
		t.Skip("builds omni and starts sshd hosts: not in -short")
	}
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.57.110", WorkerAddr: "127.0.57.111"})
	inv := []string{"-i", f.Inventory}
	if out, err := exec.Command(bin, append(inv, "service", "start", "primary-bastion", "network-agent")...).CombinedOutput(); err != nil {
		t.Fatalf("start without the agent: %v\n%s", err, out)
	}
	sock := hungAgent(t)

	run := func(args ...string) *watched {
		w := &watched{cmd: exec.Command(bin, append(inv, args...)...), done: make(chan struct{})}
		w.cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		w.cmd.Stdout = &w.stdout
		w.cmd.Stderr = &w.stderr
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { w.cmd.Wait(); close(w.done) }()
		t.Cleanup(func() { w.cmd.Process.Kill() })
		return w
	}

	// The check cron runs every minute.
	w := run("service", "status", "primary-bastion", "network-agent")
	select {
	case <-w.done:
		code := w.cmd.ProcessState.ExitCode()
		if code != 0 && code != 4 {
			t.Errorf("status with a hung agent: exit %d, want 0 (the identity file works) or 4\n%s%s", code, w.stdout.String(), w.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Errorf("status with a hung ssh-agent still running after 20 s (connect_timeout is 5s): omni hangs on the agent")
	}

	// A restart: it takes the run lock first; then a SIGTERM, as
	// `timeout` sends, must end it.
	w = run("service", "restart", "primary-bastion", "network-agent")
	time.Sleep(8 * time.Second)
	select {
	case <-w.done:
		return // finished within the bound: fine
	default:
	}
	w.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(time.Second)
	w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
		t.Errorf("restart with a hung agent ran past connect_timeout (5s) and needed a SIGTERM (exit %d)", w.cmd.ProcessState.ExitCode())
	case <-time.After(10 * time.Second):
		// Meanwhile, the next cron run is refused on the lock the hung run holds.
		out, _ := exec.Command(bin, append(inv, "service", "restart", "primary-bastion", "network-agent")...).CombinedOutput()
		t.Errorf("restart with a hung ssh-agent: still running 8 s after start and 10 s after two SIGTERMs; the next run says:\n%s", out)
	}
}

// TestCronSIGHUPLeavesNoServiceDown: omni run from a session that goes
// away (an ssh session to the admin machine that drops, a CI runner whose
// connection is lost: the kernel or sshd sends SIGHUP) in the middle of a
// rolling restart, between a host's stop and its start. omni handles
// SIGINT and SIGTERM ("the hosts in flight finish their steps ... exit
// 130 with the report") but not SIGHUP: Go's default kills it at once,
// leaving worker1's service stopped, no report, exit 129, its registry
// record still "running" and its event "incomplete". Root cause: omni.go
// main: signal.Notify(signals, os.Interrupt, syscall.SIGTERM) only.
func TestCronSIGHUPLeavesNoServiceDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds omni and starts a fleet of sshd hosts: not in -short")
	}
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.57.150", WorkerAddr: "127.0.57.151",
		MoreWorkers: []string{"127.0.57.152"}})
	inv := []string{"-i", f.Inventory}
	if out, err := exec.Command(bin, append(inv, "service", "start", "worker", "container-runtime")...).CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	// A pre_start hook that takes 2 s: the signal lands after the stop.
	slowInv := f.Variant("slow.yaml", "  container-runtime:\n", "  container-runtime:\n    pre_start: [{run: 'sleep 2'}]\n")
	var once sync.Once
	w := startOmni(t, bin, func(w *watched, line string) {
		if strings.Contains(line, "ok stop") || strings.Contains(line, "ok verify-stopped") {
			once.Do(func() { w.signal(syscall.SIGHUP) })
		}
	}, "-i", slowInv, "service", "restart", "worker", "container-runtime", "--min-ready", "0", "-v")
	code, out, errOut := w.wait(t, time.Minute)
	pid := f.PID("worker1", "container-runtime")
	if !testfleet.Alive(pid) {
		t.Errorf("SIGHUP between worker1's stop and start left container-runtime stopped on worker1 (exit %d)\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code != 130 || !strings.Contains(out, "worker2") {
		t.Errorf("SIGHUP: exit %d, want 130 with the report of every host (as for SIGTERM)\nstdout:\n%s", code, out)
	}
}

// TestCronSecondSIGTERMEndsAWedgedRun: a known_hosts path that is a FIFO
// nobody writes (a mistake in a cron host's setup) blocked omni's read of
// it past every timeout and through any number of SIGTERMs. It is now
// refused at once; TestSignalsEndABlockedRun covers what no check can
// foresee.
func TestCronSecondSIGTERMEndsAWedgedRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds omni and starts sshd hosts: not in -short")
	}
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.57.180", WorkerAddr: "127.0.57.181"})
	fifo := filepath.Join(f.Dir, "kh.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	inv := f.Variant("fifo.yaml", "known_hosts: "+f.KnownHosts, "known_hosts: "+fifo)
	cmd := exec.Command(bin, "-i", inv, "service", "status", "primary-bastion", "network-agent")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	select {
	case <-done:
		return // it did not block: fine
	case <-time.After(15 * time.Second):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		t.Errorf("omni blocked on a FIFO known_hosts for 15 s (connect_timeout 5s) before the SIGTERMs ended it (exit %d)", cmd.ProcessState.ExitCode())
	case <-time.After(10 * time.Second):
		t.Errorf("omni still running 10 s after two SIGTERMs (blocked on a FIFO known_hosts):\n%s", out.String())
	}
}

// TestSignalsEndABlockedRun: omni blocked where no cancellation reaches
// (here reading its inventory from a FIFO nobody writes, as `-i <(cmd)`
// does while cmd hangs): a third signal ends it at once, and a second
// one after forceExitAfter, with exit 130.
func TestSignalsEndABlockedRun(t *testing.T) {
	bin := buildOmni(t)
	fifo := filepath.Join(t.TempDir(), "inventory.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// The writer end, opened and never written: the read blocks.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, signals := range []int{3, 2} {
		cmd := exec.Command(bin, "-i", fifo, "service", "status", "all", "demo")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		time.Sleep(500 * time.Millisecond)
		for range signals {
			cmd.Process.Signal(syscall.SIGTERM)
			time.Sleep(200 * time.Millisecond)
		}
		limit := 2 * time.Second
		if signals == 2 {
			limit = 12 * time.Second // forceExitAfter, 8s
		}
		select {
		case <-done:
			if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(out.String(), "exiting now") {
				t.Errorf("%d signals: exit %d, want 130 saying it exits now:\n%s", signals, code, out.String())
			}
		case <-time.After(limit):
			cmd.Process.Kill()
			<-done
			t.Errorf("%d signals: still running %s after them:\n%s", signals, limit, out.String())
		}
	}
}

// TestCronSIGTERMDuringMinReadyIsNotDone: a rolling restart is SIGTERMed
// (cron's `timeout`) while worker2's --min-ready watch has just begun;
// worker2's new process crashes 1.5 s after it started (a bad release).
// fleet.md: a host is done only once it "stayed healthy for --min-ready";
// "--resume does only what the last run ... left", and a host "whose
// watch was cut short by the run's death is not done". Found: after the
// SIGTERM, worker2 is reported "done" (note: "watched 0s of --min-ready
// 5s, then interrupted"), so --resume skips it, restarts worker3 and
// worker4 with worker2 down, and exits 0: the crashed host is never
// reported, and --max-unavailable 1 is exceeded.
func TestCronSIGTERMDuringMinReadyIsNotDone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds omni and starts a fleet of sshd hosts: not in -short")
	}
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.57.120", WorkerAddr: "127.0.57.121",
		MoreWorkers: []string{"127.0.57.122", "127.0.57.123"}})
	inv := []string{"-i", f.Inventory}
	if out, err := exec.Command(bin, append(inv, "service", "start", "worker", "container-runtime")...).CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	f.SetFlags("worker2", "container-runtime", "--exit-after 1500ms")

	var once sync.Once
	w := startOmni(t, bin, func(w *watched, line string) {
		if strings.Contains(line, "worker2: healthy; watching") {
			once.Do(func() { w.signal(syscall.SIGTERM) })
		}
	}, append(inv, "-o", "json", "service", "restart", "worker", "container-runtime", "--min-ready", "5s")...)
	code, out, errOut := w.wait(t, 2*time.Minute)
	if code != 130 {
		t.Fatalf("SIGTERM: exit %d, want 130\n%s\n%s", code, out, errOut)
	}
	var raw struct {
		Hosts []map[string]any `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	for _, h := range raw.Hosts {
		if h["host"] == "worker2" && h["result"] == "done" {
			t.Errorf("worker2 is reported done though its --min-ready watch was cut short by the SIGTERM: %v", h)
		}
	}

	time.Sleep(3 * time.Second) // worker2's release has crashed by now
	if pid := f.PID("worker2", "container-runtime"); testfleet.Alive(pid) {
		t.Fatalf("the test's premise: worker2's service should have crashed (pid %d alive)", pid)
	}
	f.SetFlags("worker2", "container-runtime", "")
	res, err := exec.Command(bin, append(inv, "service", "restart", "worker", "container-runtime", "--min-ready", "1s", "--resume")...).CombinedOutput()
	rc := 0
	if ee, ok := err.(*exec.ExitError); ok {
		rc = ee.ExitCode()
	}
	if !strings.Contains(string(res), "worker2") {
		t.Errorf("--resume after the SIGTERM leaves out worker2, whose watch never finished and whose service is down (exit %d):\n%s", rc, res)
	}
}

// TestCronSIGTERMSingleHostRestartFinishes: cron.md's first recipe is a
// nightly single-host restart; cron's `timeout` (or a shutdown) sends
// SIGTERM between the stop and the start. The same restart as a fleet of
// one host (a glob matching only worker1) lets the host in flight finish
// its steps (exit 130, service running: "the hosts in flight finish their
// steps (each bounded by its timeout)"). The single-host run cancelled the
// step in flight at the first SIGTERM and left the service stopped
// ("Failed to restart ...: pre-start: interrupted"): it now finishes too.
func TestCronSIGTERMSingleHostRestartFinishes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds omni and starts sshd hosts: not in -short")
	}
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.57.160", WorkerAddr: "127.0.57.161"})
	if out, err := exec.Command(bin, "-i", f.Inventory, "service", "start", "worker1", "container-runtime").CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	slowInv := f.Variant("slow.yaml", "  container-runtime:\n", "  container-runtime:\n    pre_start: [{run: 'sleep 2'}]\n")
	// A fleet of one, then the single host, then the single host in JSON.
	for _, c := range []struct {
		target string
		json   bool
	}{{"worker1*", false}, {"worker1", false}, {"worker1", true}} {
		var once sync.Once
		args := []string{"-i", slowInv, "service", "restart", c.target, "container-runtime", "-v"}
		if c.json {
			args = append(args, "-o", "json")
		}
		w := startOmni(t, bin, func(w *watched, line string) {
			if strings.Contains(line, "ok verify-stopped") {
				once.Do(func() { w.signal(syscall.SIGTERM) })
			}
		}, args...)
		code, out, errOut := w.wait(t, time.Minute)
		if pid := f.PID("worker1", "container-runtime"); !testfleet.Alive(pid) {
			t.Errorf("restart %s: a SIGTERM after the stop left container-runtime stopped on worker1 (exit %d)\nstdout:\n%s\nstderr:\n%s", c.target, code, out, errOut)
			exec.Command(bin, "-i", f.Inventory, "service", "start", "worker1", "container-runtime").Run()
		} else if code != 130 {
			t.Errorf("restart %s: exit %d after SIGTERM, want 130", c.target, code)
		}
		if c.target == "worker1" && !strings.Contains(errOut, "omni: interrupted: what has begun changing the service is finished first") {
			t.Errorf("restart %s: the interrupt was not said at once:\n%s", c.target, errOut)
		}
		if c.json {
			var doc struct {
				Result string `json:"result"`
				Error  string `json:"error"`
				Status struct {
					Running bool `json:"running"`
				} `json:"status"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Result != "interrupted" || !doc.Status.Running ||
				!strings.Contains(doc.Error, "it was finished first") {
				t.Errorf("restart -o json after a SIGTERM: %+v (%v)\n%s", doc, err, out)
			}
		}
	}
}

// TestCronHomeUnsetIsAConfigurationError: cron on some systems (and
// `env -i`, systemd units without User=) runs omni with HOME unset and no
// XDG_STATE_HOME; the inventory does not name a registry file. No host
// is touched, and it is a configuration error, exit 2 (exit-codes.md),
// saying what to do: it was exit 1 ("failed": cron.md's recipe alerted
// "restart failed") without that.
func TestCronHomeUnsetIsAConfigurationError(t *testing.T) {
	if testing.Short() {
		t.Skip("builds omni and starts sshd hosts: not in -short")
	}
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.57.130", WorkerAddr: "127.0.57.131"})
	b, err := os.ReadFile(f.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "registry:") || strings.HasPrefix(l, "  path:") {
			continue
		}
		lines = append(lines, l)
	}
	inv := filepath.Join(f.Dir, "noreg.yaml")
	if err := os.WriteFile(inv, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-i", inv, "service", "restart", "primary-bastion", "network-agent")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 2 {
		t.Errorf("HOME unset, no registry path: exit %d, want 2 (configuration error)\n%s", code, out)
	}
	if !strings.Contains(string(out), "--registry") && !strings.Contains(string(out), "XDG_STATE_HOME") {
		t.Errorf("the error does not say what to do (set XDG_STATE_HOME or HOME, or pass --registry):\n%s", out)
	}

	// The same for a registry whose directory cannot be created (a
	// read-only home, a path under a file): registry/bolt.go openBolt
	// returns a plain error for MkdirAll, not a *FileError, so it is
	// exit 1 where a file in a read-only directory is exit 2.
	notDir := filepath.Join(f.Dir, "afile")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "-i", f.Inventory, "--registry", filepath.Join(notDir, "state", "registry.db"),
		"service", "restart", "primary-bastion", "network-agent").CombinedOutput()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 2 {
		t.Errorf("registry whose directory cannot be created: exit %d, want 2 (not writable: a configuration error)\n%s", code, out)
	}
}

// TestCronResumeAfterSingleHostFailure: the nightly single-host restart
// of cron.md fails (exit 1); the morning's `--resume` said "no earlier run
// of "restart" on "worker1" for container-runtime in the registry" and
// exited 2, though `service history` showed that very run. It now finds
// it, and does the host again.
func TestCronResumeAfterSingleHostFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds omni and starts sshd hosts: not in -short")
	}
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.57.170", WorkerAddr: "127.0.57.171"})
	inv := []string{"-i", f.Inventory}
	if out, err := exec.Command(bin, append(inv, "service", "start", "worker1", "container-runtime")...).CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	f.SetFlags("worker1", "container-runtime", "--unhealthy")
	out, err := exec.Command(bin, append(inv, "service", "restart", "worker1", "container-runtime", "--yes")...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("the test's premise: the restart fails (exit 1): %v\n%s", err, out)
	}
	f.SetFlags("worker1", "container-runtime", "")
	out, err = exec.Command(bin, append(inv, "service", "restart", "worker1", "container-runtime", "--resume", "--yes")...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if strings.Contains(string(out), "no earlier run") || code != 0 || !strings.Contains(string(out), "left worker1 to do") {
		t.Errorf("--resume after a failed single-host restart: exit %d, want 0, the host redone:\n%s", code, out)
	}
}

// TestCronConnectionLostAfterStopRecordsStopped: a restart whose
// connection is lost after the stop was verified (the host's sshd session
// dies in the pre_start hook: an OOM kill, a network drop). omni exits 4
// and says "the service was not started", right; but the registry keeps
// the record it had before ("running at ..."), though this run saw the
// service stopped. README: the registry records "the last state it saw";
// execute.go: "After a failure it still runs the target's record step, so
// the registry says what the service was left as". The next morning,
// `service status` (host still unreachable) shows RECORDED "running" for
// a service omni itself stopped: the record step read the state again
// over the lost connection and failed, instead of recording the state
// the verified stop left known.
func TestCronConnectionLostAfterStopRecordsStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds omni and starts sshd hosts: not in -short")
	}
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.57.140", WorkerAddr: "127.0.57.141"})
	inv := []string{"-i", f.Inventory}
	if out, err := exec.Command(bin, append(inv, "service", "start", "primary-bastion", "api-gateway")...).CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	// The same inventory, with a pre_start hook that kills the sshd
	// process serving omni's connection.
	hook := `    pre_start: [{run: 'p=$$; while [ "$(ps -o comm= -p $p)" != sshd ]; do p=$(ps -o ppid= -p $p | tr -d " "); done; kill -9 $p'}]` + "\n"
	dropInv := f.Variant("drop.yaml", "  api-gateway:\n", "  api-gateway:\n"+hook)
	out, err := exec.Command(bin, "-i", dropInv, "service", "restart", "primary-bastion", "api-gateway").CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 4 || !strings.Contains(string(out), "connection lost") {
		t.Fatalf("the test's premise: a restart whose connection is lost in pre_start exits 4; got %d:\n%s", code, out)
	}
	if pid := f.PID("primary-bastion", "api-gateway"); testfleet.Alive(pid) {
		t.Fatalf("the test's premise: api-gateway was stopped (pid %d alive)", pid)
	}
	js, _ := exec.Command(bin, append(inv, "-o", "json", "service", "status", "primary-bastion", "api-gateway")...).Output()
	var doc struct {
		Services []struct {
			State         string `json:"state"`
			RecordedState string `json:"recorded_state"`
		} `json:"services"`
	}
	if err := json.Unmarshal(js, &doc); err != nil || len(doc.Services) != 1 {
		t.Fatalf("status json: %v\n%s", err, js)
	}
	if s := doc.Services[0]; s.RecordedState == "running" {
		t.Errorf("after the restart stopped api-gateway and lost its connection, the registry still records %q (live: %q)\nrestart said:\n%s", s.RecordedState, s.State, out)
	}
}
