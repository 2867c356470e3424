package engine

// A fleet host's own event spans its plan and its --min-ready watch; a
// watch that loses the host's connection makes it unreachable; a host
// whose event cannot be begun is not touched. (Found by an adversarial
// review of the run lifecycle.)

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// fleetEventsSetup: runInventory's hosts a and b, the built-in start, a
// bbolt registry at path.
func fleetEventsSetup(t *testing.T, path string) (*inventory.Inventory, []Target, Request, registry.Store) {
	t.Helper()
	inv, pb, reg := runSetupAt(t, path)
	req := Request{Action: "start", Host: "app", Service: "db"}
	targets, _, err := Targets(inv, pb, req)
	if err != nil || len(targets) != 2 {
		t.Fatalf("targets %v, err %v", targets, err)
	}
	return inv, targets, req, reg
}

// fleetEventsEnv is a run's environment over fake hosts a and b, their
// db stopped.
func fleetEventsEnv(inv *inventory.Inventory) (hostConnector, RunEnv) {
	conns := hostConnector{"a": {running: map[string]bool{}}, "b": {running: map[string]bool{}}}
	return conns, RunEnv{
		Inventory: inv,
		Connect:   func() (Connector, func(), error) { return conns, func() {}, nil },
		Stdout:    io.Discard, Stderr: io.Discard,
	}
}

func hostEvent(t *testing.T, reg registry.Store, host string) (registry.Event, bool) {
	t.Helper()
	evs, err := reg.Events(registry.EventQuery{Hosts: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Host == host && e.Run != "" {
			return e, true
		}
	}
	return registry.Event{}, false
}

// TestFleetHostEventIncludesMinReady: host a passes its checks, then
// crashes during its --min-ready watch. The run says a failed, and so does
// a's own event (`omni service history a`): it said "ok", written before
// the watch began.
func TestFleetHostEventIncludesMinReady(t *testing.T) {
	inv, targets, req, reg := fleetEventsSetup(t, filepath.Join(t.TempDir(), "registry.db"))
	conns, env := fleetEventsEnv(inv)
	env.OnEvent = func(ev FleetEvent) {
		if ev.Kind == EventReady && ev.Host == "a" { // a crashes once healthy
			c := conns["a"]
			c.mu.Lock()
			c.running["db"] = false
			c.mu.Unlock()
		}
	}
	res, err := Run(context.Background(), reg, RunRequest{Request: req, Targets: targets, Fleet: true,
		Options: FleetOptions{Forks: 1, Rolling: true, Batch: 1, MaxUnavailable: 1, MinReady: 300 * time.Millisecond}}, env)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Report.Hosts[0].Result; got != HostFailed {
		t.Fatalf("a: %s, want failed (stopped within --min-ready)", got)
	}
	ev, ok := hostEvent(t, reg, "a")
	if !ok {
		t.Fatal("no event of host a")
	}
	if ev.Result != string(ClassFailed) || !ev.Complete || !strings.Contains(ev.Error, "min-ready") {
		t.Errorf("a's own event: result %q, complete %v, error %q; want failed, complete, the watch's error (%v)",
			ev.Result, ev.Complete, ev.Error, res.Report.Hosts[0].Err)
	}
}

// TestFleetResumeOwesHostKilledDuringMinReady: a run is killed (SIGKILL)
// while host a's --min-ready watch goes on. a's plan is over (its record
// step wrote its state), but its watch never passed: --resume owes it,
// and b, which was never started.
func TestFleetResumeOwesHostKilledDuringMinReady(t *testing.T) {
	if path := os.Getenv("OMNI_TEST_MINREADY_CHILD_REG"); path != "" {
		inv, targets, req, reg := fleetEventsSetup(t, path)
		_, env := fleetEventsEnv(inv)
		Run(context.Background(), reg, RunRequest{Request: req, Targets: targets, Fleet: true,
			Options: FleetOptions{Forks: 1, Rolling: true, Batch: 1, MaxUnavailable: 1, MinReady: time.Hour}}, env)
		return
	}
	path := filepath.Join(t.TempDir(), "registry.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestFleetResumeOwesHostKilledDuringMinReady$")
	cmd.Env = append(os.Environ(), "OMNI_TEST_MINREADY_CHILD_REG="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// a's plan is over once its record step has written its state.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("the child never recorded a's state")
		}
		time.Sleep(50 * time.Millisecond)
		reg, err := registry.Open(context.Background(), path, nil)
		if err != nil {
			continue
		}
		rec, ok, err := reg.Get("a", "db")
		reg.Close()
		if err == nil && ok && rec.State == "running" {
			break
		}
	}
	time.Sleep(200 * time.Millisecond) // well inside a's --min-ready of 1h
	cmd.Process.Kill()
	cmd.Wait()

	_, targets, req, reg := fleetEventsSetup(t, path)
	keep, note, err := Resume(reg, req, targets)
	if err != nil {
		t.Fatal(err)
	}
	owes := map[string]bool{}
	for _, k := range keep {
		owes[k.Host] = true
	}
	if !owes["a"] || !owes["b"] {
		t.Errorf("--resume after a run killed during a's --min-ready watch: %q, owes %v; want a and b", note, owes)
	}
}

