package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// stepsInventory: on host a, db is needed by web and api; every service
// has a logs command and a one-attempt health check of its process, so a
// failing check fails at once.
const stepsInventory = `version: 1
defaults: {manager: command}
hosts:
  a: {address: 10.0.0.1, roles: [app]}
roles:
  app: [db, web, api]
services:
  db: {commands: {start: 'start-db', status: 'status-db', logs: 'logs-db'}, health: {process: true, retries: 1, interval: 10ms}}
  web: {requires: [db], commands: {start: 'start-web', status: 'status-web', logs: 'logs-web'}, health: {process: true, retries: 1, interval: 10ms}}
  api: {requires: [db], commands: {start: 'start-api', status: 'status-api', logs: 'logs-api'}, health: {process: true, retries: 1, interval: 10ms}}
`

// svcConn plays the command manager's scripts for the services of
// stepsInventory, as each test scripts them.
type svcConn struct {
	mu      sync.Mutex
	running map[string]bool
	// stopOut: what the stop script prints for a service (default: it
	// stopped it); stopBlocks: the stop script hangs until its context ends.
	stopOut    map[string]string
	stopBlocks map[string]bool
	// startErr: the start command fails with this stderr; startDies: it
	// exits 0 but the service is not running after; startCancels: the
	// start is interrupted (cancel is called, as Ctrl-C would).
	startErr     map[string]string
	startDies    map[string]bool
	startCancels context.CancelFunc
	logs         string // what the logs command prints
	// Stream (logs step): the exit code it returns, and whether, for
	// --follow, it streams until its context is cancelled (cancelFollow
	// plays the Ctrl-C).
	streamCode    int
	cancelFollow  context.CancelFunc
	streamed      []string
	streamBounded []bool // whether each Stream's context had a deadline
	starts        []string
	scripts       []string // restart scripts run (restart_fused_test.go)
	hooks         []string // hook commands run (hooks_test.go)
	unixDial      bool     // DialContext opens unix sockets on this machine
}

