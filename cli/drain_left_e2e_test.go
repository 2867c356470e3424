package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/haproxytest"
)

// TestStartOfRunningServiceSetsLeftDrainReady: docs/inventory.md (drain): "A
// `service stop` that stopped the service keeps it drained ...; its next
// `start` or `restart` sets it ready", and the next run "warns of it and
// clears it once it has set the server ready". When the service came back
// by other means (a reboot, systemd's Restart=, a hand start) the next
// `omni service start` finds it "already running" and ends there: it warns
// "this run sets it ready once the service is healthy", exits 0, and
// leaves the server in drain (no traffic) and the registry's drain mark on.
func TestStartOfRunningServiceSetsLeftDrainReady(t *testing.T) {
	d := startDrainFleet(t, "127.0.233.1", "127.0.233.2")
	mustRun(t, d.Fleet, "service", "start", "worker1", "web")
	out, errOut, code := omni(t, d.Fleet, "service", "stop", "worker1", "web", "--yes")
	if code != 0 || d.admin(t) != haproxytest.StateDrain {
		t.Fatalf("stop: exit %d, admin %d\n%s%s", code, d.admin(t), out, errOut)
	}
	// The service comes back outside omni: the same start command, from
	// an inventory without the drain (same registry).
	b, err := os.ReadFile(d.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	plain := regexp.MustCompile(`(?m)^    drain: \{haproxy: .*\}\n`).ReplaceAllString(string(b), "")
	if plain == string(b) {
		t.Fatal("no drain line to take out of the inventory")
	}
	noDrain := d.Dir + "/nodrain.yaml"
	writeFile(t, noDrain, plain)
	s, o, e := TestStreams("", false)
	if c := Run(t.Context(), []string{"-i", noDrain, "service", "start", "worker1", "web"}, s); c != 0 {
		t.Fatalf("start outside the drain: exit %d\n%s%s", c, o, e)
	}

	out, errOut, code = omni(t, d.Fleet, "service", "start", "worker1", "web")
	t.Logf("omni service start (already running): exit %d\n%s%s", code, out, errOut)
	if got := d.admin(t); got != haproxytest.StateReady {
		t.Errorf("after `omni service start` of the running service: haproxy admin state %d (8 = drain), want 0 (ready); "+
			"the run said: %q", got, strings.TrimSpace(errOut))
	}
	if m := drainMark(t, d.Fleet); m != nil {
		t.Errorf("the registry still marks the drain after the start: %+v", *m)
	}
}

// TestDrainHAProxyRefusedLeavesNoMark: when HAProxy refuses the drain
// command (a backend or server name it does not have: "No such
// backend."), nothing was drained and nothing stopped, but the registry
// keeps a drain mark: `service status` then says the server "has been
// draining since ..." and every later run warns of it. docs/inventory.md:
// a drain that could not be made "fails before anything is stopped and
// leaves nothing to undo and no mark" (said of an unreachable socket; a
// refused command leaves HAProxy just as untouched).
func TestDrainHAProxyRefusedLeavesNoMark(t *testing.T) {
	d := startDrainFleet(t, "127.0.233.29", "127.0.233.30")
	mustRun(t, d.Fleet, "service", "start", "worker1", "web")
	replaceInInventory(t, d.Fleet, "backend: be_web", "backend: be_nope")
	out, errOut, code := omni(t, d.Fleet, "service", "restart", "worker1", "web")
	// The drain step reads the server's state first (show servers state:
	// "Can't find backend."), before it would set it (set server: "No
	// such backend.").
	if code != ExitFailed || !strings.Contains(errOut, "Can't find backend") || !strings.Contains(errOut, "nothing drained") {
		t.Fatalf("restart with a backend HAProxy lacks: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if d.admin(t) != haproxytest.StateReady {
		t.Fatal("the real server was drained")
	}
	out, errOut, _ = omni(t, d.Fleet, "service", "status", "worker1", "web")
	if m := drainMark(t, d.Fleet); m != nil || strings.Contains(errOut, "has been draining") {
		t.Errorf("nothing was drained, yet the registry marks a drain (%+v); service status says:\n%s", m, strings.TrimSpace(errOut))
	}
}

// TestDrainSocketMissingSaysWhich (found by review): a drain whose admin
// socket is not there said only sshd's "open failed"; it names the socket,
// the host and the likely causes now, and drains nothing.
func TestDrainSocketMissingSaysWhich(t *testing.T) {
	d := startDrainFleet(t, "127.0.96.45", "127.0.96.46")
	mustRun(t, d.Fleet, "service", "start", "worker1", "web")
	replaceInInventory(t, d.Fleet, d.hap.Socket, d.hap.Socket+".gone")
	out, errOut, code := omni(t, d.Fleet, "service", "restart", "worker1", "web")
	want := "the HAProxy admin socket " + d.hap.Socket + ".gone could not be opened on primary-bastion (missing, or not permitted for "
	if code != ExitFailed || !strings.Contains(errOut, want) || !strings.Contains(errOut, "nothing drained") {
		t.Errorf("restart with a missing admin socket: exit %d, want 1 and …%s\n%s%s", code, want, out, errOut)
	}
}
