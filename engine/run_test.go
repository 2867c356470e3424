package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/historytest"
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
	return runSetupAt(t, filepath.Join(t.TempDir(), "registry.db"))
}

// runSetupAt is runSetup with the registry at path.
func runSetupAt(t *testing.T, path string) (*inventory.Inventory, *playbooks.Playbook, registry.Store) {
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
	reg, err := registry.Open(context.Background(), path, nil)
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
	env.Started = func(int) { started = true }
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
		run.Hosts[0] != (registry.HostResult{Host: "a", Result: "done", Event: hosts["a"].ID}) ||
		run.Hosts[1] != (registry.HostResult{Host: "b", Result: "unchanged", Event: hosts["b"].ID}) || !strings.Contains(run.Operator, "@") {
		t.Fatalf("run event %+v", run)
	}
	for _, h := range []string{"a", "b"} {
		if e := hosts[h]; e.Run != run.ID || !e.Complete || e.Target != "app" || e.ID == "" {
			t.Errorf("event of host %s: %+v", h, e)
		}
	}

	// --resume after it: nothing left to do.
	keep, note, err := Resume(reg, req, targets)
	if err != nil || len(keep) != 0 {
		t.Errorf("resume: %v, %q, %v", keep, note, err)
	}
}

// TestHostResultIsUnreachableOnlyForItsOwnHost (found by review): a fleet
// host is unreachable only when its own connection (or a bastion's in
// front of it) could not be opened or was lost; another host that could
// not be reached (a dependency's) makes it failed.
func TestHostResultIsUnreachableOnlyForItsOwnHost(t *testing.T) {
	refused := func(host string) error {
		return &transport.UnreachableError{Host: host, Address: "10.0.0.9:22", Reason: "connection refused"}
	}
	for _, c := range []struct {
		name string
		err  error
		want HostResult
	}{
		{"its own connection", &connectError{Host: "w1", Err: refused("w1")}, HostUnreachable},
		{"its bastion", &connectError{Host: "w1", Err: refused("bastion")}, HostUnreachable},
		{"its connection lost", &StepError{Host: "w1", Step: StepStart, Err: refused("w1")}, HostUnreachable},
		{"a dependency's host", &StepError{Host: "ghost", Step: StepEnsure, Err: &connectError{Host: "ghost", Err: refused("ghost")}}, HostFailed},
		{"a dependency's host, read from its own step", &StepError{Host: "w1", Step: StepFindDependents, Err: &connectError{Host: "ghost", Err: refused("bastion2")}}, HostFailed},
		{"a dependency's lost connection", fmt.Errorf("dependency: %w", refused("ghost")), HostFailed},
	} {
		if got := hostResult(c.err, "w1"); got != c.want {
			t.Errorf("%s: hostResult(%v, w1) = %s, want %s", c.name, c.err, got, c.want)
		}
		if got := Classify(c.err); got != ClassUnreachable {
			t.Errorf("%s: Classify = %s, want unreachable (a run of one host: some host could not be reached)", c.name, got)
		}
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
			if got := hostResult(c.err, "a"); got != c.host {
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

// TestRunLogsTakesNoLock: reading logs never waits for a run nor holds
// one up: while another run holds the lock on db on both hosts, logs of
// one host and of the fleet run (each host's lines through its own
// writers), record no event, and leave the other run's lock as it was.
func TestRunLogsTakesNoLock(t *testing.T) {
	inv, _, reg := runSetup(t)
	set, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	logs := mustPlaybook(t, set, "logs")
	holder := registry.Owner{Operator: "alice@ops", PID: os.Getpid(), Command: "restart app db"}
	unlock, err := reg.Lock(context.Background(), []string{registry.LockKey("a", "db"), registry.LockKey("b", "db")}, holder, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	conn, connected := &svcConn{running: map[string]bool{}, logs: "line 1\nline 2\n"}, 0
	env := runEnv(inv, conn, &connected)

	one := Request{Action: "logs", Host: "a", Service: "db", Lines: 2}
	plan, err := NewPlan(inv, logs, one)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), reg, RunRequest{Request: one, Targets: []Target{{Host: "a", Plan: plan}}}, env)
	if err != nil || res.Class() != ClassOK {
		t.Fatalf("logs of one host while the lock is held: err %v, result %+v", err, res)
	}

	many := Request{Action: "logs", Host: "app", Service: "db", Lines: 2}
	targets, _, err := Targets(inv, logs, many)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	outs := map[string]*strings.Builder{}
	done := map[string]bool{}
	env.HostOutput = func(host string) (io.Writer, io.Writer, func()) {
		mu.Lock()
		defer mu.Unlock()
		outs[host] = &strings.Builder{}
		return outs[host], io.Discard, func() { mu.Lock(); done[host] = true; mu.Unlock() }
	}
	res, err = Run(context.Background(), reg, RunRequest{Request: many, Targets: targets, Fleet: true,
		Options: FleetOptions{Forks: 2, MaxFailures: 2}}, env)
	if err != nil || res.Class() != ClassOK || res.Report.Count(HostDone) != 2 {
		t.Fatalf("fleet logs while the lock is held: err %v, result %+v", err, res)
	}
	for _, h := range []string{"a", "b"} {
		if outs[h] == nil || outs[h].String() != "line 1\nline 2\n" || !done[h] {
			t.Errorf("host %s: output %v, done %v", h, outs[h], done[h])
		}
	}
	if events, err := reg.Events(registry.EventQuery{}); err != nil || len(events) != 0 {
		t.Errorf("logs recorded events: %+v (%v)", events, err)
	}
	// The other run's lock is still held: a start is refused.
	start := Request{Action: "start", Host: "a", Service: "db"}
	startPlan, err := NewPlan(inv, mustPlaybook(t, set, "start"), start)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), reg, RunRequest{Request: start, Targets: []Target{{Host: "a", Plan: startPlan}}}, env); Classify(err) != ClassRefused {
		t.Fatalf("start while the lock is held: %v, want refused", err)
	}
}