func (c *svcConn) Run(ctx context.Context, cmd string) (manager.Result, error) {
	if mark := partMark.FindString(cmd); mark != "" {
		return c.restartScript(ctx, cmd, mark) // restart_fused_test.go
	}
	if strings.Contains(cmd, "OMNI_HOOK=") && strings.Contains(cmd, "hook-loud") {
		return manager.Result{Stdout: bytes.Repeat([]byte("x"), loudHookBytes), ExitCode: 3}, nil
	}
	if strings.Contains(cmd, "OMNI_HOOK=") {
		return c.hookRun(ctx, cmd) // hooks_test.go
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, svc := range []string{"db", "web", "api"} {
		switch {
		case strings.Contains(cmd, "logs-"+svc):
			return manager.Result{Stdout: []byte(c.logs)}, nil
		case strings.Contains(cmd, "status-"+svc) && strings.Contains(cmd, "result="): // the stop script
			if c.stopBlocks[svc] {
				c.mu.Unlock()
				<-ctx.Done()
				c.mu.Lock()
				return manager.Result{}, ctx.Err()
			}
			if out, ok := c.stopOut[svc]; ok {
				return manager.Result{Stdout: []byte(out)}, nil
			}
			c.running[svc] = false
			return manager.Result{Stdout: []byte("pid=4211\nresult=stopped\n")}, nil
		case strings.Contains(cmd, "status-"+svc):
			if c.running[svc] {
				return manager.Result{Stdout: []byte("rc=0\npid=4211\netimes=75\nstat=S\n")}, nil
			}
			return manager.Result{Stdout: []byte("rc=1\npid=\n")}, nil
		case strings.Contains(cmd, "start-"+svc):
			c.starts = append(c.starts, svc)
			if c.startCancels != nil {
				c.startCancels()
				return manager.Result{}, ctx.Err()
			}
			if msg, ok := c.startErr[svc]; ok {
				return manager.Result{ExitCode: 1, Stderr: []byte(msg)}, nil
			}
			c.running[svc] = !c.startDies[svc]
			return manager.Result{}, nil
		}
	}
	return manager.Result{}, fmt.Errorf("unscripted command %q", cmd)
}

func (c *svcConn) Stream(ctx context.Context, cmd string, stdout, stderr io.Writer) (int, error) {
	if strings.Contains(cmd, "OMNI_HOOK=") { // hooks_test.go
		if strings.Contains(cmd, "hook-loud") {
			return c.loudHook(stdout)
		}
		res, err := c.hookRun(ctx, cmd)
		stdout.Write(res.Stdout)
		stderr.Write(res.Stderr)
		return res.ExitCode, err
	}
	c.mu.Lock()
	c.streamed = append(c.streamed, cmd)
	_, bounded := ctx.Deadline()
	c.streamBounded = append(c.streamBounded, bounded)
	cancel := c.cancelFollow
	c.mu.Unlock()
	io.WriteString(stdout, c.logs)
	if cancel != nil {
		cancel()
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return c.streamCode, nil
}

func (c *svcConn) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network == "unix" && c.unixDial { // a real HAProxy's admin socket (drain_test.go)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return nil, errors.New("no dialling in this test")
}

type svcConnector struct{ conn *svcConn }

func (s svcConnector) Connect(context.Context, *inventory.Host) (Conn, error) {
	return s.conn, nil
}

// stepCase is one run of Execute against a svcConn.
type stepCase struct {
	name    string
	inv     string // default: stepsInventory
	req     Request
	conn    *svcConn
	edit    func(p *Plan)                                // changes the plan before it runs
	ctx     func() (context.Context, context.CancelFunc) // default: Background
	want    []string                                     // "service step status" of each result
	wantErr []string                                     // substrings of Outcome.Err; none: no error
	check   func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry)
	// seed, when set, writes records to the registry before the run.
	seed func(t *testing.T, reg registry.Registry)
	// confirm answers the confirm step's question (default: yes); asked
	// keeps what it was asked.
	confirm func(context.Context, Confirmation) error
	asked   *[]Confirmation
}

// dropSteps removes the target's tasks of the named steps from a plan.
func dropSteps(names ...StepName) func(p *Plan) {
	return func(p *Plan) {
		p.Tasks = slices.DeleteFunc(p.Tasks, func(t Task) bool {
			return t.Service == p.Service.Name && slices.Contains(names, t.Step)
		})
	}
}

func runStepCase(t *testing.T, tc stepCase) {
	t.Helper()
	if tc.inv == "" {
		tc.inv = stepsInventory
	}
	inv, err := inventory.Parse("inventory.yaml", []byte(tc.inv))
	if err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	pb, err := set.Get(tc.req.Action)
	if err != nil {
		t.Fatal(err)
	}
	tc.req.Host = "a"
	plan, err := NewPlan(inv, pb, tc.req)
	if err != nil {
		t.Fatal(err)
	}
	if tc.edit != nil {
		tc.edit(plan)
	}
	reg, err := registry.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if tc.seed != nil {
		tc.seed(t, reg)
	}
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if tc.ctx != nil {
		ctx, cancel = tc.ctx()
	}
	defer cancel()
	if tc.conn.running == nil {
		tc.conn.running = map[string]bool{}
	}
	var stdout bytes.Buffer
	confirm := func(ctx context.Context, c Confirmation) error {
		if tc.asked != nil {
			*tc.asked = append(*tc.asked, c)
		}
		if tc.confirm != nil {
			return tc.confirm(ctx, c)
		}
		return nil
	}
	out := Execute(ctx, plan, Env{Inventory: inv, Connector: svcConnector{tc.conn}, Registry: reg,
		Stdout: &stdout, Stderr: io.Discard, Confirm: confirm})
	var got []string
	for _, r := range out.Steps {
		got = append(got, r.Task.Service+" "+string(r.Task.Step)+" "+string(r.Status))
		if (r.Status == StepFailed) != (r.Err != nil) {
			t.Errorf("%s of %s: status %s, err %v", r.Task.Step, r.Task.Service, r.Status, r.Err)
		}
	}
	if !slices.Equal(got, tc.want) {
		t.Errorf("steps:\n got %q\nwant %q", got, tc.want)
	}
	switch {
	case len(tc.wantErr) == 0 && out.Err != nil:
		t.Errorf("outcome error %v, want none", out.Err)
	case len(tc.wantErr) > 0 && out.Err == nil:
		t.Errorf("no outcome error, want one with %q", tc.wantErr)
	case out.Err != nil:
		for _, w := range tc.wantErr {
			if !strings.Contains(out.Err.Error(), w) {
				t.Errorf("outcome error %q does not say %q", out.Err, w)
			}
		}
		// The failed step's error is the outcome's, and says where.
		var se *StepError
		if errors.As(out.Err, &se) && (se.Host == "" || se.Service == "" || se.Step == "") {
			t.Errorf("step error %+v does not name its host, service and step", se)
		}
	}
	if tc.check != nil {
		tc.check(t, out, tc.conn, reg)
	}
	if t.Failed() {
		t.Logf("stdout: %q", stdout.String())
	}
}

// stepNote returns the note of the first result of step on svc.
func stepNote(out *Outcome, svc string, step StepName) string {
	for _, r := range out.Steps {
		if r.Task.Service == svc && r.Task.Step == step {
			return r.Note
		}
	}
	return "(no such step)"
}

// recorded returns the registry's state of svc on a.
func recorded(t *testing.T, reg registry.Registry, svc string) string {
	t.Helper()
	rec, ok, err := reg.Get("a", svc)
	if err != nil || !ok {
		t.Fatalf("registry: %s@a: found %v, err %v", svc, ok, err)
	}
	return rec.State
}

func TestExecuteStopSteps(t *testing.T) {
	for _, tc := range []stepCase{{
		name: "stops, the verify uses what the stop saw",
		req:  Request{Action: "stop", Service: "web"},
		conn: &svcConn{running: map[string]bool{"web": true}},
		want: []string{"web stop ok", "web verify-stopped ok", "web record ok"},
		check: func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
			if n := stepNote(out, "web", StepVerifyStopped); !strings.Contains(n, "verified by the stop step") {
				t.Errorf("verify-stopped note %q", n)
			}
			if out.State.Running || out.Unchanged != "" || recorded(t, reg, "web") != "stopped" {
				t.Errorf("outcome state %+v, unchanged %q", out.State, out.Unchanged)
			}
			if out.LastActive.IsZero() {
				t.Error("no last-active time recorded for a service stopped just now")
			}
		},
	}, {
		name: "already stopped at the stop step: nothing to do, still recorded",
		req:  Request{Action: "stop", Service: "web"},
		conn: &svcConn{},
		want: []string{"web stop ok", "web record ok"},
		check: func(t *testing.T, out *Outcome, _ *svcConn, reg registry.Registry) {
			if out.Unchanged != "already stopped" || stepNote(out, "web", StepStop) != "already stopped" {
				t.Errorf("unchanged %q, stop note %q", out.Unchanged, stepNote(out, "web", StepStop))
			}
			if recorded(t, reg, "web") != "stopped" {
				t.Error("not recorded as stopped")
			}
		},
	}, {
		name: "already stopped at the confirm: no question, nothing to do",
		req:  Request{Action: "stop", Service: "db"},
		conn: &svcConn{},
		want: []string{"db confirm ok", "db record ok"},
		check: func(t *testing.T, out *Outcome, _ *svcConn, _ registry.Registry) {
			if out.Unchanged != "already stopped" {
				t.Errorf("unchanged %q", out.Unchanged)
			}
		},
	}, {
		name:    "the stop fails: the verify does not run, the state is recorded",
		req:     Request{Action: "stop", Service: "web"},
		conn:    &svcConn{running: map[string]bool{"web": true}, stopOut: map[string]string{"web": "pid=4211\nresult=still-running\n"}},
		want:    []string{"web stop failed", "web record ok"},
		wantErr: []string{"a: web: stop: ", "still running after SIGKILL (pid 4211)"},
		check: func(t *testing.T, out *Outcome, _ *svcConn, reg registry.Registry) {
			if !out.State.Running || recorded(t, reg, "web") != "running" {
				t.Errorf("outcome state %+v: want the running state recorded", out.State)
			}
		},
	}, {
		name: "the stop times out",
		req:  Request{Action: "stop", Service: "web"},
		conn: &svcConn{running: map[string]bool{"web": true}, stopBlocks: map[string]bool{"web": true}},
		edit: func(p *Plan) {
			for i := range p.Tasks {
				if p.Tasks[i].Step == StepStop {
					p.Tasks[i].Timeout = 50 * time.Millisecond
				}
			}
		},
		want:    []string{"web stop failed", "web record ok"},
		wantErr: []string{"a: web: stop: timed out after 50ms"},
		check: func(t *testing.T, out *Outcome, _ *svcConn, _ registry.Registry) {
			var te *TimeoutError
			if !errors.As(out.Err, &te) || te.After != 50*time.Millisecond {
				t.Errorf("outcome error %v is not the step's timeout", out.Err)
			}
		},
	}, {
		name:    "verify-stopped reads the host: still running fails, naming the pid",
		req:     Request{Action: "stop", Service: "web"},
		conn:    &svcConn{running: map[string]bool{"web": true}},
		edit:    dropSteps(StepStop),
		want:    []string{"web verify-stopped failed", "web record ok"},
		wantErr: []string{"a: web: verify-stopped: still running (pid 4211)"},
	}, {
		name: "verify-stopped reads the host: stopped",
		req:  Request{Action: "stop", Service: "web"},
		conn: &svcConn{},
		edit: dropSteps(StepStop),
		want: []string{"web verify-stopped ok", "web record ok"},
		check: func(t *testing.T, out *Outcome, _ *svcConn, _ registry.Registry) {
			if n := stepNote(out, "web", StepVerifyStopped); n != "stopped" {
				t.Errorf("verify-stopped note %q, want the state read", n)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) { runStepCase(t, tc) })
	}
}

func TestExecuteStartSteps(t *testing.T) {
	for _, tc := range []stepCase{{
		name: "already running: unchanged, still recorded",
		req:  Request{Action: "start", Service: "db"},
		conn: &svcConn{running: map[string]bool{"db": true}},
		want: []string{"db check-stopped ok", "db record ok"},
		check: func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
			if out.Unchanged != "already running" || stepNote(out, "db", StepCheckStopped) != "already running" {
				t.Errorf("unchanged %q, check-stopped note %q", out.Unchanged, stepNote(out, "db", StepCheckStopped))
			}
			if len(c.starts) != 0 {
				t.Errorf("started %v, want nothing started", c.starts)
			}
			if !out.State.Running || out.Uptime < 75*time.Second || recorded(t, reg, "db") != "running" {
				t.Errorf("outcome state %+v, uptime %s", out.State, out.Uptime)
			}
		},
	}, {
		name: "starts, health passes, the record uses the state the health check read",
		req:  Request{Action: "start", Service: "db"},
		conn: &svcConn{},
		want: []string{"db check-stopped ok", "db check-deps ok", "db start ok", "db health ok", "db record ok"},
		check: func(t *testing.T, out *Outcome, _ *svcConn, reg registry.Registry) {
			if out.Health == nil || !out.Health.Passed() || !out.State.Running {
				t.Errorf("health %+v, state %+v", out.Health, out.State)
			}
			rec, _, _ := reg.Get("a", "db")
			if rec.State != "running" || rec.Health != "passed" {
				t.Errorf("registry: %+v", rec)
			}
		},
	}, {
		name:    "the start fails: its error and the log tail are kept, the stopped state recorded",
		req:     Request{Action: "start", Service: "db"},
		conn:    &svcConn{startErr: map[string]string{"db": "db: no config"}, logs: "db: reading /etc/db.conf: no such file\n"},
		want:    []string{"db check-stopped ok", "db check-deps ok", "db start failed", "db record ok"},
		wantErr: []string{"a: db: start: start command", "db: no config"},
		check: func(t *testing.T, out *Outcome, _ *svcConn, reg registry.Registry) {
			var le *manager.LogError
			if !errors.As(out.Err, &le) || !slices.Contains(le.Tail.Lines, "db: reading /etc/db.conf: no such file") {
				t.Errorf("outcome error %v does not carry the log tail", out.Err)
			}
			if out.State.Running || recorded(t, reg, "db") != "stopped" {
				t.Errorf("outcome state %+v", out.State)
			}
		},
	}, {
		name:    "started but dead: the health check fails with the log tail",
		req:     Request{Action: "start", Service: "db"},
		conn:    &svcConn{startDies: map[string]bool{"db": true}, logs: "db: segfault\n"},
		want:    []string{"db check-stopped ok", "db check-deps ok", "db start ok", "db health failed", "db record ok"},
		wantErr: []string{"a: db: health: ", "process"},
		check: func(t *testing.T, out *Outcome, _ *svcConn, reg registry.Registry) {
			var le *manager.LogError
			if !errors.As(out.Err, &le) || !slices.Contains(le.Tail.Lines, "db: segfault") {
				t.Errorf("outcome error %v does not carry the log tail", out.Err)
			}
			rec, _, _ := reg.Get("a", "db")
			if out.Health == nil || out.Health.Passed() || !strings.HasPrefix(rec.Health, "failed: ") {
				t.Errorf("health %+v, recorded %q", out.Health, rec.Health)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) { runStepCase(t, tc) })
	}
}

// TestExecuteRecordsAfterAnInterrupt: a run interrupted (Ctrl-C) during
// the start fails that step as interrupted, and still runs the target's
// record step, on a context of its own, so the registry says what the
// service was left as.
func TestExecuteRecordsAfterAnInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	runStepCase(t, stepCase{
		req:     Request{Action: "start", Service: "db"},
		conn:    &svcConn{startCancels: cancel},
		ctx:     func() (context.Context, context.CancelFunc) { return ctx, cancel },
		want:    []string{"db check-stopped ok", "db check-deps ok", "db start failed", "db record ok"},
		wantErr: []string{"a: db: start: interrupted: context canceled"},
		check: func(t *testing.T, out *Outcome, _ *svcConn, reg registry.Registry) {
			if !errors.Is(out.Err, context.Canceled) {
				t.Errorf("outcome error %v is not the interrupt", out.Err)
			}
			if recorded(t, reg, "db") != "stopped" || out.State.Status != "stopped" {
				t.Errorf("outcome state %+v", out.State)
			}
		},
	})
}

