package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
)

// scriptedHosts answers each service's status command ("echo st-NAME"):
// running for the instances in up, stopped otherwise; it counts the
// status reads of each instance and the connections still held.
type scriptedHosts struct {
	mu    sync.Mutex
	up    map[string]bool // "svc@host"
	reads map[string]int
	open  map[string]int
}

type scriptedConn struct {
	h    *scriptedHosts
	host string
}

func (c scriptedConn) Run(_ context.Context, cmd string) (manager.Result, error) {
	i := strings.Index(cmd, "st-")
	if i < 0 {
		return manager.Result{}, errors.New("unexpected command: " + cmd)
	}
	svc := strings.FieldsFunc(cmd[i+3:], func(r rune) bool { return !(r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') })[0]
	inst := svc + "@" + c.host
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.h.reads[inst]++
	if c.h.up[inst] {
		return manager.Result{Stdout: []byte("rc=0\npid=\n")}, nil
	}
	return manager.Result{Stdout: []byte("rc=1\npid=\n")}, nil
}

func (c scriptedConn) Stream(context.Context, string, io.Writer, io.Writer) (int, error) {
	return 0, nil
}

func (c scriptedConn) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("no dialling in this test")
}

func (h *scriptedHosts) Connect(_ context.Context, host *inventory.Host) (Conn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open[host.Name]++
	return scriptedConn{h, host.Name}, nil
}

func (h *scriptedHosts) Release(c Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open[c.(scriptedConn).host]--
}

// TestStatusHealthIncludesDependencies: status's health is the health
// step's, the dependency check included: a service whose required service
// is stopped is unhealthy, naming it, on its own host or another; the
// dependency is read once however many services require it; every
// connection opened for a dependency on another host is let go.
func TestStatusHealthIncludesDependencies(t *testing.T) {
	inv, err := inventory.Parse("inventory.yaml", []byte(strings.Join([]string{
		"version: 1",
		"defaults: {manager: command}",
		"hosts:",
		"  a: {address: 10.0.0.1, roles: [app]}",
		"  b: {address: 10.0.0.2, roles: [app]}",
		"  db1: {address: 10.0.0.3, roles: [db]}",
		"roles:",
		"  app: [agent, web, worker]",
		"  db: [pg]",
		"services:",
		"  agent: {commands: {start: 'true', status: 'echo st-agent'}, health: {process: true}}",
		"  pg: {commands: {start: 'true', status: 'echo st-pg'}, health: {process: true}}",
		"  web: {requires: [agent], commands: {start: 'true', status: 'echo st-web'}, health: {process: true}}",
		"  worker: {requires: [agent, pg@db1], commands: {start: 'true', status: 'echo st-worker'}, health: {process: true}}",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	hosts := &scriptedHosts{reads: map[string]int{}, open: map[string]int{}, up: map[string]bool{
		"web@a": true, "worker@a": true, "agent@b": true, "web@b": true, "worker@b": true,
	}}
	var targets []Instance
	for _, h := range []string{"a", "b"} {
		for _, s := range []string{"web", "worker"} {
			targets = append(targets, Instance{Host: h, Service: s})
		}
	}
	rows := LiveStatus(context.Background(), inv, targets, hosts, 1)
	want := map[string]string{
		"web@a":    "dependency agent@a: stopped",
		"worker@a": "dependency agent@a: stopped",
		"web@b":    "",
		"worker@b": "dependency pg@db1: stopped",
	}
	for _, r := range rows {
		if r.Err != nil || r.Health == nil {
			t.Fatalf("%s: err %v, health %v", r.Instance, r.Err, r.Health)
		}
		if got := r.Health.Failure(); got != want[r.Instance.String()] {
			t.Errorf("%s: health failure %q, want %q", r.Instance, got, want[r.Instance.String()])
		}
	}
	if hosts.reads["agent@a"] != 1 || hosts.reads["pg@db1"] != 1 {
		t.Errorf("dependency reads %v, want agent@a and pg@db1 once each", hosts.reads)
	}
	for host, n := range hosts.open {
		if n != 0 {
			t.Errorf("%s: %d connections not released", host, n)
		}
	}
}
