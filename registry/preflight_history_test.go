package registry

import (
	"testing"
	"time"
)

// TestPreflightFailedHostKeepsRunInHistory: a fleet run (restart
// of api on worker) is refused by its dependency preflight because of w1
// (engine/fleet_preflight.go: a required service down that the run would
// not fix). w1's result is "failed" with the preflight's reason, the run
// is aborted before its first batch, and no host event is begun for any
// host: the run's own event, whose HostResult for w1 says why, is the
// only record of it.
//
// What omni does: `omni history w1` does not list the run. Since 643714b
// a fleet run is in a host's history only when the host ended
// "untouched" or "unreachable" without an event of its own
// (EventQuery.matches, registry/event.go: `h.Result == "untouched" ||
// h.Result == "unreachable"`); a host that failed without an event
// (preflight, or the registry refusing its event) is left out, while the
// untouched w2 of the same run shows it. Before 643714b it was listed.
//
// What it should do: list a finished run in the history of every host it
// recorded no event for, failed ones included (the exclusion of failed
// hosts was meant for runs recorded before HostResult.Event existed, which
// can be told apart: none of their hosts names an event).
func TestPreflightFailedHostKeepsRunInHistory(t *testing.T) {
	s := boltKit(t).open(t)
	t0 := time.Now().UTC().Add(-time.Minute)
	run := Event{Started: t0, Command: "restart", Target: "worker", Service: "api", Hosts: []HostResult{
		{Host: "w1", Result: "untouched"}, {Host: "w2", Result: "untouched"}}}
	id, err := s.BeginEvent(run)
	if err != nil {
		t.Fatal(err)
	}
	run.ID = id
	run.Result = "failed"
	run.Error = "a service required on w1 is not running and healthy, and this run would not bring it back (see the preflight); fix it first: no host was touched"
	run.Hosts = []HostResult{
		{Host: "w1", Result: "failed", Error: "preflight: w1: db (required) is not running: a restart does not fix it"},
		{Host: "w2", Result: "untouched"}}
	run.HostEvents = true // as engine.Run records a fleet run: no host here has an event of its own
	if err := s.FinishEvent(run); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"w2", "w1"} {
		evs, err := s.Events(EventQuery{Hosts: []string{host}, Service: "api"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].ID != run.ID {
			t.Errorf("history of %s: %d events; want the run %s, the only record of the preflight that failed on w1 (hosts %+v)",
				host, len(evs), run.ID, run.Hosts)
		}
	}
}
