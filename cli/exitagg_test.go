package cli

import (
	"errors"
	"testing"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/lab"
)

// TestLabUpCode: `omni lab up`'s exit code follows the rule of every run
// over several targets (engine.Tally), as a fleet run's does: none started
// because every host could not be reached is 4 (it was 1 before the rule
// was shared), some started is 3, none started for other reasons is 1.
func TestLabUpCode(t *testing.T) {
	unreachable := func(h string) error {
		return &transport.UnreachableError{Host: h, Err: errors.New("connection refused")}
	}
	failed := errors.New("health: port 19002: connection refused")
	for _, c := range []struct {
		name        string
		errs        []error
		interrupted bool
		want        int
	}{
		{"all started", []error{nil, nil}, false, ExitOK},
		{"no services", nil, false, ExitOK},
		{"some did not start", []error{nil, failed}, false, ExitPartial},
		{"none started, failed", []error{failed, failed}, false, ExitFailed},
		{"none started, every host unreachable", []error{unreachable("app1"), unreachable("app2")}, false, ExitUnreachable},
		{"none started, unreachable and failed", []error{unreachable("app1"), failed}, false, ExitFailed},
		{"interrupted", []error{nil, failed}, true, ExitInterrupted},
	} {
		res := &lab.UpResult{}
		for _, err := range c.errs {
			res.Services = append(res.Services, lab.ServiceResult{Host: "app1", Service: "svc", Err: err})
		}
		if got := classCode(labUpClass(c.interrupted, res)); got != c.want {
			t.Errorf("%s: exit %d, want %d", c.name, got, c.want)
		}
	}
}

// TestStatusExitCode: `service status` is a check (docs/exit-codes.md):
// no partial; 4 only when every service that is not running and healthy
// is on a host that could not be reached.
func TestStatusExitCode(t *testing.T) {
	up := engine.InstanceStatus{State: manager.State{Running: true}}
	down := engine.InstanceStatus{State: manager.State{Running: false, Status: "failed"}}
	gone := engine.InstanceStatus{Err: &transport.UnreachableError{Host: "a", Err: errors.New("i/o timeout")}}
	broken := engine.InstanceStatus{Err: errors.New("status: exit 127")}
	for _, c := range []struct {
		name string
		rows []engine.InstanceStatus
		want int
	}{
		{"all up", []engine.InstanceStatus{up, up}, ExitOK},
		{"none listed", nil, ExitOK},
		{"one down", []engine.InstanceStatus{up, down}, ExitFailed},
		{"one unreachable, the rest up", []engine.InstanceStatus{up, gone}, ExitUnreachable},
		{"all unreachable", []engine.InstanceStatus{gone, gone}, ExitUnreachable},
		{"unreachable and down", []engine.InstanceStatus{gone, down}, ExitFailed},
		{"not read on a host that answered", []engine.InstanceStatus{up, broken}, ExitFailed},
	} {
		if got := statusExitCode(c.rows); got != c.want {
			t.Errorf("%s: exit %d, want %d", c.name, got, c.want)
		}
	}
}
