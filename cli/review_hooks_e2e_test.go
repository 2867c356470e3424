package cli

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/omni-fleet/omni/internal/testkit/haproxytest"
	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestReviewRestartKeepsOperatorMaint (found by review): a restart of a
// service whose HAProxy server an operator had put in maintenance
// (`set server be/s state maint`: taken out of the backend on purpose)
// leaves it in maintenance, or at least says so; it silently set it
// ready, putting the server back into rotation (a nightly cron restart
// undoes the operator's maint).
func TestReviewRestartKeepsOperatorMaint(t *testing.T) {
	d := startDrainFleet(t, "127.0.96.10", "127.0.96.11")
	mustRun(t, d.Fleet, "service", "start", "worker1", "web")
	d.hap.Command(t, "set server be_web/worker1 state maint")
	before := d.admin(t)
	if before&1 == 0 {
		t.Fatalf("the test could not put the server in maint: admin state %d", before)
	}
	out, errOut, code := omni(t, d.Fleet, "service", "restart", "worker1", "web", "-v")
	after := d.admin(t)
	if after&1 == 0 && !strings.Contains(strings.ToLower(out+errOut), "maint") {
		t.Errorf("restart (exit %d) took the server out of the operator's maintenance: admin state %d -> %d (0 = ready), and said nothing of it:\n%s%s",
			code, before, after, out, errOut)
	}
}

