package cli

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine"
)

// TestFleetTableMinReadyByType pins that the fleet table's Health column
// says Failed for a host whose --min-ready watch failed because engine
// says so by type (*engine.MinReadyError), not because its error's words
// start with "min-ready".
func TestFleetTableMinReadyByType(t *testing.T) {
	rep := &engine.FleetReport{Hosts: []*engine.HostReport{
		{Host: "w1", Service: "svc", Batch: 1, Result: engine.HostFailed, Duration: time.Second,
			Err: &engine.MinReadyError{Window: 5 * time.Second, Reason: engine.MinReadyStopped, Status: "failed"}},
		{Host: "w2", Service: "svc", Batch: 1, Result: engine.HostFailed, Duration: time.Second,
			Err: errors.New("min-ready-ish words from elsewhere")},
	}}
	s, out, _ := TestStreams("", false)
	opts := &serviceOptions{Action: "restart", Host: "worker", Service: "svc"}
	if err := renderFleetTable(s, nil, opts, engine.FleetOptions{Rolling: true}, rep, ExitFailed); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`(?m)^1 +w1 +svc +failed +- +- +Failed +1s +min-ready: crash loop: failed within --min-ready 5s of its restart$`,
		`(?m)^1 +w2 +svc +failed +- +- +- +1s +min-ready-ish words from elsewhere$`,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("no line matching %s in\n%s", re, out)
		}
	}
}