func TestExecuteLogsStep(t *testing.T) {
	for _, tc := range []stepCase{{
		name: "prints the last lines",
		req:  Request{Action: "logs", Service: "web", Lines: 7},
		conn: &svcConn{logs: "web: listening\n"},
		want: []string{"web logs ok"},
		check: func(t *testing.T, _ *Outcome, c *svcConn, _ registry.Registry) {
			if len(c.streamed) != 1 || !strings.Contains(c.streamed[0], "logs-web") || !strings.Contains(c.streamed[0], "OMNI_LINES=7") ||
				!strings.Contains(c.streamed[0], "OMNI_FOLLOW=0") {
				t.Errorf("streamed %q, want web's logs command with 7 lines, no follow", c.streamed)
			}
			if !c.streamBounded[0] {
				t.Error("the logs command of a run without --follow has no deadline")
			}
		},
	}, {
		name:    "the logs command fails",
		req:     Request{Action: "logs", Service: "web", Lines: 7},
		conn:    &svcConn{streamCode: 3},
		want:    []string{"web logs failed"},
		wantErr: []string{"a: web: logs: logs command exited with status 3"},
	}} {
		t.Run(tc.name, func(t *testing.T) { runStepCase(t, tc) })
	}
	// --follow streams without a deadline until Ctrl-C, which ends it cleanly.
	t.Run("follow until interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		runStepCase(t, stepCase{
			req:  Request{Action: "logs", Service: "web", Lines: 7, Follow: true},
			conn: &svcConn{logs: "web: listening\n", cancelFollow: cancel},
			ctx:  func() (context.Context, context.CancelFunc) { return ctx, cancel },
			want: []string{"web logs ok"},
			check: func(t *testing.T, out *Outcome, c *svcConn, _ registry.Registry) {
				if n := stepNote(out, "web", StepLogs); n != "stopped following" {
					t.Errorf("logs note %q", n)
				}
				if len(c.streamed) != 1 || !strings.Contains(c.streamed[0], "OMNI_FOLLOW=1") || c.streamBounded[0] {
					t.Errorf("streamed %q (deadline %v), want a follow without a deadline", c.streamed, c.streamBounded)
				}
			},
		})
	})
}

