package engine

import (
	"strings"
	"testing"

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
