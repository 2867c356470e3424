package cli

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/haproxytest"
	"github.com/omni-fleet/omni/internal/testkit/testfleet"
	"github.com/omni-fleet/omni/registry"
)

// drainFleet is a test fleet whose service web (on worker1, behind the
// bastion) sits behind a real HAProxy on the bastion's address, its admin
// socket reached by omni through the bastion's SSH connection.
type drainFleet struct {
	*testfleet.Fleet
	hap      *haproxytest.HAProxy
	template string // the inventory with @SOCKET@ and @TIMEOUT@
	webAddr  string // web's own address, not through HAProxy
}

func startDrainFleet(t *testing.T, bastion, worker string) *drainFleet {
	t.Helper()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: bastion, WorkerAddr: worker, Extra: []testfleet.Service{{
		Name: "web", Role: "worker",
		Keys: `drain: {haproxy: {on: primary-bastion, socket: "@SOCKET@", backend: be_web, server: "{host}", timeout: @TIMEOUT@}}`,
	}}})
	d := &drainFleet{Fleet: f, webAddr: net.JoinHostPort(worker, strconv.Itoa(f.Ports["web"]))}
	d.hap = haproxytest.Start(t, haproxytest.Options{Listen: bastion + ":0", Backend: "be_web", Server: "worker1", Target: d.webAddr, Check: true})
	b, err := os.ReadFile(f.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	d.template = string(b)
	d.setTimeout(t, "10s")
	return d
}

