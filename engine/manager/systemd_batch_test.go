package manager

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

// errRunner fails every command as a lost connection would.
type errRunner struct{ cmds []string }

func (e *errRunner) Run(ctx context.Context, cmd string) (Result, error) {
	e.cmds = append(e.cmds, cmd)
	return Result{}, errors.New("connection lost")
}

func batchManagers(t *testing.T, host *inventory.Host, units ...string) []Manager {
	t.Helper()
	ms := make([]Manager, len(units))
	for i, u := range units {
		ms[i] = newManager(t, host, &inventory.Service{Name: "s" + u, Manager: Systemd, Unit: u})
	}
	return ms
}

// TestStatusAllOneShow: three units of one host, one of them asked for by
// an alias and one not installed, are read in one `systemctl show`; each
// gets the state (or the error) its own Status would give.
func TestStatusAllOneShow(t *testing.T) {
	host := &inventory.Host{Name: "worker1", ServiceAddress: "127.0.0.1"}
	ms := batchManagers(t, host, "omni-a.service", "omni-alias.service", "omni-missing.service")
	r := &fakeRunner{results: []Result{{Stdout: readTestdata(t, "systemd/multi.txt")}}}
	got := StatusAll(context.Background(), r, ms)
	want := hostClockLine + "systemctl show -p Id,Names,LoadState,ActiveState,SubState,MainPID,ActiveEnterTimestamp,InactiveEnterTimestamp,NRestarts,Type,Result,ActiveEnterTimestampMonotonic,InactiveEnterTimestampMonotonic,ExecStop --no-pager -- 'omni-a.service' 'omni-alias.service' 'omni-missing.service'"
	if len(r.cmds) != 1 || r.cmds[0] != want {
		t.Fatalf("commands %q, want one: %q", r.cmds, want)
	}
	since := time.Date(2025, 3, 18, 15, 45, 27, 0, time.UTC)
	if a := got[0]; a.Err != nil || !a.State.Running || a.State.PID != 4211 || !a.State.Since.Equal(since) {
		t.Errorf("omni-a: %+v", a)
	}
	if b := got[1]; b.Err != nil || b.State.Running || b.State.Status != "failed" || b.State.NRestarts != 2 ||
		!b.State.LastActive.Equal(time.Date(2025, 3, 18, 15, 41, 2, 0, time.UTC)) {
		t.Errorf("omni-alias: %+v", b)
	}
	if c := got[2]; c.Err == nil || !strings.Contains(c.Err.Error(), "systemctl show omni-missing.service") || !strings.Contains(c.Err.Error(), "not-found") {
		t.Errorf("omni-missing: want the not-found error naming the unit, got %+v", c)
	}
}

// TestStatusAllFallsBack: when the joint read's blocks do not match the
// units, or systemctl fails, each unit is read on its own.
func TestStatusAllFallsBack(t *testing.T) {
	host := &inventory.Host{Name: "worker1", ServiceAddress: "127.0.0.1"}
	active := Result{Stdout: readTestdata(t, "systemd/active.txt")}
	multi := readTestdata(t, "systemd/multi.txt")
	for name, first := range map[string]Result{
		"fewer blocks":   {Stdout: multi[:strings.Index(string(multi), "\n\nId=omni-missing")]},
		"another unit":   {Stdout: []byte(strings.Replace(string(multi), "omni-alias.service", "omni-other.service", 1))},
		"systemctl fail": {ExitCode: 1, Stderr: []byte("Invalid unit name")},
	} {
		t.Run(name, func(t *testing.T) {
			ms := batchManagers(t, host, "omni-a.service", "omni-alias.service", "omni-missing.service")
			r := &fakeRunner{results: []Result{first, active}}
			got := StatusAll(context.Background(), r, ms)
			if len(r.cmds) != 4 || r.cmds[1] != hostClockLine+"systemctl show -p "+showProperties+" --no-pager -- 'omni-a.service'" {
				t.Fatalf("commands %q, want the joint read then one per unit", r.cmds)
			}
			for i, g := range got {
				if g.Err != nil || !g.State.Running {
					t.Errorf("unit %d: %+v", i, g)
				}
			}
		})
	}
}

// TestStatusAllGroups: units under sudo and without are read in one
// command each; a lone unit and a command-managed service with their own
// Status; a connection that fails fails every unit of the joint read
// without reading them again.
func TestStatusAllGroups(t *testing.T) {
	host := &inventory.Host{Name: "worker1", ServiceAddress: "127.0.0.1"}
	ms := batchManagers(t, host, "a.service", "b.service")
	ms = append(ms, newManager(t, host, &inventory.Service{Name: "c", Manager: Systemd, Unit: "c.service", Sudo: true}))
	ms = append(ms, newManager(t, host, &inventory.Service{Name: "d", Manager: Systemd, Unit: "d.service", Sudo: true}))
	ms = append(ms, newManager(t, host, &inventory.Service{Name: "e", Manager: Systemd, Unit: "e.service", Sudo: true}))
	r := &errRunner{}
	got := StatusAll(context.Background(), r, ms)
	if len(r.cmds) != 2 || !strings.Contains(r.cmds[0], "'a.service' 'b.service'") ||
		!strings.HasPrefix(r.cmds[1], "sudo -n sh -c ") || !strings.Contains(r.cmds[1], "c.service") || !strings.Contains(r.cmds[1], "e.service") {
		t.Fatalf("commands %q, want one without sudo (a, b), one with (c, d, e)", r.cmds)
	}
	for i, g := range got {
		if g.Err == nil || !strings.Contains(g.Err.Error(), "connection lost") || !strings.Contains(g.Err.Error(), "systemctl show") {
			t.Errorf("unit %d: want the connection's error, got %+v", i, g)
		}
	}
	// (found by review) One failed command is one error for its units,
	// naming none of them: said once for the host, not once per unit.
	if got[0].Err.Error() != got[1].Err.Error() || got[2].Err.Error() != got[4].Err.Error() || strings.Contains(got[2].Err.Error(), "c.service") {
		t.Errorf("a batch that could not run: want one error for its units, naming none, got %q, %q, %q, %q", got[0].Err, got[1].Err, got[2].Err, got[4].Err)
	}

	lone := append(batchManagers(t, host, "a.service"), newManager(t, host, &inventory.Service{
		Name: "cmd", Manager: Command, Commands: inventory.Commands{Start: "true", Status: "true"}}))
	r2 := &fakeRunner{results: []Result{{Stdout: readTestdata(t, "systemd/active.txt")}}}
	got = StatusAll(context.Background(), r2, lone)
	if len(r2.cmds) != 2 || r2.cmds[0] != hostClockLine+"systemctl show -p "+showProperties+" --no-pager -- 'a.service'" {
		t.Fatalf("commands %q, want each read on its own", r2.cmds)
	}
	if got[0].Err != nil || !got[0].State.Running {
		t.Errorf("a lone unit: %+v", got[0])
	}
}
