package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
	"github.com/omni-fleet/omni/registry"
)

// meetHosts is a fake fleet whose services all run. Its status reads
// ("echo st-NAME") and dials can be made to wait until others have
// started (meet), or a serial caller would time out rather than hang.
type meetHosts struct {
	mu      sync.Mutex
	started map[string]chan struct{} // "svc@host", "connect host": closed once begun
	meet    map[string][]string      // what waits for what to have started
	reads   map[string]int
	open    map[string]int
	down    map[string]bool // stopped until a command other than a status runs on its host
}

func newMeetHosts(meet map[string][]string) *meetHosts {
	return &meetHosts{started: map[string]chan struct{}{}, meet: meet, reads: map[string]int{}, open: map[string]int{}}
}

func (h *meetHosts) ch(key string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.started[key]
	if !ok {
		c = make(chan struct{})
		h.started[key] = c
	}
	return c
}

// begin marks key started and waits for what it must meet.
func (h *meetHosts) begin(ctx context.Context, key string) error {
	c := h.ch(key)
	h.mu.Lock()
	select {
	case <-c: // began before
	default:
		close(c)
	}
	h.mu.Unlock()
	for _, other := range h.meet[key] {
		select {
		case <-h.ch(other):
		case <-time.After(2 * time.Second):
			return errors.New(key + ": " + other + " never started alongside")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

type meetConn struct {
	h    *meetHosts
	host string
}

func (c meetConn) Run(ctx context.Context, cmd string) (manager.Result, error) {
	i := strings.Index(cmd, "st-")
	if i < 0 { // a start
		c.h.mu.Lock()
		for k := range c.h.down {
			if strings.HasSuffix(k, "@"+c.host) {
				delete(c.h.down, k)
			}
		}
		c.h.mu.Unlock()
		return manager.Result{}, nil
	}
	svc := strings.FieldsFunc(cmd[i+3:], func(r rune) bool { return !(r == '-' || r >= 'a' && r <= 'z') })[0]
	key := svc + "@" + c.host
	c.h.mu.Lock()
	c.h.reads[key]++
	first := c.h.reads[key] == 1
	c.h.mu.Unlock()
	if first { // only the first read of each meets
		if err := c.h.begin(ctx, key); err != nil {
			return manager.Result{}, err
		}
	}
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	if c.h.down[key] {
		return manager.Result{Stdout: []byte("rc=1\npid=\n")}, nil
	}
	return manager.Result{Stdout: []byte("rc=0\npid=\n")}, nil
}

func (c meetConn) Stream(context.Context, string, io.Writer, io.Writer) (int, error) { return 0, nil }

func (c meetConn) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("no dialling in this test")
}

func (h *meetHosts) Connect(ctx context.Context, host *inventory.Host) (Conn, error) {
	if err := h.begin(ctx, "connect "+host.Name); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open[host.Name]++
	return meetConn{h, host.Name}, nil
}

func (h *meetHosts) Release(c Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open[c.(meetConn).host]--
}

func (h *meetHosts) leaked(t *testing.T) {
	t.Helper()
	for host, n := range h.open {
		if n != 0 {
			t.Errorf("%s: %d connections not released", host, n)
		}
	}
}

const meetInventory = `version: 1
defaults: {manager: command}
hosts:
  a: {address: 10.0.0.1, roles: [app]}
  b: {address: 10.0.0.2, roles: [data]}
  c: {address: 10.0.0.3, roles: [cache]}
roles:
  app: [web, agent]
  data: [db]
  cache: [kv]
services:
  agent: {commands: {start: 'true', status: 'echo st-agent'}, health: {process: true}}
  db: {commands: {start: 'true', status: 'echo st-db'}, health: {process: true}}
  kv: {commands: {start: 'true', status: 'echo st-kv'}, health: {process: true}}
  web: {requires: [db@b, kv@c, agent], commands: {start: 'true', status: 'echo st-web'}, health: {process: true}}
`

// TestDependencyChecksRunSideBySide: the status of web reads its three
// dependencies (on b, on c and on its own host) while its own process
// check runs, all at once: each read waits until the others have begun,
// so one after the other they would time out. The dependency results
// keep the order of web's requires.
func TestDependencyChecksRunSideBySide(t *testing.T) {
	inv, err := inventory.Parse("inventory.yaml", []byte(meetInventory))
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"db@b", "kv@c", "agent@a"}
	meet := map[string][]string{}
	for _, k := range all {
		for _, o := range all {
			if o != k {
				meet[k] = append(meet[k], o)
			}
		}
	}
	hosts := newMeetHosts(meet)
	rows := LiveStatus(context.Background(), inv, []Instance{{Host: "a", Service: "web"}}, hosts, 1)
	r := rows[0]
	if r.Err != nil || r.Health == nil || !r.Health.Passed() {
		t.Fatalf("row %+v, health %+v", r, r.Health)
	}
	var names []string
	for _, c := range r.Health.Checks {
		names = append(names, c.Check)
	}
	if want := "process,dependency db@b,dependency kv@c,dependency agent@a"; strings.Join(names, ",") != want {
		t.Errorf("checks %v, want %s", names, want)
	}
	hosts.leaked(t)
}

// TestLookReadsADependencyOnce: two hosts looked at side by side both
// require db@b; the second waits for the first one's reading of it
// instead of reading it again.
func TestLookReadsADependencyOnce(t *testing.T) {
	inv, err := inventory.Parse("inventory.yaml", []byte(strings.Replace(meetInventory,
		"  c: {address: 10.0.0.3, roles: [cache]}", "  c: {address: 10.0.0.3, roles: [cache]}\n  d: {address: 10.0.0.4, roles: [app]}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	// db@b's read goes on until both hosts have read their web.
	hosts := newMeetHosts(map[string][]string{"db@b": {"web@a", "web@d"}})
	rows := LiveStatus(context.Background(), inv, []Instance{{Host: "a", Service: "web"}, {Host: "d", Service: "web"}}, hosts, 2)
	for _, r := range rows {
		if r.Err != nil || r.Health == nil {
			t.Fatalf("row %+v", r)
		}
	}
	if hosts.reads["db@b"] != 1 {
		t.Errorf("db@b read %d times, want once", hosts.reads["db@b"])
	}
	hosts.leaked(t)
}

// TestExecuteDialsDependencyHostsAhead: a start of web on a connects to b
// and c, its dependencies' hosts, while it connects to a: each dial waits
// until the others have begun. Every connection is released at the end.
func TestExecuteDialsDependencyHostsAhead(t *testing.T) {
	inv, err := inventory.Parse("inventory.yaml", []byte(meetInventory))
	if err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	pb, err := set.Get("start")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(inv, pb, Request{Action: "start", Host: "a", Service: "web"})
	if err != nil {
		t.Fatal(err)
	}
	hosts := newMeetHosts(map[string][]string{"connect a": {"connect b", "connect c"}})
	hosts.down = map[string]bool{"web@a": true}
	out := Execute(context.Background(), plan, Env{Inventory: inv, Connector: hosts, Registry: reg})
	if out.Err != nil {
		t.Fatalf("start: %v", out.Err)
	}
	if out.Unchanged != "" || !out.State.Running {
		t.Fatalf("start: unchanged %q, state %+v", out.Unchanged, out.State)
	}
	var dialled []string
	for k := range hosts.started {
		if h, ok := strings.CutPrefix(k, "connect "); ok {
			dialled = append(dialled, h)
		}
	}
	slices.Sort(dialled)
	if strings.Join(dialled, " ") != "a b c" {
		t.Errorf("dialled %v, want a b c", dialled)
	}
	hosts.leaked(t)
}
