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
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
)

// showConn answers `systemctl show` of any units with one block each
// (the unit active with MainPID 100, or not installed when its name has
// "missing"), answers any other command as a stopped command-managed
// service, and counts the commands as round trips.
type showConn struct {
	mu   sync.Mutex
	cmds []string
}

func (c *showConn) Run(_ context.Context, cmd string) (manager.Result, error) {
	c.mu.Lock()
	c.cmds = append(c.cmds, cmd)
	c.mu.Unlock()
	// The host's uptime is read in front of it (manager's hostClockLine).
	if !strings.Contains(cmd, "systemctl show ") || strings.HasPrefix(cmd, "sh -c ") {
		return manager.Result{Stdout: []byte("rc=1\npid=\n")}, nil
	}
	_, units, _ := strings.Cut(cmd, " -- ")
	var blocks []string
	for _, u := range strings.Fields(units) {
		u = strings.Trim(u, "'")
		load, active, pid := "loaded", "active", "100"
		if strings.Contains(u, "missing") {
			load, active, pid = "not-found", "inactive", "0"
		}
		blocks = append(blocks, "Id="+u+"\nNames="+u+"\nLoadState="+load+"\nActiveState="+active+"\nSubState=x\nMainPID="+pid+
			"\nActiveEnterTimestamp=\nInactiveEnterTimestamp=\nNRestarts=0\n")
	}
	return manager.Result{Stdout: []byte("OmniHostUptime=5000.25\n\n" + strings.Join(blocks, "\n"))}, nil
}

func (c *showConn) Stream(context.Context, string, io.Writer, io.Writer) (int, error) { return 0, nil }

func (c *showConn) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("no dialling in this test")
}

func (c *showConn) RoundTrips() transport.RoundTrips {
	c.mu.Lock()
	defer c.mu.Unlock()
	return transport.RoundTrips{Connects: 1, Execs: len(c.cmds)}
}

type showConnector struct{ conns map[string]*showConn }

func (s showConnector) Connect(_ context.Context, h *inventory.Host) (Conn, error) {
	return s.conns[h.Name], nil
}

// TestLiveStatusOneShowPerHost: the status of a host's systemd services
// is one command for all of them, and a command-managed service on the
// same host still reads with its own; the round trips of each host are
// reported.
func TestLiveStatusOneShowPerHost(t *testing.T) {
	inv, err := inventory.Parse("inventory.yaml", []byte(strings.Join([]string{
		"version: 1",
		"hosts:",
		"  a: {address: 10.0.0.1, roles: [app]}",
		"  b: {address: 10.0.0.2, roles: [app]}",
		"roles:",
		"  app: [web, worker, cron, missing, job]",
		"services:",
		"  web: {}",
		"  worker: {}",
		"  cron: {unit: cron.timer}",
		"  missing: {unit: omni-missing.service}",
		"  job: {manager: command, commands: {start: 'true', status: 'true'}}",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	var targets []Instance
	for _, h := range []string{"a", "b"} {
		for _, s := range []string{"web", "worker", "cron", "missing", "job"} {
			targets = append(targets, Instance{Host: h, Service: s})
		}
	}
	conn := showConnector{conns: map[string]*showConn{"a": {}, "b": {}}}
	rows, counts := LiveStatusCounted(context.Background(), inv, targets, conn, 2)
	for _, row := range rows {
		switch row.Service {
		case "missing":
			if row.Err == nil || !strings.Contains(row.Err.Error(), "omni-missing.service") {
				t.Errorf("%s: want not installed, got %+v", row.Instance, row)
			}
		case "job":
			if row.Err != nil || row.State.Running {
				t.Errorf("%s: want stopped, got %+v", row.Instance, row)
			}
		default:
			if row.Err != nil || !row.State.Running || row.State.PID != 100 {
				t.Errorf("%s: want running pid 100, got %+v", row.Instance, row)
			}
		}
	}
	for _, h := range []string{"a", "b"} {
		c := conn.conns[h]
		if len(c.cmds) != 2 || !strings.Contains(c.cmds[0], "'web.service' 'worker.service' 'cron.timer' 'omni-missing.service'") {
			t.Errorf("%s: commands %q, want one systemctl show of the four units and the command service's status", h, c.cmds)
		}
		if got := counts[h].AfterAuth(); got != 2 {
			t.Errorf("%s: %d round trips reported, want 2", h, got)
		}
	}
}
