package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
)

// linkDelay is what each wait on the host costs over delayConn's link.
const linkDelay = 100 * time.Millisecond

// delayConn is a host behind a delayed link, on synctest's fake clock:
// its first command costs two waits (the session, then the command),
// later ones one; opening a channel to a port costs one (refused unless
// the service runs), and an HTTP request over it one more, answered 200.
type delayConn struct {
	running bool
	mu      sync.Mutex
	cmds    int
	dials   int
}

func (c *delayConn) Run(ctx context.Context, cmd string) (manager.Result, error) {
	c.mu.Lock()
	c.cmds++
	waits := 1
	if c.cmds == 1 {
		waits = 2
	}
	c.mu.Unlock()
	if err := sleepCtx(ctx, time.Duration(waits)*linkDelay); err != nil {
		return manager.Result{ExitCode: -1}, err
	}
	if c.running {
		return manager.Result{Stdout: []byte("rc=0\npid=123\nstat=S\netimes=5\n")}, nil
	}
	return manager.Result{Stdout: []byte("rc=1\npid=\n")}, nil
}

func (c *delayConn) Stream(context.Context, string, io.Writer, io.Writer) (int, error) { return 0, nil }

func (c *delayConn) DialContext(ctx context.Context, _, addr string) (net.Conn, error) {
	c.mu.Lock()
	c.dials++
	c.mu.Unlock()
	if err := sleepCtx(ctx, linkDelay); err != nil {
		return nil, err
	}
	if !c.running {
		return nil, errors.New("connect failed (Connection refused)")
	}
	return &httpPeer{}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// httpPeer answers the first request written to it with 200, one link
// delay later.
type httpPeer struct {
	mu     sync.Mutex
	wrote  bool
	answer *strings.Reader
}

func (p *httpPeer) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.wrote = true
	p.mu.Unlock()
	return len(b), nil
}

func (p *httpPeer) Read(b []byte) (int, error) {
	p.mu.Lock()
	if p.answer == nil && p.wrote {
		p.answer = strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		p.mu.Unlock()
		time.Sleep(linkDelay)
		p.mu.Lock()
	}
	defer p.mu.Unlock()
	if p.answer == nil {
		return 0, io.EOF
	}
	return p.answer.Read(b)
}

func (p *httpPeer) Close() error                     { return nil }
func (p *httpPeer) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (p *httpPeer) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (p *httpPeer) SetDeadline(time.Time) error      { return nil }
func (p *httpPeer) SetReadDeadline(time.Time) error  { return nil }
func (p *httpPeer) SetWriteDeadline(time.Time) error { return nil }

type delayConnector struct{ conn *delayConn }

func (d delayConnector) Connect(context.Context, *inventory.Host) (Conn, error) { return d.conn, nil }

// TestStatusProbesBesideStateRead: over a delayed link, the status of one
// running service with process, port and HTTP checks waits about two
// delays (session and state read, beside the channel open and the HTTP
// request), not four one after the other; its report is the same checks
// in the same order. A stopped service's row has no health, as before,
// and takes no longer. synctest's clock makes the figures exact.
func TestStatusProbesBesideStateRead(t *testing.T) {
	inv, err := inventory.Parse("inventory.yaml", []byte(strings.Join([]string{
		"version: 1",
		"defaults: {manager: command}",
		"hosts:",
		"  a: {address: 10.0.0.1, roles: [app]}",
		"roles:",
		"  app: [web]",
		"services:",
		"  web:",
		"    commands: {start: 'true', status: 'true'}",
		"    health: {process: true, port: 8080, http: {port: 8080, path: /healthz}, timeout: 2s}",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	targets := []Instance{{Host: "a", Service: "web"}}
	for _, running := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			conn := &delayConn{running: running}
			start := time.Now()
			rows := LiveStatus(context.Background(), inv, targets, delayConnector{conn}, 1)
			took := time.Since(start)
			row := rows[0]
			t.Logf("running=%v: %s (%.1f delays), %d commands, %d dials", running, took, float64(took)/float64(linkDelay), conn.cmds, conn.dials)
			if took >= 32*linkDelay/10 {
				t.Errorf("running=%v: status took %s, want under 3.2 delays of %s (about 2)", running, took, linkDelay)
			}
			if row.Err != nil || row.State.Running != running {
				t.Fatalf("running=%v: row %+v", running, row)
			}
			if !running {
				if row.Health != nil {
					t.Errorf("stopped: health %+v, want none (as without the probe)", row.Health)
				}
				return
			}
			var got []string
			for _, c := range row.Health.Checks {
				got = append(got, c.Check)
				if !c.Passed || c.Attempts != 1 || c.Error != "" {
					t.Errorf("check %+v, want passed in one attempt", c)
				}
			}
			if strings.Join(got, ",") != "process,port 8080,http" {
				t.Errorf("checks %q, want process, port 8080, http", got)
			}
			if conn.cmds != 1 || conn.dials != 1 {
				t.Errorf("%d commands and %d dials, want 1 and 1 (port and HTTP share the channel)", conn.cmds, conn.dials)
			}
		})
	}
}
