package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
	"github.com/omni-fleet/omni/registry"
)

// runInventory: hosts a and b run db, which needs nothing.
const runInventory = `version: 1
defaults: {manager: command}
hosts:
  a: {address: 10.0.0.1, roles: [app]}
  b: {address: 10.0.0.2, roles: [app]}
roles:
  app: [db]
services:
  db: {commands: {start: 'start-db', status: 'status-db', logs: 'logs-db'}, health: {process: true, retries: 1, interval: 10ms}}
`

// runSetup parses runInventory, opens a real registry and returns the
// start playbook with them.
func runSetup(t *testing.T) (*inventory.Inventory, *playbooks.Playbook, registry.Store) {
	t.Helper()
	inv, err := inventory.Parse("inventory.yaml", []byte(runInventory))
	if err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	pb, err := set.Get("start")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(context.Background(), filepath.Join(t.TempDir(), "registry.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return inv, pb, reg
}

func runEnv(inv *inventory.Inventory, conn *svcConn, connected *int) RunEnv {
	return RunEnv{
		Inventory: inv,
		Connect: func() (Connector, func(), error) {
			*connected++
			return svcConnector{conn}, func() {}, nil
		},
		Stdout: io.Discard, Stderr: io.Discard,
	}
}

// TestRunOneHostRecordsItsEvent: Run takes the lock, records the event
// as begun and then finished with its steps, and lets the lock go.
func TestRunOneHostRecordsItsEvent(t *testing.T) {
	inv, pb, reg := runSetup(t)
	req := Request{Action: "start", Host: "a", Service: "db"}
	plan, err := NewPlan(inv, pb, req)
	if err != nil {
		t.Fatal(err)
	}
	conn, connected := &svcConn{running: map[string]bool{}}, 0
	res, err := Run(context.Background(), reg, RunRequest{Request: req, Targets: []Target{{Host: "a", Plan: plan}}}, runEnv(inv, conn, &connected))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome == nil || res.Outcome.Err != nil || res.Class() != ClassOK || connected != 1 {
		t.Fatalf("outcome %+v, class %s, connected %d", res.Outcome, res.Class(), connected)
	}
	events, err := reg.Events(registry.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("%d events, want 1: %+v", len(events), events)
	}
	ev := events[0]
	if !ev.Complete || ev.Result != "ok" || ev.Host != "a" || ev.Service != "db" || ev.Command != "start a db" || len(ev.Steps) != len(res.Outcome.Steps) {
		t.Errorf("event %+v", ev)
	}
	// The lock is free again.
	unlock, err := reg.Lock(context.Background(), []string{registry.LockKey("a", "db")}, registry.Owner{Operator: "next", PID: os.Getpid()}, 0)
	if err != nil {
		t.Fatalf("the run left its lock: %v", err)
	}
	unlock()
}

// TestRunRefusesWhenLocked: another run holds the service: Run touches
// nothing (no connection, no command, no event) and says who holds it.
func TestRunRefusesWhenLocked(t *testing.T) {
	inv, pb, reg := runSetup(t)
	unlock, err := reg.Lock(context.Background(), []string{registry.LockKey("b", "db")}, registry.Owner{Operator: "alice@ops", PID: os.Getpid(), Command: "restart b db"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	targets, _, err := Targets(inv, pb, Request{Action: "start", Host: "app", Service: "db"})
	if err != nil {
		t.Fatal(err)
	}
	conn, connected := &svcConn{running: map[string]bool{}}, 0
	_, err = Run(context.Background(), reg, RunRequest{Request: Request{Action: "start", Host: "app", Service: "db"}, Targets: targets, Fleet: true,
		Options: FleetOptions{Forks: 2, Batch: 1, MaxUnavailable: 1}}, runEnv(inv, conn, &connected))
	var locked *registry.LockedError
	if !errors.As(err, &locked) || Classify(err) != ClassRefused {
		t.Fatalf("err %v (class %s), want a *registry.LockedError, refused", err, Classify(err))
	}
	events, _ := reg.Events(registry.EventQuery{})
	if connected != 0 || len(conn.starts) != 0 || len(events) != 0 {
		t.Errorf("a refused run touched something: connected %d, starts %v, events %d", connected, conn.starts, len(events))
	}
}

// TestRunFleetRecordsEachHost: a fleet run records one event for the run,
// with each host's result, and one for each host, linked to it.
func TestRunFleetRecordsEachHost(t *testing.T) {
	inv, pb, reg := runSetup(t)
	req := Request{Action: "start", Host: "app", Service: "db"}
	targets, skipped, err := Targets(inv, pb, req)
	if err != nil || len(targets) != 2 || len(skipped) != 0 {
		t.Fatalf("targets %v, skipped %v, err %v", targets, skipped, err)
	}
	// One fork: a starts db; the fake's state is shared, so b finds it
	// running (unchanged).
	conn, connected := &svcConn{running: map[string]bool{}}, 0
	env := runEnv(inv, conn, &connected)
	var kinds []FleetEventKind
	started := false
	env.Started = func() { started = true }
	env.OnEvent = func(ev FleetEvent) {
		if !started {
			t.Errorf("event %s before Started", ev.Kind)
		}
		kinds = append(kinds, ev.Kind)
	}
	res, err := Run(context.Background(), reg, RunRequest{Request: req, Targets: targets, Fleet: true,
		Options: FleetOptions{Forks: 1, Batch: 1, MaxUnavailable: 1}}, env)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintln(res.Report.Hosts[0].Result, res.Report.Hosts[1].Result, res.Class()); got != "done unchanged ok\n" {
		t.Errorf("results %s, want done unchanged ok", got)
	}
	if len(kinds) == 0 {
		t.Error("no progress events")
	}
	events, err := reg.Events(registry.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var run *registry.Event
	hosts := map[string]registry.Event{}
	for i, e := range events {
		if e.Host == "" {
			run = &events[i]
		} else {
			hosts[e.Host] = e
		}
	}
	if run == nil || !run.Complete || run.Result != "ok" || run.Target != "app" || len(run.Hosts) != 2 ||
		run.Hosts[0] != (registry.HostResult{Host: "a", Result: "done"}) || run.Hosts[1] != (registry.HostResult{Host: "b", Result: "unchanged"}) {
		t.Fatalf("run event %+v", run)
	}
	for _, h := range []string{"a", "b"} {
		if e := hosts[h]; e.Run != run.ID || !e.Complete || e.Target != "app" {
			t.Errorf("event of host %s: %+v", h, e)
		}
	}

	// --resume after it: nothing left to do.
	keep, note, err := Resume(reg, req, targets)
	if err != nil || len(keep) != 0 {
		t.Errorf("resume: %v, %q, %v", keep, note, err)
	}
}

// TestClassify: one classification for exit codes, events and hosts.
func TestClassify(t *testing.T) {
	unreachable := &transport.UnreachableError{Host: "a", Err: errors.New("connection refused")}
	for _, c := range []struct {
		err  error
		want Class
		host HostResult
	}{
		{nil, ClassOK, HostFailed},
		{context.Canceled, ClassInterrupted, HostInterrupted},
		{fmt.Errorf("start: %w", unreachable), ClassUnreachable, HostUnreachable},
		{&StepError{Step: StepStart, Err: errors.New("exit 1")}, ClassFailed, HostFailed},
		{&UsageError{"no such service"}, ClassError, HostFailed},
		{&RefusedError{Err: errors.New("not confirmed")}, ClassRefused, HostFailed},
		{&registry.LockedError{}, ClassRefused, HostFailed},
	} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %s, want %s", c.err, got, c.want)
		}
		if c.err != nil {
			if got := hostResult(c.err); got != c.host {
				t.Errorf("hostResult(%v) = %s, want %s", c.err, got, c.host)
			}
		}
	}
}

// TestRunConnectorFailsLeavesNoEvent: when the connector cannot be set up
// (a key that cannot be read, say), the run ends with that error, for one
// host and for a fleet, and leaves no event begun and never finished.
func TestRunConnectorFailsLeavesNoEvent(t *testing.T) {
	inv, pb, reg := runSetup(t)
	env := RunEnv{Inventory: inv, Stdout: io.Discard, Stderr: io.Discard,
		Connect: func() (Connector, func(), error) { return nil, nil, errors.New("reading key: permission denied") }}
	one := Request{Action: "start", Host: "a", Service: "db"}
	plan, err := NewPlan(inv, pb, one)
	if err != nil {
		t.Fatal(err)
	}
	many := Request{Action: "start", Host: "app", Service: "db"}
	targets, _, err := Targets(inv, pb, many)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range []RunRequest{
		{Request: one, Targets: []Target{{Host: "a", Plan: plan}}},
		{Request: many, Targets: targets, Fleet: true, Options: FleetOptions{Forks: 2, Batch: 1, MaxUnavailable: 1}},
	} {
		if _, err := Run(context.Background(), reg, rr, env); err == nil || err.Error() != "reading key: permission denied" {
			t.Fatalf("fleet %v: err %v", rr.Fleet, err)
		}
	}
	events, err := reg.Events(registry.EventQuery{})
	if err != nil || len(events) != 0 {
		t.Fatalf("events %+v (%v), want none", events, err)
	}
}