func TestExecuteEnsureStep(t *testing.T) {
	// db's health also checks its port, which nothing answers here: a
	// running db is unhealthy.
	unhealthyDB := strings.Replace(stepsInventory, "health: {process: true,", "health: {port: 5432, process: true,", 1)
	for _, tc := range []stepCase{{
		name: "a stopped dependency is started, health-checked and recorded first",
		req:  Request{Action: "start", Service: "web"},
		conn: &svcConn{},
		want: []string{"web check-stopped ok", "db ensure ok", "web start ok", "web health ok", "web record ok"},
		check: func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
			if n := stepNote(out, "db", StepEnsure); n != "started" {
				t.Errorf("ensure note %q", n)
			}
			if !slices.Equal(c.starts, []string{"db", "web"}) || recorded(t, reg, "db") != "running" {
				t.Errorf("started %v, want db then web, db recorded running", c.starts)
			}
		},
	}, {
		name: "a running, healthy dependency is left alone",
		req:  Request{Action: "start", Service: "web"},
		conn: &svcConn{running: map[string]bool{"db": true}},
		want: []string{"web check-stopped ok", "db ensure ok", "web start ok", "web health ok", "web record ok"},
		check: func(t *testing.T, out *Outcome, c *svcConn, _ registry.Registry) {
			if n := stepNote(out, "db", StepEnsure); n != "running and healthy" {
				t.Errorf("ensure note %q", n)
			}
			if !slices.Equal(c.starts, []string{"web"}) {
				t.Errorf("started %v, want web only", c.starts)
			}
		},
	}, {
		name:    "the dependency's start fails: the target is not started",
		req:     Request{Action: "start", Service: "web"},
		conn:    &svcConn{startErr: map[string]string{"db": "db: no config"}},
		want:    []string{"web check-stopped ok", "db ensure failed", "web record ok"},
		wantErr: []string{"a: db: ensure: starting dependency db@a: start command", "db: no config"},
		check: func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
			if slices.Contains(c.starts, "web") || recorded(t, reg, "web") != "stopped" {
				t.Errorf("started %v: web must stay stopped", c.starts)
			}
		},
	}, {
		name:    "the dependency starts but fails its health check: recorded, the target not started",
		req:     Request{Action: "start", Service: "web"},
		conn:    &svcConn{startDies: map[string]bool{"db": true}, logs: "db: exited: bad config\n"},
		want:    []string{"web check-stopped ok", "db ensure failed", "web record ok"},
		wantErr: []string{"a: db: ensure: dependency db@a failed its health check: process"},
		check: func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
			var le *manager.LogError
			if !errors.As(out.Err, &le) || !slices.Contains(le.Tail.Lines, "db: exited: bad config") {
				t.Errorf("outcome error %v does not carry db's log tail", out.Err)
			}
			if slices.Contains(c.starts, "web") || recorded(t, reg, "db") != "stopped" {
				t.Errorf("started %v; db must be recorded as it was left", c.starts)
			}
		},
	}, {
		name:    "a running but unhealthy dependency is not restarted: the run fails",
		inv:     unhealthyDB,
		req:     Request{Action: "start", Service: "web"},
		conn:    &svcConn{running: map[string]bool{"db": true}},
		want:    []string{"web check-stopped ok", "db ensure failed", "web record ok"},
		wantErr: []string{"a: db: ensure: dependency db@a is running but unhealthy", "port 5432"},
		check: func(t *testing.T, _ *Outcome, c *svcConn, _ registry.Registry) {
			if len(c.starts) != 0 {
				t.Errorf("started %v, want nothing", c.starts)
			}
		},
	}, {
		name:    "--no-deps: an unhealthy dependency is named, nothing started",
		inv:     unhealthyDB,
		req:     Request{Action: "start", Service: "web", NoDeps: true},
		conn:    &svcConn{running: map[string]bool{"db": true}},
		want:    []string{"web check-stopped ok", "web check-deps failed", "web record ok"},
		wantErr: []string{"a: web: check-deps: required services are not running and healthy: db@a (unhealthy", "without --no-deps"},
		check: func(t *testing.T, _ *Outcome, c *svcConn, _ registry.Registry) {
			if len(c.starts) != 0 {
				t.Errorf("started %v, want nothing", c.starts)
			}
		},
	}, {
		name: "--no-deps: a healthy dependency satisfies",
		req:  Request{Action: "start", Service: "web", NoDeps: true},
		conn: &svcConn{running: map[string]bool{"db": true}},
		want: []string{"web check-stopped ok", "web check-deps ok", "web start ok", "web health ok", "web record ok"},
	}} {
		t.Run(tc.name, func(t *testing.T) { runStepCase(t, tc) })
	}
}

