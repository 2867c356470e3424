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

// releasingConnector hands out fake connections, refuses the hosts in
// down, and records which connections are released.
type releasingConnector struct {
	down     map[string]bool
	mu       sync.Mutex
	open     map[string]int // connections handed out and not released, by host
	released []string
}

type fakeConn struct{ host string }

func (c fakeConn) Run(context.Context, string) (manager.Result, error) {
	return manager.Result{Stdout: []byte("rc=1\npid=\n"), ExitCode: 0}, nil // stopped
}

func (c fakeConn) Stream(context.Context, string, io.Writer, io.Writer) (int, error) { return 0, nil }

func (c fakeConn) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("no dialling in this test")
}

func (r *releasingConnector) Connect(_ context.Context, h *inventory.Host) (Conn, error) {
	if r.down[h.Name] {
		return nil, errors.New(h.Name + ": unreachable")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open[h.Name]++
	return fakeConn{h.Name}, nil
}

func (r *releasingConnector) Release(c Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	host := c.(fakeConn).host
	r.open[host]--
	r.released = append(r.released, host)
}

func TestLiveStatusReleasesEachHostOnce(t *testing.T) {
	inv, err := inventory.Parse("inventory.yaml", []byte(strings.Join([]string{
		"version: 1",
		"defaults: {manager: command}",
		"hosts:",
		"  a: {address: 10.0.0.1, roles: [app]}",
		"  b: {address: 10.0.0.2, roles: [app]}",
		"  c: {address: 10.0.0.3, roles: [app]}",
		"roles:",
		"  app: [web, worker]",
		"services:",
		"  web: {commands: {start: 'true', status: 'true'}}",
		"  worker: {commands: {start: 'true', status: 'true'}}",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	var targets []Instance
	for _, h := range []string{"a", "b", "c"} {
		for _, s := range []string{"web", "worker"} {
			targets = append(targets, Instance{Host: h, Service: s})
		}
	}
	conn := &releasingConnector{down: map[string]bool{"b": true}, open: map[string]int{}}
	rows := LiveStatus(context.Background(), inv, targets, conn, 2)
	for _, row := range rows {
		if (row.Host == "b") != (row.Err != nil) {
			t.Errorf("%s %s: err %v", row.Host, row.Service, row.Err)
		}
	}
	if len(conn.released) != 2 {
		t.Errorf("released %v, want a and c once each (two services each, one connection)", conn.released)
	}
	for host, n := range conn.open {
		if n != 0 {
			t.Errorf("%s: %d connections not released", host, n)
		}
	}
}
