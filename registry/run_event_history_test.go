package registry

import (
	"testing"
	"time"
)

// TestRunEventNotBesideHostEvent: since 2601039 a fleet run's own
// event is in the history of each host "it recorded no event for"
// (docs/registry.md), and in the history of one host its row reads
// `worker2 (in worker, 3 hosts)` with that host's result. Which hosts
// those are is decided by HostResult.Event == "" alone
// (registry/event.go, EventQuery.matches: `if h.Event == "" &&
// q.about(...)`). But Event is empty for hosts that do have an event of
// their own in the run:
//
//   - while the run is in flight, and forever when omni died during it
//     (SIGKILL, power loss, a lost terminal): runFleet (engine/run.go)
//     begins the run event with every host "untouched" and no Event, and
//     fills the IDs in only when it finishes;
//   - in every fleet run recorded before 2601039 (HostResult had no
//     `event`): a registry that is upgraded.
//
// Then `omni history HOST` lists the run's event as well as the host's
// own event of the same run (whose Run names it): a second row for one
// operation on that host, which for an old finished run even reads
// `HOST (in TARGET, N hosts)` with the host's result, and for an
// unfinished run says the host was "untouched" while its own event
// shows it restarted. The run's event should be in a host's history only
// when no event of that run is the host's own.
func TestRunEventNotBesideHostEvent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		finish bool // the run finished (as omni before 2601039 recorded it)
	}{
		{name: "run recorded before 2601039 (no host event IDs)", finish: true},
		{name: "run that never finished (omni killed during it)", finish: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := boltKit(t).open(t)
			t0 := time.Now().UTC().Add(-time.Minute)
			run := Event{Started: t0, Command: "restart", Target: "worker", Service: "api", Hosts: []HostResult{
				{Host: "w1", Result: "untouched"}, {Host: "w2", Result: "untouched"}}}
			id, err := s.BeginEvent(run)
			if err != nil {
				t.Fatal(err)
			}
			run.ID = id
			host := Event{Started: t0.Add(time.Second), Command: "restart", Host: "w1", Service: "api", Run: id}
			if host.ID, err = s.BeginEvent(host); err != nil {
				t.Fatal(err)
			}
			if tc.finish {
				host.Result = "ok"
				if err := s.FinishEvent(host); err != nil {
					t.Fatal(err)
				}
				run.Result = "ok"
				run.Hosts = []HostResult{{Host: "w1", Result: "done"}, {Host: "w2", Result: "done"}}
				if err := s.FinishEvent(run); err != nil {
					t.Fatal(err)
				}
			}
			evs, err := s.Events(EventQuery{Hosts: []string{"w1"}, Service: "api"})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].ID != host.ID {
				var ids []string
				for _, e := range evs {
					ids = append(ids, e.ID+" (host "+e.Host+", target "+e.Target+")")
				}
				t.Errorf("history of w1: %d events %v; want only w1's own event %s: the run's event %s is listed beside it, although w1 has an event of its own in that run",
					len(evs), ids, host.ID, run.ID)
			}
		})
	}
}
