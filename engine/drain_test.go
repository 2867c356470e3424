package engine

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/haproxytest"
	"github.com/omni-fleet/omni/registry"
)

// TestDrainNeverReached: a drain whose admin socket cannot be reached
// (here the fake connection dials nothing; for real: the socket's path is
// wrong, or sshd refuses the channel) fails the restart before anything is
// stopped, and leaves no drain mark in the registry: the command never left
// omni, so no server is draining (it used to stay "draining since …",
// shown by status and warned about by every later run).
func TestDrainNeverReached(t *testing.T) {
	inv := strings.Replace(stepsInventory, "  web: {requires: [db],",
		"  web: {requires: [db], drain: {haproxy: {on: a, backend: be_web}},", 1)
	runStepCase(t, stepCase{
		inv:     inv,
		req:     Request{Action: "restart", Service: "web"},
		conn:    &svcConn{running: running("db", "web")},
		want:    []string{"db ensure ok", "web drain failed", "web record ok"},
		wantErr: []string{"a: web: drain: haproxy a:/run/haproxy/admin.sock", "no dialling", "nothing drained, nothing stopped"},
		check: func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
			if !c.running["web"] {
				t.Error("web was stopped")
			}
			rec, ok, err := reg.Get("a", "web")
			if err != nil {
				t.Fatal(err)
			}
			if ok && rec.Drained != nil {
				t.Errorf("registry says %+v is draining; HAProxy was never reached", *rec.Drained)
			}
		},
	})
}

// TestStopKeepsDrainedAfterItsStop: a stop that stopped the service keeps
// its server drained even when the run fails after the stop (a post_stop
// hook with on_failure: abort), against a real HAProxy: the service is
// down, its server must not be put back in the backend (was: set ready,
// as after a failed stop). A stop that failed puts it back.
func TestStopKeepsDrainedAfterItsStop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the server HAProxy fronts
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hap := haproxytest.Start(t, haproxytest.Options{Listen: "127.0.0.1:0", Backend: "be_web", Server: "a", Target: ln.Addr().String()})
	inv := func(hooks string) string {
		return strings.Replace(stepsInventory, "  web: {requires: [db],",
			fmt.Sprintf("  web: {requires: [db], drain: {haproxy: {on: a, socket: %q, backend: be_web}}, %s,", hap.Socket, hooks), 1)
	}
	const ready, drain = 0, 8
	t.Run("post_stop fails: kept drained", func(t *testing.T) {
		hap.Command(t, "set server be_web/a state ready")
		runStepCase(t, stepCase{
			inv:     inv(`post_stop: [{run: hook-fail, on_failure: abort}]`),
			req:     Request{Action: "stop", Service: "web"},
			conn:    &svcConn{running: running("db", "web"), unixDial: true},
			want:    []string{"web drain ok", "web stop ok", "web verify-stopped ok", "web post-stop failed", "web undrain ok", "web record ok"},
			wantErr: []string{"post_stop hook 1"},
			check: func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
				if c.running["web"] {
					t.Error("web still runs")
				}
				if got := hap.AdminState(t, "be_web", "a"); got != drain {
					t.Errorf("admin state %d, want %d (drain): web is stopped", got, drain)
				}
				if rec, _, _ := reg.Get("a", "web"); rec.Drained == nil {
					t.Error("the registry lost the drain mark")
				}
			},
		})
	})
	t.Run("the stop fails: ready again", func(t *testing.T) {
		hap.Command(t, "set server be_web/a state ready")
		runStepCase(t, stepCase{
			inv:     inv(`pre_start: [{run: pre-start-ok}]`),
			req:     Request{Action: "stop", Service: "web"},
			conn:    &svcConn{running: running("db", "web"), unixDial: true, stopOut: map[string]string{"web": "still running"}},
			want:    []string{"web drain ok", "web stop failed", "web undrain ok", "web record ok"},
			wantErr: []string{"stop"},
			check: func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
				if got := hap.AdminState(t, "be_web", "a"); got != ready {
					t.Errorf("admin state %d, want %d (ready): the stop failed", got, ready)
				}
			},
		})
	})
}