func TestExecuteDependentsSteps(t *testing.T) {
	var asked []Confirmation
	for _, tc := range []stepCase{{
		name: "restart without --cascade: the running dependents are reported, not restarted",
		req:  Request{Action: "restart", Service: "db"},
		conn: &svcConn{running: map[string]bool{"db": true, "web": true}},
		want: []string{"db check-deps ok", "db find-dependents ok", "db stop ok", "db verify-stopped ok", "db start ok",
			"db health ok", "db record ok", "db report-dependents ok"},
		check: func(t *testing.T, out *Outcome, c *svcConn, _ registry.Registry) {
			if n := stepNote(out, "db", StepFindDependents); n != "running: web@a" {
				t.Errorf("find-dependents note %q", n)
			}
			if !slices.Equal(out.NotRestarted, []Instance{{Host: "a", Service: "web"}}) {
				t.Errorf("not restarted: %v, want web@a", out.NotRestarted)
			}
			if n := stepNote(out, "db", StepReportDependents); n != "1 running dependents not restarted" {
				t.Errorf("report-dependents note %q", n)
			}
			if !slices.Equal(c.starts, []string{"db"}) {
				t.Errorf("started %v, want db only", c.starts)
			}
		},
	}, {
		name: "restart --cascade: every running dependent is restarted after it",
		req:  Request{Action: "restart", Service: "db", Cascade: true},
		conn: &svcConn{running: map[string]bool{"db": true, "web": true, "api": true}},
		want: []string{"db check-deps ok", "db find-dependents ok", "db stop ok", "db verify-stopped ok", "db start ok", "db health ok", "db record ok",
			"web stop ok", "web verify-stopped ok", "web start ok", "web health ok", "web record ok",
			"api stop ok", "api verify-stopped ok", "api start ok", "api health ok", "api record ok"},
		check: func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
			if len(out.NotRestarted) != 0 || !slices.Equal(c.starts, []string{"db", "web", "api"}) {
				t.Errorf("not restarted %v, started %v", out.NotRestarted, c.starts)
			}
			for _, svc := range []string{"db", "web", "api"} {
				if recorded(t, reg, svc) != "running" {
					t.Errorf("%s not recorded as running", svc)
				}
			}
		},
	}, {
		name: "stop --cascade: a running dependent is stopped first, a stopped one left alone",
		req:  Request{Action: "stop", Service: "db", Cascade: true},
		conn: &svcConn{running: map[string]bool{"db": true, "api": true}},
		want: []string{"db confirm ok",
			"api stop ok", "api verify-stopped ok", "api record ok",
			"web stop skipped", "web verify-stopped skipped", "web record skipped",
			"db stop ok", "db verify-stopped ok", "db record ok"},
		asked: &asked,
		check: func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
			if len(asked) != 1 || !slices.Equal(asked[0].Running, []Instance{{Host: "a", Service: "api"}}) || !asked[0].Cascade {
				t.Errorf("asked %+v, want one question naming api@a, with --cascade", asked)
			}
			if c.running["api"] || c.running["db"] || recorded(t, reg, "api") != "stopped" {
				t.Errorf("running %v, want api and db stopped", c.running)
			}
		},
	}, {
		name: "stop refused: nothing changes",
		req:  Request{Action: "stop", Service: "db"},
		conn: &svcConn{running: map[string]bool{"db": true, "web": true}},
		confirm: func(context.Context, Confirmation) error {
			return errors.New("not confirmed")
		},
		want:    []string{"db confirm failed", "db record ok"},
		wantErr: []string{"not confirmed"},
		check: func(t *testing.T, out *Outcome, c *svcConn, _ registry.Registry) {
			var refused *RefusedError
			if !errors.As(out.Err, &refused) || !c.running["db"] {
				t.Errorf("outcome error %v is not a refusal, or db was stopped", out.Err)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) { runStepCase(t, tc) })
	}
}