// setTimeout writes the inventory with the drain's timeout.
func (d *drainFleet) setTimeout(t *testing.T, timeout string) {
	t.Helper()
	inv := strings.NewReplacer("@SOCKET@", d.hap.Socket, "@TIMEOUT@", timeout).Replace(d.template)
	if err := os.WriteFile(d.Inventory, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (d *drainFleet) admin(t *testing.T) int { return d.hap.AdminState(t, "be_web", "worker1") }

// hold opens a client connection through HAProxy to web and keeps it open
// until the returned func is called; it waits until HAProxy counts it.
func (d *drainFleet) hold(t *testing.T) func() {
	t.Helper()
	c, err := net.Dial("tcp", d.hap.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeIt := func() { once.Do(func() { c.Close() }) }
	t.Cleanup(closeIt)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.hap.Command(t, "show stat"), "be_web,worker1,0,0,1,") {
		if time.Now().After(deadline) {
			t.Fatalf("haproxy never counted the client's session:\n%s", d.hap.Command(t, "show stat"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return closeIt
}

// drainMark is the registry's drain mark of worker1/web (nil: none).
func drainMark(t *testing.T, f *testfleet.Fleet) *registry.Drained {
	for _, r := range registryRecords(t, f) {
		if r.Host == "worker1" && r.Service == "web" {
			return r.Drained
		}
	}
	return nil
}

// sample is what the watcher saw at one instant of a restart.
type sample struct {
	admin      int  // srv_admin_state: 0 ready, 8 drain
	oldAlive   bool // the process from before the restart runs
	newHealthy bool // a new process answers its health path
}

// watch samples the server's state and the service's processes every
// 20ms until stop is closed.
func (d *drainFleet) watch(t *testing.T, oldPID int, stop <-chan struct{}) <-chan []sample {
	out := make(chan []sample, 1)
	client := &http.Client{Timeout: 300 * time.Millisecond}
	go func() {
		var seen []sample
		for {
			s := sample{admin: d.admin(t), oldAlive: testfleet.Alive(oldPID)}
			if pid := d.PID("worker1", "web"); pid != oldPID && testfleet.Alive(pid) {
				if resp, err := client.Get("http://" + d.webAddr + "/healthz"); err == nil {
					resp.Body.Close()
					s.newHealthy = resp.StatusCode == http.StatusOK
				}
			}
			seen = append(seen, s)
			select {
			case <-stop:
				out <- seen
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return out
}

var verboseStep = regexp.MustCompile(`(?m)^  (ok|FAILED|skipped|failed|✗|✓)?\s*(\S+)\s+\d+\.\d+s`)

// stepOrder is the steps -v printed, in order.
func stepOrder(errOut string) []string {
	var steps []string
	for _, m := range verboseStep.FindAllStringSubmatch(errOut, -1) {
		steps = append(steps, m[2])
	}
	return steps
}

// TestHAProxyDrainRestart: with a real HAProxy in front of web, a restart
// drains its server (over the admin socket, through the bastion's SSH
// connection), stops only once it is drained, and sets it ready only once
// the new process is healthy: drain → (sessions 0) → stop → start →
// healthy → ready, as `show servers state` says. A client connection
// through HAProxy delays the stop until it ends; one that outlives the
// drain's timeout fails the restart with the service left running and the
// server ready. After a failed restart and after an interrupt the server
// is ready again. A drain left on (omni killed) is shown by `service
// status` and warned about by the next run, which clears it.
func TestHAProxyDrainRestart(t *testing.T) {
	d := startDrainFleet(t, "127.0.1.181", "127.0.1.182")
	mustRun(t, d.Fleet, "service", "start", "worker1", "web")
	if got := d.admin(t); got != haproxytest.StateReady {
		t.Fatalf("after the start: admin state %d, want ready", got)
	}

	t.Run("restart", func(t *testing.T) {
		old := d.PID("worker1", "web")
		stop := make(chan struct{})
		samples := d.watch(t, old, stop)
		out, errOut, code := omni(t, d.Fleet, "service", "restart", "worker1", "web", "-v")
		close(stop)
		seen := <-samples
		if code != 0 {
			t.Fatalf("restart: exit %d\n%s\n%s", code, out, errOut)
		}
		want := []string{"check-deps", "drain", "stop", "verify-stopped", "start", "health", "undrain", "record"}
		if got := stepOrder(errOut); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("steps %v, want %v\n%s", got, want, errOut)
		}
		if !strings.Contains(errOut, "primary-bastion: be_web/worker1 draining: 0 sessions") {
			t.Errorf("-v does not say the server drained:\n%s", errOut)
		}
		drainedAlive, stoppedDrained := false, false
		for i, s := range seen {
			if s.admin == haproxytest.StateDrain && s.oldAlive {
				drainedAlive = true
			}
			if !s.oldAlive && !stoppedDrained {
				stoppedDrained = true
				if s.admin != haproxytest.StateDrain {
					t.Errorf("sample %d: the old process is gone but the server is not draining: %+v", i, s)
				}
			}
			if !s.oldAlive && s.admin == haproxytest.StateReady && !s.newHealthy {
				t.Errorf("sample %d: the server is ready before the new process is healthy: %+v", i, s)
			}
		}
		if !drainedAlive || !stoppedDrained {
			t.Errorf("never saw the server drained while the old process ran, then the process stop: %+v", seen)
		}
		if got := d.admin(t); got != haproxytest.StateReady {
			t.Errorf("after the restart: admin state %d, want ready", got)
		}
		if m := drainMark(t, d.Fleet); m != nil {
			t.Errorf("registry still marks the drain: %+v", m)
		}
	})

	t.Run("a client connection delays the stop", func(t *testing.T) {
		old := d.PID("worker1", "web")
		release := d.hold(t)
		aliveAtRelease := make(chan bool, 1)
		time.AfterFunc(1500*time.Millisecond, func() {
			aliveAtRelease <- testfleet.Alive(old) && d.admin(t) == haproxytest.StateDrain
			release()
		})
		began := time.Now()
		out, errOut, code := omni(t, d.Fleet, "service", "restart", "worker1", "web", "-v")
		if code != 0 {
			t.Fatalf("restart: exit %d\n%s\n%s", code, out, errOut)
		}
		if !<-aliveAtRelease {
			t.Error("the old process was not running, drained, while the client's connection was open")
		}
		if took := time.Since(began); took < 1500*time.Millisecond {
			t.Errorf("restart took %s: it did not wait for the connection", took)
		}
		if d.PID("worker1", "web") == old || testfleet.Alive(old) {
			t.Error("not restarted")
		}
		if got := d.admin(t); got != haproxytest.StateReady {
			t.Errorf("admin state %d, want ready", got)
		}
	})

	t.Run("a connection past the drain timeout fails the step", func(t *testing.T) {
		d.setTimeout(t, "1s")
		defer d.setTimeout(t, "10s")
		old := d.PID("worker1", "web")
		release := d.hold(t)
		defer release()
		out, errOut, code := omni(t, d.Fleet, "service", "restart", "worker1", "web", "-v")
		if code != ExitFailed {
			t.Fatalf("restart: exit %d, want 1\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(errOut, "drain: primary-bastion: be_web/worker1 still has 1 session after") {
			t.Errorf("the failure does not name the drain:\n%s", errOut)
		}
		if got := stepOrder(errOut); strings.Contains(strings.Join(got, " "), "stop") || !strings.Contains(errOut, "undrain") {
			t.Errorf("steps %v: want no stop, and the undrain\n%s", got, errOut)
		}
		if pid := d.PID("worker1", "web"); pid != old || !testfleet.Alive(old) {
			t.Errorf("the service was touched: pid %d -> %d", old, pid)
		}
		if got := d.admin(t); got != haproxytest.StateReady {
			t.Errorf("admin state %d, want ready", got)
		}
		if m := drainMark(t, d.Fleet); m != nil {
			t.Errorf("registry still marks the drain: %+v", m)
		}
	})

	// A restart whose service ends unhealthy keeps its server drained and
	// marked, as `service stop` does, and says so without -v (found by
	// review: it set it ready, sending traffic to a failing service).
	t.Run("a failed restart keeps it drained, and says so", func(t *testing.T) {
		d.SetFlags("worker1", "web", "--unhealthy")
		defer d.SetFlags("worker1", "web", "")
		out, errOut, code := omni(t, d.Fleet, "service", "restart", "worker1", "web")
		if code != ExitFailed || !strings.Contains(errOut, "health") {
			t.Fatalf("restart of an unhealthy service: exit %d\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(errOut, "warning: worker1: web: undrain: primary-bastion: be_web/worker1 kept draining: it failed its health check") {
			t.Errorf("the run does not say the server is kept draining:\n%s", errOut)
		}
		if got := d.admin(t); got != haproxytest.StateDrain {
			t.Errorf("admin state %d, want drain", got)
		}
		if m := drainMark(t, d.Fleet); m == nil {
			t.Error("registry does not mark the drain")
		}
	})
	d.SetFlags("worker1", "web", "")
	mustRun(t, d.Fleet, "service", "restart", "worker1", "web")

	t.Run("an interrupt sets it ready", func(t *testing.T) {
		// A real SIGINT (Ctrl-C) to a real omni process while the drain
		// waits for the held session.
		old := d.PID("worker1", "web")
		release := d.hold(t)
		defer release()
		cmd := exec.Command(buildOmni(t), "-i", d.Inventory, "--ssh-config", "none", "service", "restart", "worker1", "web", "-v")
		var errOut strings.Builder
		cmd.Stderr = &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for d.admin(t) != haproxytest.StateDrain {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("the restart never drained the server")
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
			t.Fatalf("exit %d, want 130\n%s", code, errOut.String())
		}
		if got := d.admin(t); got != haproxytest.StateReady {
			t.Errorf("admin state %d after the interrupt, want ready\n%s", got, errOut.String())
		}
		if pid := d.PID("worker1", "web"); pid != old || !testfleet.Alive(old) {
			t.Errorf("the service was touched: pid %d -> %d", old, pid)
		}
		if m := drainMark(t, d.Fleet); m != nil {
			t.Errorf("registry still marks the drain: %+v", m)
		}
	})

	t.Run("a drain left on is shown and undone by the next run", func(t *testing.T) {
		// A real omni process SIGKILLed while it drains (a client holds a
		// session, so the drain waits): the server stays drained, and the
		// registry's mark, written before the drain, names the run.
		release := d.hold(t)
		defer release()
		cmd := exec.Command(buildOmni(t), "-i", d.Inventory, "--ssh-config", "none", "service", "restart", "worker1", "web")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for d.admin(t) != haproxytest.StateDrain {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("the restart never drained the server")
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		release()
		if got := d.admin(t); got != haproxytest.StateDrain {
			t.Fatalf("after SIGKILL: admin state %d, want drain (left on)", got)
		}
		m := drainMark(t, d.Fleet)
		if m == nil || m.Run == "" {
			t.Fatalf("the registry does not mark the drain left on: %+v", m)
		}
		out, errOut, _ := omni(t, d.Fleet, "service", "status", "worker1", "web")
		if !strings.Contains(errOut, "worker1/web: haproxy server primary-bastion: be_web/worker1 has been draining since") || !strings.Contains(errOut, "by run "+m.Run) {
			t.Errorf("status does not show the drain left on:\n%s\n%s", out, errOut)
		}
		out, _, _ = omni(t, d.Fleet, "service", "status", "worker1", "web", "-o", "json")
		var doc struct {
			Services []struct{ Drained string } `json:"services"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Services) != 1 || !strings.Contains(doc.Services[0].Drained, m.Run) {
			t.Errorf("status JSON does not show the drain: %v\n%s", err, out)
		}
		out, errOut, code := omni(t, d.Fleet, "service", "restart", "worker1", "web")
		if code != 0 || !strings.Contains(errOut, "has been draining since") || !strings.Contains(errOut, "this run sets it ready once the service is healthy") {
			t.Errorf("restart: exit %d, no warning of the drain left on\n%s\n%s", code, out, errOut)
		}
		if got := d.admin(t); got != haproxytest.StateReady {
			t.Errorf("admin state %d, want ready", got)
		}
		if m := drainMark(t, d.Fleet); m != nil {
			t.Errorf("registry still marks the drain: %+v", m)
		}
	})

	t.Run("a stop keeps it drained until the next start", func(t *testing.T) {
		out, errOut, code := omni(t, d.Fleet, "service", "stop", "worker1", "web", "-v", "--yes")
		if code != 0 || !strings.Contains(errOut, "kept draining: the service is stopped") {
			t.Fatalf("stop: exit %d\n%s\n%s", code, out, errOut)
		}
		if got := d.admin(t); got != haproxytest.StateDrain {
			t.Errorf("after the stop: admin state %d, want drain", got)
		}
		if m := drainMark(t, d.Fleet); m == nil || m.Run == "" {
			t.Errorf("registry does not mark the drain, with its run: %+v", m)
		}
		mustRun(t, d.Fleet, "service", "start", "worker1", "web")
		if got := d.admin(t); got != haproxytest.StateReady {
			t.Errorf("after the start: admin state %d, want ready", got)
		}
		if m := drainMark(t, d.Fleet); m != nil {
			t.Errorf("registry still marks the drain: %+v", m)
		}
	})
}
