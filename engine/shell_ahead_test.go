package engine

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
	"github.com/omni-fleet/omni/registry"
)

// aheadConn is a svcConn that can end its remote shell ahead of its
// release (shellEnder), and logs the commands and that end in order.
type aheadConn struct {
	*svcConn
	mu  sync.Mutex
	log []string
}

func (c *aheadConn) Run(ctx context.Context, cmd string) (manager.Result, error) {
	c.mu.Lock()
	what := "command"
	if partMark.MatchString(cmd) {
		what = "restart script"
	}
	c.log = append(c.log, what)
	c.mu.Unlock()
	return c.svcConn.Run(ctx, cmd)
}

func (c *aheadConn) EndShellAhead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, "end shell")
}

type aheadConnector struct{ conn *aheadConn }

func (s aheadConnector) Connect(context.Context, *inventory.Host) (Conn, error) { return s.conn, nil }

// TestHealthEndsTheShellAhead: a restart's health step ends the host's
// remote shell as soon as the process check has passed, when nothing after
// it runs a command on the host and the service requires no other, so
// that the shell's end rides along with the port and HTTP checks instead
// of costing a round trip when the connection is let go; a process check
// that must retry does so first, through the shell; a service with
// requirements keeps its shell (their checks may run on the same host), and
// so does a host a rolling run's --min-ready watch reads after the plan.
func TestHealthEndsTheShellAhead(t *testing.T) {
	// db alone: no requirement, no dependent to report on after the record.
	solo := `version: 1
defaults: {manager: command}
hosts:
  a: {address: 10.0.0.1, roles: [app]}
roles:
  app: [db]
services:
  db: {commands: {start: 'start-db', status: 'status-db', logs: 'logs-db'}, health: {process: true, retries: 1, interval: 10ms}}
`
	for _, tc := range []struct {
		name, service, inv string
		watched            bool
		conn               *svcConn
		wantLog            []string
		wantSteps          []string
	}{{
		name:      "the state the script read passes the process check: the shell ends at once",
		service:   "db",
		inv:       solo,
		conn:      &svcConn{running: map[string]bool{"db": true}},
		wantLog:   []string{"restart script", "end shell"},
		wantSteps: []string{"db check-deps ok", "db stop ok", "db verify-stopped ok", "db start ok", "db health ok", "db record ok"},
	}, {
		name:      "a --min-ready watch follows the plan: the shell is kept for it",
		service:   "db",
		inv:       solo,
		watched:   true,
		conn:      &svcConn{running: map[string]bool{"db": true}},
		wantLog:   []string{"restart script"},
		wantSteps: []string{"db check-deps ok", "db stop ok", "db verify-stopped ok", "db start ok", "db health ok", "db record ok"},
	}, {
		name:      "a service that requires another keeps its shell: the requirement's check runs on the same host",
		service:   "web",
		inv:       stepsInventory,
		conn:      &svcConn{running: map[string]bool{"db": true, "web": true}},
		wantLog:   []string{"command", "restart script", "command"},
		wantSteps: []string{"db ensure ok", "web stop ok", "web verify-stopped ok", "web start ok", "web health ok", "web record ok"},
	}, {
		name:      "a process check that fails keeps the shell: the failure's log tail needs it",
		service:   "db",
		inv:       solo,
		conn:      &svcConn{running: map[string]bool{"db": true}, startDies: map[string]bool{"db": true}},
		wantLog:   []string{"restart script", "command", "command", "command"},
		wantSteps: []string{"db check-deps ok", "db stop ok", "db verify-stopped ok", "db start ok", "db health failed", "db record ok"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := inventory.Parse("inventory.yaml", []byte(tc.inv))
			if err != nil {
				t.Fatal(err)
			}
			set, err := playbooks.Builtin(Vocabulary())
			if err != nil {
				t.Fatal(err)
			}
			pb, err := set.Get("restart")
			if err != nil {
				t.Fatal(err)
			}
			plan, err := NewPlan(inv, pb, Request{Action: "restart", Host: "a", Service: tc.service})
			if err != nil {
				t.Fatal(err)
			}
			reg, err := registry.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			conn := &aheadConn{svcConn: tc.conn}
			out := Execute(context.Background(), plan, Env{Inventory: inv, Connector: aheadConnector{conn}, Registry: reg,
				Stdout: io.Discard, Stderr: io.Discard, Watched: tc.watched})
			var steps []string
			for _, r := range out.Steps {
				steps = append(steps, r.Task.Service+" "+string(r.Task.Step)+" "+string(r.Status))
			}
			if !slices.Equal(steps, tc.wantSteps) {
				t.Errorf("steps:\n got %q\nwant %q", steps, tc.wantSteps)
			}
			if !slices.Equal(conn.log, tc.wantLog) {
				t.Errorf("on the host, in order:\n got %q\nwant %q", conn.log, tc.wantLog)
			}
			if n := strings.Count(strings.Join(conn.log, ","), "end shell"); n > 1 {
				t.Errorf("the shell was ended %d times", n)
			}
		})
	}
}
