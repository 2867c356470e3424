package engine

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
)

// reachNet is scriptedHosts whose hosts connect (DialContext) only where
// routes says: "host->addr:port". It logs every dial.
type reachNet struct {
	*scriptedHosts
	routes map[string]bool
	mu     sync.Mutex
	dials  []string
}

type reachConn struct {
	scriptedConn
	n *reachNet
}

func (c reachConn) DialContext(_ context.Context, _, addr string) (net.Conn, error) {
	key := c.host + "->" + addr
	c.n.mu.Lock()
	c.n.dials = append(c.n.dials, key)
	c.n.mu.Unlock()
	if !c.n.routes[key] {
		return nil, fmt.Errorf("%s: dial %s: connection refused", c.host, addr)
	}
	a, b := net.Pipe()
	b.Close()
	return a, nil
}

func (n *reachNet) Connect(ctx context.Context, h *inventory.Host) (Conn, error) {
	c, _ := n.scriptedHosts.Connect(ctx, h)
	return reachConn{c.(scriptedConn), n}, nil
}

func (n *reachNet) Release(c Conn) { n.scriptedHosts.Release(c.(reachConn).scriptedConn) }

const reachInventory = `version: 1
defaults: {manager: command}
hosts:
  a: {address: 10.0.0.1, roles: [app]}
  b: {address: 10.0.0.2, roles: [app]}
  db1: {address: 10.0.0.3, roles: [db]}
  db2: {address: 10.0.0.4, roles: [db], service_address: 192.168.5.4}
roles:
  app: [web, webopt, api]
  db: [pg]
services:
  pg: {commands: {start: 'true', status: 'echo st-pg'}, health: {process: true, port: 5432}}
  web:
    commands: {start: 'true', status: 'echo st-web'}
    health: {process: true}
    requires: [pg@db1, {service: pg@db2, reach: required}]
  webopt: {requires: [pg@db1], commands: {start: 'true', status: 'echo st-webopt'}, health: {process: true}}
  api:
    commands: {start: 'true', status: 'echo st-api'}
    health: {process: true}
    requires: [{service: pg@db, reach: required}]
`

// TestReachChecksFromTheDependentsConnection: each requires edge is
// checked by a connection opened through the dependent's host, to the
// address it uses (another host's loopback service_address: its address;
// else its service_address); an optional failure degrades, a required one
// fails, each named with both hosts and the port; a role's edge passes
// when one instance answers.
func TestReachChecksFromTheDependentsConnection(t *testing.T) {
	inv, err := inventory.Parse("inventory.yaml", []byte(reachInventory))
	if err != nil {
		t.Fatal(err)
	}
	n := &reachNet{
		scriptedHosts: &scriptedHosts{reads: map[string]int{}, open: map[string]int{}, up: map[string]bool{
			"pg@db1": true, "pg@db2": true, "web@a": true, "web@b": true, "webopt@a": true, "webopt@b": true, "api@a": true, "api@b": true,
		}},
		routes: map[string]bool{
			"db1->127.0.0.1:5432": true, "db2->192.168.5.4:5432": true, // pg's own port checks
			"a->10.0.0.3:5432": true, "a->192.168.5.4:5432": true, // a reaches both; b neither
		},
	}
	var targets []Instance
	for _, h := range []string{"a", "b"} {
		for _, s := range []string{"web", "webopt", "api"} {
			targets = append(targets, Instance{Host: h, Service: s})
		}
	}
	rows := LiveStatus(context.Background(), inv, targets, n, 2)
	refused := func(from, where string) string { return from + " cannot reach " + where + ": connection refused" }
	want := map[string]struct{ failure, degraded string }{
		"web@a":    {},
		"webopt@a": {},
		"api@a":    {},
		"web@b": {failure: "reach pg@db2: " + refused("b", "pg on db2 (192.168.5.4:5432)"),
			degraded: refused("b", "pg on db1 (10.0.0.3:5432)")},
		"webopt@b": {degraded: refused("b", "pg on db1 (10.0.0.3:5432)")},
		"api@b": {failure: "reach pg@db: b cannot reach pg on any db host (db1 10.0.0.3:5432, db2 192.168.5.4:5432): " +
			"db1: connection refused; db2: connection refused"},
	}
	for _, r := range rows {
		if r.Err != nil || r.Health == nil {
			t.Fatalf("%s: err %v, health %v", r.Instance, r.Err, r.Health)
		}
		w := want[r.Instance.String()]
		if got := r.Health.Failure(); got != w.failure {
			t.Errorf("%s: failure %q, want %q", r.Instance, got, w.failure)
		}
		if got := r.Health.Degraded(); got != w.degraded {
			t.Errorf("%s: degraded %q, want %q", r.Instance, got, w.degraded)
		}
		if r.Health.Passed() != (w.failure == "") {
			t.Errorf("%s: passed %v", r.Instance, r.Health.Passed())
		}
	}
	for _, d := range []string{"a->10.0.0.3:5432", "a->192.168.5.4:5432", "b->10.0.0.3:5432", "b->192.168.5.4:5432"} {
		if !slices.Contains(n.dials, d) {
			t.Errorf("no dial %s; dials: %v", d, n.dials)
		}
	}
	for _, d := range n.dials {
		if strings.HasPrefix(d, "db") && !n.routes[d] {
			t.Errorf("unexpected dial %s", d)
		}
	}
	for host, open := range n.open {
		if open != 0 {
			t.Errorf("%s: %d connections not released", host, open)
		}
	}
}

// TestReachInDryRun: the health step of a plan names its reach checks.
func TestReachInDryRun(t *testing.T) {
	inv, err := inventory.Parse("inventory.yaml", []byte(reachInventory))
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
	plan, err := NewPlan(inv, pb, Request{Action: "start", Host: "b", Service: "web"})
	if err != nil {
		t.Fatal(err)
	}
	want := "reach from b: pg@db1 at 10.0.0.3:5432 (tcp, optional), pg@db2 at 192.168.5.4:5432 (tcp, required)"
	for _, task := range plan.Tasks {
		if task.Step == StepHealth && task.Host == "b" {
			if !strings.HasSuffix(task.Detail, "; "+want) {
				t.Errorf("health detail %q, want it to end with %q", task.Detail, want)
			}
			return
		}
	}
	t.Fatalf("no health task for web@b: %+v", plan.Tasks)
}

// TestReportWithOptionalFailure: an optional failed check leaves the
// report passed, and says why it is degraded.
func TestReportWithOptionalFailure(t *testing.T) {
	rep := health.Report{Checks: []health.Result{{Check: "process", Passed: true}, {Check: "reach x", Error: "no", Optional: true}}}
	if !rep.Passed() || rep.Failure() != "" || rep.Degraded() != "no" {
		t.Errorf("passed %v, failure %q, degraded %q", rep.Passed(), rep.Failure(), rep.Degraded())
	}
}
