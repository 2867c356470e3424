package engine

import (
	"errors"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
)

// TestTallyClass: the one rule of a run over several targets, every class.
func TestTallyClass(t *testing.T) {
	F, U, R, E, I := ClassFailed, ClassUnreachable, ClassRefused, ClassError, ClassInterrupted
	for _, c := range []struct {
		name     string
		tally    Tally
		want     Class
		failures Class // FailuresClass: what a check (service status) says
	}{
		{"nothing to do", Tally{}, ClassOK, ClassOK},
		{"all done", Tally{OK: 3}, ClassOK, ClassOK},
		{"some done, one failed", Tally{OK: 2, Failed: []Class{F}}, ClassPartial, F},
		{"some done, one unreachable", Tally{OK: 2, Failed: []Class{U}}, ClassPartial, U},
		{"some done, the rest untouched", Tally{OK: 1, Untouched: 2}, ClassPartial, ClassOK},
		{"none done, all failed", Tally{Failed: []Class{F, F}}, F, F},
		{"none done, all unreachable", Tally{Failed: []Class{U, U, U}}, U, U},
		{"none done, one unreachable, the rest untouched", Tally{Failed: []Class{U}, Untouched: 2}, U, U},
		{"none done, unreachable and failed", Tally{Failed: []Class{U, F}}, F, F},
		{"none done, all refused (locked)", Tally{Failed: []Class{R, R}}, R, R},
		{"none done, all usage errors", Tally{Failed: []Class{E}}, E, E},
		{"none done, refused and unreachable", Tally{Failed: []Class{R, U}}, F, F},
		{"none done, nothing failed: nothing touched", Tally{Untouched: 3}, R, ClassOK},
		{"none done, all interrupted mid-way", Tally{Failed: []Class{I, I}}, I, I},
		{"interrupted, some done", Tally{OK: 2, Failed: []Class{F}, Interrupted: true}, I, F},
		{"interrupted, all done", Tally{OK: 2, Interrupted: true}, I, ClassOK},
	} {
		if got := c.tally.Class(); got != c.want {
			t.Errorf("%s: Class() = %s, want %s", c.name, got, c.want)
		}
		if got := c.tally.FailuresClass(); got != c.failures {
			t.Errorf("%s: FailuresClass() = %s, want %s", c.name, got, c.failures)
		}
	}
}

// TestTallyAdd: a part is counted by its error's class (Classify).
func TestTallyAdd(t *testing.T) {
	var tl Tally
	tl.Add(nil)
	tl.Add(&transport.UnreachableError{Host: "a", Err: errors.New("connection refused")})
	tl.Add(&StepError{Step: StepStart, Err: errors.New("exit 1")})
	if tl.OK != 1 || len(tl.Failed) != 2 || tl.Failed[0] != ClassUnreachable || tl.Failed[1] != ClassFailed || tl.Class() != ClassPartial {
		t.Fatalf("tally %+v, class %s", tl, tl.Class())
	}
}

// TestFleetReportClass: a fleet run's result is the Tally of its hosts,
// as docs/fleet.md's exit codes say.
func TestFleetReportClass(t *testing.T) {
	rep := func(interrupted bool, results ...HostResult) *FleetReport {
		r := &FleetReport{Interrupted: interrupted}
		for _, res := range results {
			r.Hosts = append(r.Hosts, &HostReport{Result: res})
		}
		return r
	}
	for _, c := range []struct {
		rep  *FleetReport
		want Class
	}{
		{rep(false, HostDone, HostUnchanged), ClassOK},
		{rep(false, HostDone, HostFailed), ClassPartial},
		{rep(false, HostDone, HostUntouched), ClassPartial},
		{rep(false, HostUnreachable, HostUnreachable), ClassUnreachable},
		{rep(false, HostUnreachable, HostUntouched), ClassUnreachable},
		{rep(false, HostUnreachable, HostFailed), ClassFailed},
		{rep(false, HostFailed, HostUntouched), ClassFailed},
		{rep(false, HostUntouched, HostUntouched), ClassRefused},
		{rep(true, HostDone, HostUntouched), ClassInterrupted},
	} {
		if got := c.rep.Class(); got != c.want {
			var results []HostResult
			for _, h := range c.rep.Hosts {
				results = append(results, h.Result)
			}
			t.Errorf("hosts %v (interrupted %v): %s, want %s", results, c.rep.Interrupted, got, c.want)
		}
	}
}