// failHostBegin is a store whose BeginEvent fails for a fleet host's own
// event, as a registry busy for over 5 s or an etcd that does not answer.
type failHostBegin struct{ registry.Store }

func (f failHostBegin) BeginEvent(ev registry.Event) (string, error) {
	if ev.Run != "" {
		return "", errors.New("registry /x/registry.db is busy: another process has kept it open for over 5s")
	}
	return f.Store.BeginEvent(ev)
}

// TestFleetHostEventThatCannotBeBegun: as for one host, a fleet's host
// whose event cannot be begun is not touched (it was started, with no
// event and no word said), and fails with the registry's reason.
func TestFleetHostEventThatCannotBeBegun(t *testing.T) {
	inv, targets, req, reg := fleetEventsSetup(t, filepath.Join(t.TempDir(), "registry.db"))
	conns, env := fleetEventsEnv(inv)
	res, err := Run(context.Background(), failHostBegin{reg}, RunRequest{Request: req, Targets: targets, Fleet: true,
		Options: FleetOptions{Forks: 2, Batch: 2, MaxUnavailable: 2, MaxFailures: 2}}, env)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range []string{"a", "b"} {
		hr := res.Report.Hosts[i]
		if len(conns[h].starts) != 0 || hr.Result != HostFailed || hr.Err == nil || !strings.Contains(hr.Err.Error(), "busy") {
			t.Errorf("%s: starts %v, result %s, error %v; want untouched, failed with the registry's reason", h, conns[h].starts, hr.Result, hr.Err)
		}
	}
}

// TestFleetConnectionLostDuringMinReady: a connection lost while a host
// is watched for --min-ready makes the host unreachable (exit 4), as
// everywhere else, not failed (exit 1).
func TestFleetConnectionLostDuringMinReady(t *testing.T) {
	s := newSim()
	r := s.runner(1, FleetOptions{Forks: 1, Rolling: true, Batch: 1, MaxUnavailable: 1, MinReady: 300 * time.Millisecond})
	plain := r.Status
	r.Status = func(ctx context.Context, in []Instance) []InstanceStatus {
		out := plain(ctx, in)
		s.mu.Lock()
		started := len(s.order) > 0
		s.mu.Unlock()
		if started { // the watch: the host's link went dead
			for i := range out {
				out[i].Err = simError(out[i].Host, errUnreachable)
			}
		}
		return out
	}
	rep := r.Run(context.Background(), context.Background())
	if h := rep.Hosts[0]; h.Result != HostUnreachable || rep.Class() != ClassUnreachable {
		t.Errorf("host %s, run %s, want unreachable: its error is %v", h.Result, rep.Class(), h.Err)
	}
}