func mustPlaybook(t *testing.T, set *playbooks.Set, name string) *playbooks.Playbook {
	t.Helper()
	pb, err := set.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// followConn streams until its context ends, as `journalctl -f` does;
// streaming is told of each stream that began.
type followConn struct {
	*svcConn
	streaming chan string
}

func (c followConn) Stream(ctx context.Context, cmd string, stdout, stderr io.Writer) (int, error) {
	io.WriteString(stdout, "line\n")
	c.streaming <- cmd
	<-ctx.Done()
	return 0, ctx.Err()
}

type followConnector struct{ c followConn }

func (f followConnector) Connect(context.Context, *inventory.Host) (Conn, error) { return f.c, nil }

// TestRunFleetFollowEndsWithCtrlC: Ctrl-C is how fleet logs --follow end,
// not an interruption of them: every host is done and the run ok (exit 0,
// as for one host).
func TestRunFleetFollowEndsWithCtrlC(t *testing.T) {
	inv, _, reg := runSetup(t)
	set, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Action: "logs", Host: "app", Service: "db", Lines: 2, Follow: true}
	targets, _, err := Targets(inv, mustPlaybook(t, set, "logs"), req)
	if err != nil {
		t.Fatal(err)
	}
	conn := followConn{svcConn: &svcConn{running: map[string]bool{}}, streaming: make(chan string, len(targets))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for range targets {
			<-conn.streaming
		}
		cancel() // Ctrl-C, once every host streams
	}()
	res, err := Run(ctx, reg, RunRequest{Request: req, Targets: targets, Fleet: true, Options: FleetOptions{Forks: len(targets), MaxFailures: len(targets)}},
		RunEnv{Inventory: inv, Stdout: io.Discard, Stderr: io.Discard,
			Connect: func() (Connector, func(), error) { return followConnector{conn}, func() {}, nil }})
	if err != nil || res.Class() != ClassOK || res.Report.Count(HostDone) != len(targets) {
		t.Fatalf("follow ended by Ctrl-C: err %v, class %s, report %+v", err, res.Class(), res.Report)
	}
}