// TestReviewFailedPostStartIsNotHealthPassed (found by review): a failed
// post_start hook "counts as a failed health check" (docs/inventory.md,
// docs/exit-codes.md), yet the run's Service Status block says "Health
// Check: Passed" and the registry records the health as "passed".
func TestReviewFailedPostStartIsNotHealthPassed(t *testing.T) {
	h := startHookFleet(t, "127.0.96.12", "127.0.96.13")
	mustRun(t, h.Fleet, "service", "start", "worker1", "app")
	h.setHooks("app", "    post_start:\n"+hook("echo init failed >&2; exit 4"))
	out, errOut, code := omni(t, h.Fleet, "service", "restart", "worker1", "app")
	if code != ExitFailed {
		t.Fatalf("restart with a failing post_start: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "Health Check:     Passed") {
		t.Errorf("the run failed its post_start (a failed health check), yet its status block says:\n%s%s", out, errOut)
	}
	if rec := h.record("worker1", "app"); rec.Health == "passed" {
		t.Errorf("registry records health %q after a failed post_start", rec.Health)
	}
}

// TestReviewRestartPreStartVetoKeepsDrained (found by review): a restart
// whose pre_start hook fails leaves the service stopped (its start never
// ran), yet sets its HAProxy server ready and clears the drain mark: the
// load balancer sends traffic to a stopped service, while `service stop`
// keeps a stopped service drained ("the service is down, its server
// stays out of the backend").
func TestReviewRestartPreStartVetoKeepsDrained(t *testing.T) {
	d := startDrainFleet(t, "127.0.96.14", "127.0.96.15")
	mustRun(t, d.Fleet, "service", "start", "worker1", "web")
	replaceInInventory(t, d.Fleet, "    drain: {haproxy:", "    pre_start:\n      - run: echo not today >&2; exit 3\n    drain: {haproxy:")
	out, errOut, code := omni(t, d.Fleet, "service", "restart", "worker1", "web", "-v")
	if code != ExitFailed || !strings.Contains(out, "Stopped") {
		t.Fatalf("restart with a failing pre_start: exit %d, want 1 and the service stopped\n%s%s", code, out, errOut)
	}
	if got := d.admin(t); got != haproxytest.StateDrain {
		t.Errorf("the service is stopped (its pre_start vetoed the start), yet its server's admin state is %d (0 = ready, 8 = drain):\n%s%s", got, out, errOut)
	}
	if m := drainMark(t, d.Fleet); m == nil {
		t.Errorf("no drain mark in the registry for the server of a service this restart left stopped")
	}
}

// TestReviewFailedUndoSaysServerLeftDraining (found by review): when a
// restart fails after it drained the server and its undo (the undrain)
// fails too (here the admin socket went away mid-drain), the server is
// left out of the backend with the service running, yet the run's output
// (without -v) names only the drain's error: nothing says the server is
// still draining, or that the undrain failed.
func TestReviewFailedUndoSaysServerLeftDraining(t *testing.T) {
	d := startDrainFleet(t, "127.0.96.20", "127.0.96.21")
	mustRun(t, d.Fleet, "service", "start", "worker1", "web")
	release := d.hold(t)
	defer release()
	moved := make(chan struct{})
	go func() {
		defer close(moved)
		deadline := time.Now().Add(20 * time.Second)
		for d.admin(t) != haproxytest.StateDrain && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		os.Rename(d.hap.Socket, d.hap.Socket+".moved")
	}()
	out, errOut, code := omni(t, d.Fleet, "service", "restart", "worker1", "web")
	<-moved
	if err := os.Rename(d.hap.Socket+".moved", d.hap.Socket); err != nil {
		t.Fatal(err)
	}
	if got := d.admin(t); code != ExitFailed || got != haproxytest.StateDrain {
		t.Fatalf("restart: exit %d, admin state %d: the test wants a failed run that left the server draining\n%s%s", code, got, out, errOut)
	}
	if all := out + errOut; !strings.Contains(all, "draining") && !strings.Contains(all, "undrain") {
		t.Errorf("the run left primary-bastion: be_web/worker1 draining (its undo failed), and its output does not say so:\n%s%s", out, errOut)
	}
}

// TestReviewFailedRestartOfDrainedStoppedServiceKeepsDrain (found by
// review): `service stop` keeps the server drained (and marked) while the
// service is down; a later restart whose start fails (the service still
// down) "undoes" its drain by setting the server ready and clearing the
// mark: the server the operator's stop had taken out of the backend is
// back in rotation with nothing running behind it, and `service status`
// no longer says it was draining.
func TestReviewFailedRestartOfDrainedStoppedServiceKeepsDrain(t *testing.T) {
	d := startDrainFleet(t, "127.0.96.26", "127.0.96.27")
	mustRun(t, d.Fleet, "service", "start", "worker1", "web")
	mustRun(t, d.Fleet, "service", "stop", "worker1", "web", "--yes")
	if got := d.admin(t); got != haproxytest.StateDrain || drainMark(t, d.Fleet) == nil {
		t.Fatalf("after the stop: admin state %d, mark %v: want drained and marked", got, drainMark(t, d.Fleet))
	}
	d.SetFlags("worker1", "web", "--no-such-flag") // the daemon exits at once: the start fails
	defer d.SetFlags("worker1", "web", "")
	out, errOut, code := omni(t, d.Fleet, "service", "restart", "worker1", "web", "-v")
	if code != ExitFailed || strings.Contains(out, "Running") {
		t.Fatalf("restart with a daemon that cannot start: exit %d, want 1 and the service down\n%s%s", code, out, errOut)
	}
	if got := d.admin(t); got != haproxytest.StateDrain {
		t.Errorf("the service is still down, yet the failed restart set its server ready (admin state %d, was 8 = drain before the run):\n%s%s", got, out, errOut)
	}
	if drainMark(t, d.Fleet) == nil {
		t.Errorf("the failed restart cleared the drain mark the stop had left, the service still down")
	}
}

// TestReviewHookSnippetCutOnCharacter (found by review): the snippet a
// hook is named by (its first line, cut at 60 bytes) in --dry-run, -v and
// a failed hook's error is cut inside a multi-byte character, so omni
// prints invalid UTF-8 (what a failed hook's output quotes is cut on a
// character boundary; its snippet is not).
func TestReviewHookSnippetCutOnCharacter(t *testing.T) {
	h := startHookFleet(t, "127.0.96.28", "127.0.96.29")
	mustRun(t, h.Fleet, "service", "start", "worker1", "app")
	h.setHooks("app", "    pre_stop:\n"+hook("echo "+strings.Repeat("é", 40)+"; exit 3"))
	out, errOut, _ := omni(t, h.Fleet, "service", "restart", "worker1", "app", "--dry-run")
	if !utf8.ValidString(out + errOut) {
		t.Errorf("--dry-run printed invalid UTF-8:\n%q", out+errOut)
	}
	out, errOut, code := omni(t, h.Fleet, "service", "restart", "worker1", "app")
	if code != ExitFailed {
		t.Fatalf("restart with a failing pre_stop: exit %d\n%s%s", code, out, errOut)
	}
	if !utf8.ValidString(out + errOut) {
		t.Errorf("the failed hook's error is invalid UTF-8:\n%q", errOut)
	}
}

// TestReviewInterruptedHookDrainIsUndone (found by review): the lab's
// api-gateway is drained by hooks (lab/labhooks.go: pre_stop `omni lab
// drain`, post_stop `omni lab drain --undo` "when the stop failed"); the
// same hooks here on app. A Ctrl-C while the pre_stop waits for a request
// in flight ends the run (exit 130, "nothing changed"), yet the service is
// left draining: it answers every new request 503 from then on, and
// nothing undoes it or says so (the built-in HAProxy drain is undone after
// an interrupt; a hook drain never is).
func TestReviewInterruptedHookDrainIsUndone(t *testing.T) {
	h := startHookFleet(t, "127.0.96.36", "127.0.96.37")
	mustRun(t, h.Fleet, "service", "start", "worker1", "app")
	bin := buildOmni(t)
	addr := net.JoinHostPort("127.0.96.37", strconv.Itoa(h.Ports["app"]))
	svc := `"$OMNI_ADDRESS:` + strconv.Itoa(h.Ports["app"]) + `"`
	h.setHooks("app", "    pre_stop:\n"+hook(bin+" lab drain "+svc+" --timeout 20s", "timeout: 30s", "on_failure: warn")+
		"    post_stop:\n"+hook(`[ "$OMNI_RESULT" != failed ] || `+bin+" lab drain --undo "+svc, "timeout: 30s", "on_failure: warn"))
	go http.Get("http://" + addr + "/slow?ms=8000") // a request in flight: the drain waits for it
	healthz := func() int {
		resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + addr + "/healthz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cmd := exec.Command(bin, "-i", h.Inventory, "--ssh-config", "none", "service", "restart", "worker1", "app")
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for healthz() != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("app was never drained by its pre_stop\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
		t.Fatalf("exit %d, want 130\n%s", code, errOut.String())
	}
	time.Sleep(500 * time.Millisecond)
	if got := healthz(); got != http.StatusOK {
		t.Errorf("after the interrupted restart (the service untouched), app answers %d: left draining by its pre_stop, with no undo\n%s", got, errOut.String())
	}
}

// TestReviewEnsureStartOfDrainedDependencySetsReady (found by review):
// `service stop` keeps web's HAProxy server drained "until its next
// start"; when omni itself starts web again as a dependency (check-deps'
// ensure of `app requires web`), web runs and is healthy, yet its server
// stays draining (out of the backend) and the run says nothing of it: only
// a later `service status` shows the mark ("its next start or restart
// sets it ready"), though omni has just started it.
func TestReviewEnsureStartOfDrainedDependencySetsReady(t *testing.T) {
	bastion, worker := "127.0.96.38", "127.0.96.39"
	f := testfleet.Start(t, testfleet.Options{BastionAddr: bastion, WorkerAddr: worker, Extra: []testfleet.Service{{
		Name: "web", Role: "worker",
		Keys: `drain: {haproxy: {on: primary-bastion, socket: "@SOCKET@", backend: be_web, server: "{host}", timeout: 10s}}`,
	}, {Name: "app", Role: "worker", Keys: "requires: [web]"}}})
	hap := haproxytest.Start(t, haproxytest.Options{Listen: bastion + ":0", Backend: "be_web", Server: "worker1",
		Target: net.JoinHostPort(worker, strconv.Itoa(f.Ports["web"])), Check: true})
	replaceInInventory(t, f, "@SOCKET@", hap.Socket)
	mustRun(t, f, "service", "start", "worker1", "web")
	mustRun(t, f, "service", "stop", "worker1", "web", "--yes")
	if got := hap.AdminState(t, "be_web", "worker1"); got != haproxytest.StateDrain {
		t.Fatalf("after the stop: admin state %d, want 8 (drain)", got)
	}
	out, errOut, code := omni(t, f, "service", "start", "worker1", "app")
	if code != ExitOK || !strings.Contains(out, "Started web on worker1") {
		t.Fatalf("start of app (web started first): exit %d\n%s%s", code, out, errOut)
	}
	if got := hap.AdminState(t, "be_web", "worker1"); got != haproxytest.StateReady && !strings.Contains(out+errOut, "draining") {
		t.Errorf("omni started web (healthy) as app's dependency, yet left its server draining (admin state %d) without a word:\n%s%s", got, out, errOut)
	}
}

// TestReviewStopOfStoppedServiceNeedsNoLoadBalancer (found by review): a
// `service stop` of a service already stopped has nothing to do (with
// pre_stop hooks it says "already stopped: no hooks run", exit 0), but
// with a drain it first talks to HAProxy: when the admin socket cannot be
// reached the stop of the stopped service fails, exit 1 ("nothing
// drained, nothing stopped"), though nothing needed doing.
func TestReviewStopOfStoppedServiceNeedsNoLoadBalancer(t *testing.T) {
	d := startDrainFleet(t, "127.0.96.43", "127.0.96.44")
	mustRun(t, d.Fleet, "service", "start", "worker1", "web")
	mustRun(t, d.Fleet, "service", "stop", "worker1", "web", "--yes")
	replaceInInventory(t, d.Fleet, d.hap.Socket, d.hap.Socket+".gone") // the load balancer's socket is not there now
	out, errOut, code := omni(t, d.Fleet, "service", "stop", "worker1", "web", "--yes")
	if code != ExitOK {
		t.Errorf("stop of a service already stopped: exit %d, want 0 (nothing to do)\n%s%s", code, out, errOut)
	}
}
