package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/engine/manager"
)

// TestReadyFailureIsTyped pins that a failed --min-ready watch is a
// *MinReadyError carrying its reason and figures (cli goes by its type,
// not by its text), with the words it has always had.
func TestReadyFailureIsTyped(t *testing.T) {
	base := manager.State{Running: true, Status: "running", PID: 4211, NRestarts: 1}
	unreachable := errors.New("dial tcp 10.0.0.1:22: connection refused")
	failing := &health.Report{Checks: []health.Result{{Check: "http", Error: "GET http://127.0.0.1:8080/: status 503, want 200"}}}
	for _, tc := range []struct {
		st     InstanceStatus
		reason MinReadyReason
		text   string
	}{
		{InstanceStatus{Err: unreachable}, MinReadyUnreadable,
			"min-ready: could not read its state: dial tcp 10.0.0.1:22: connection refused"},
		{InstanceStatus{State: manager.State{Status: "failed"}}, MinReadyStopped,
			"min-ready: crash loop: failed within --min-ready 5s of its restart"},
		{InstanceStatus{State: manager.State{Running: true, PID: 4300, NRestarts: 1}}, MinReadyPIDChanged,
			"min-ready: crash loop: its PID changed from 4211 to 4300 within --min-ready 5s"},
		{InstanceStatus{State: manager.State{Running: true, PID: 4211, NRestarts: 3}}, MinReadyRestarted,
			"min-ready: crash loop: its manager restarted it 2 times within --min-ready 5s"},
		{InstanceStatus{State: manager.State{Running: true, PID: 4211, NRestarts: 1}, Health: failing}, MinReadyUnhealthy,
			"min-ready: health check failed within --min-ready 5s: http: GET http://127.0.0.1:8080/: status 503, want 200"},
	} {
		err := readyFailure(base, tc.st, 5*time.Second)
		var notReady *MinReadyError
		if !errors.As(err, &notReady) {
			t.Errorf("%s: %T %v, want a *MinReadyError", tc.reason, err, err)
			continue
		}
		if notReady.Reason != tc.reason || err.Error() != tc.text {
			t.Errorf("got %s %q\nwant %s %q", notReady.Reason, err, tc.reason, tc.text)
		}
	}
	if err := readyFailure(base, InstanceStatus{Err: unreachable}, time.Second); !errors.Is(err, unreachable) {
		t.Errorf("%v does not unwrap to why the state could not be read", err)
	}
	if err := readyFailure(base, InstanceStatus{State: base, Health: &health.Report{}}, time.Second); err != nil {
		t.Errorf("a host that stayed ready: %v", err)
	}
}