// TestRunLogsPlaybookThatWritesIsLocked: only plans that do nothing but
// print logs are read-only (no lock, no event, no registry needed). A
// logs playbook that also names a step that writes (record) is a run like
// any other: refused while another run holds the lock, and refused
// without a registry instead of running its record on none.
func TestRunLogsPlaybookThatWritesIsLocked(t *testing.T) {
	inv, _, reg := runSetup(t)
	pb, err := playbooks.Parse("logs.yaml", []byte("name: logs\nsteps:\n  - step: logs\n  - step: record\n"), Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Action: "logs", Host: "a", Service: "db", Lines: 2}
	plan, err := NewPlan(inv, pb, req)
	if err != nil {
		t.Fatal(err)
	}
	targets := []Target{{Host: "a", Plan: plan}}
	if ReadsOnly(targets) {
		t.Fatal("a logs plan with a record step counts as read-only")
	}
	builtin, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewPlan(inv, mustPlaybook(t, builtin, "logs"), req)
	if err != nil {
		t.Fatal(err)
	}
	if !ReadsOnly([]Target{{Host: "a", Plan: plain}}) {
		t.Fatal("the built-in logs plan does not count as read-only")
	}
	holder := registry.Owner{Operator: "alice@ops", PID: os.Getpid(), Command: "restart a db"}
	unlock, err := reg.Lock(context.Background(), []string{registry.LockKey("a", "db")}, holder, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	conn, connected := &svcConn{running: map[string]bool{}, logs: "line 1\n"}, 0
	env := runEnv(inv, conn, &connected)
	if _, err := Run(context.Background(), reg, RunRequest{Request: req, Targets: targets}, env); Classify(err) != ClassRefused {
		t.Fatalf("logs+record while the lock is held: %v, want refused", err)
	}
	if _, err := Run(context.Background(), nil, RunRequest{Request: req, Targets: targets}, env); err == nil || !strings.Contains(err.Error(), "needs the registry") {
		t.Fatalf("logs+record without a registry: %v, want an error that it needs one", err)
	}
	if connected != 0 {
		t.Errorf("a refused run connected %d times", connected)
	}
}

// hostConnector gives each host a fake connection of its own.
type hostConnector map[string]*svcConn

func (h hostConnector) Connect(_ context.Context, host *inventory.Host) (Conn, error) {
	return h[host.Name], nil
}

// TestRunResumeRereadsUnderTheLock: the hosts a --resume run acts on are
// read again from the registry once Run holds the lock. Between cli's
// reading (for the prompt and --dry-run) and the lock, another run of the
// same job (one that waited for the lock, say) may have finished some of
// them; those are not run twice, and Warn names them.
func TestRunResumeRereadsUnderTheLock(t *testing.T) {
	inv, pb, reg := runSetup(t)
	req := Request{Action: "start", Host: "app", Service: "db"}
	targets, _, err := Targets(inv, pb, req)
	if err != nil || len(targets) != 2 {
		t.Fatalf("targets %v, err %v", targets, err)
	}
	record := func(ev registry.Event) { historytest.Record(t, reg, ev) }
	now := time.Now().UTC()
	// The job failed on both hosts.
	record(registry.Event{Started: now.Add(-2 * time.Minute), Finished: now.Add(-2 * time.Minute), Complete: true,
		Command: "start app db", Target: "app", Service: "db", Result: "failed",
		Hosts: []registry.HostResult{{Host: "a", Result: "failed"}, {Host: "b", Result: "failed"}}})
	// What cli reads before the lock: both to do.
	keep, _, err := Resume(reg, req, targets)
	if err != nil || len(keep) != 2 {
		t.Fatalf("resume before: %v, %v", keep, err)
	}
	// Meanwhile another --resume of the job finished a, and was stopped
	// before b.
	record(registry.Event{Started: now.Add(-time.Minute), Finished: now.Add(-time.Minute), Complete: true,
		Command: "start app db", Target: "app", Service: "db", Result: "interrupted",
		Hosts: []registry.HostResult{{Host: "a", Result: "done"}, {Host: "b", Result: "untouched"}}})

	conns := hostConnector{"a": {running: map[string]bool{}}, "b": {running: map[string]bool{}}}
	var warnings []string
	env := RunEnv{
		Inventory: inv,
		Connect:   func() (Connector, func(), error) { return conns, func() {}, nil },
		Stdout:    io.Discard, Stderr: io.Discard,
		Warn: func(msg string) { warnings = append(warnings, msg) },
	}
	res, err := Run(context.Background(), reg, RunRequest{Request: req, Targets: keep, Fleet: true, Resume: true,
		Options: FleetOptions{Forks: 2, Batch: 2, MaxUnavailable: 2}}, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns["a"].starts) != 0 || len(conns["b"].starts) != 1 {
		t.Errorf("starts: a %v, b %v; want b's only", conns["a"].starts, conns["b"].starts)
	}
	if len(res.Report.Hosts) != 1 || res.Report.Hosts[0].Host != "b" || res.Report.Hosts[0].Result != HostDone {
		t.Errorf("report hosts %+v, want b done", res.Report.Hosts)
	}
	if len(res.Targets) != 1 || res.Targets[0].Host != "b" {
		t.Errorf("the result's targets %v, want b's alone", res.Targets)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "a") || !strings.Contains(warnings[0], "left out") {
		t.Errorf("warnings %q, want one naming a as left out", warnings)
	}

	// Once every host is done, a --resume under the lock runs nothing and
	// records nothing.
	before, _ := reg.Events(registry.EventQuery{})
	res, err = Run(context.Background(), reg, RunRequest{Request: req, Targets: targets, Fleet: true, Resume: true,
		Options: FleetOptions{Forks: 2, Batch: 2, MaxUnavailable: 2}}, env)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := reg.Events(registry.EventQuery{})
	if len(res.Report.Hosts) != 0 || len(after) != len(before) || len(conns["a"].starts)+len(conns["b"].starts) != 1 {
		t.Errorf("nothing owed: report %+v, events %d then %d, starts a %v b %v", res.Report.Hosts, len(before), len(after), conns["a"].starts, conns["b"].starts)
	}
}
