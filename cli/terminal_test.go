package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/historytest"
	"github.com/omni-fleet/omni/registry"
)

// outputs renders each wide table three ways: on a terminal of 80 and of
// 200 columns, and piped.
var outputs = []struct {
	name  string
	tty   bool
	width int
}{{"80", true, 80}, {"200", true, 200}, {"piped", false, 0}}

func streamsFor(tty bool, width int) (Streams, *bytes.Buffer, *bytes.Buffer) {
	s, out, errOut := TestStreams("", tty)
	s.Width = width
	return s, out, errOut
}

// checkFits fails when a line of a table is wider than width (0: no
// limit), or when piped output has box drawing, check marks or escape
// codes.
func checkFits(t *testing.T, out string, tty bool, width int) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if w := twwidth.Width(line); width > 0 && w > width && strings.ContainsAny(line, "│┌└├") {
			t.Errorf("line of %d columns on a terminal of %d:\n%s", w, width, line)
		}
	}
	if !tty && strings.ContainsAny(out, "│─┌┐└┘├┤┬┴┼✓✗\x1b") {
		t.Errorf("piped output has box drawing, marks or escape codes:\n%s", out)
	}
}

// TestDryRunTablesFit: the plan of a stop --cascade (13 tasks over 4
// services) and of a start with dependencies, golden at 80 and 200
// columns and piped.
func TestDryRunTablesFit(t *testing.T) {
	for _, cmd := range []struct{ name, action, host, service, flag string }{
		{"stop-cascade", "stop", "worker1", "network-agent", "--cascade"},
		{"start-deps", "start", "worker1", "container-runtime", "--verbose"},
		{"fleet-restart", "restart", "worker", "container-runtime", "--verbose"},
	} {
		for _, o := range outputs {
			t.Run(cmd.name+"-"+o.name, func(t *testing.T) {
				s, out, errOut := streamsFor(o.tty, o.width)
				args := []string{"-i", "../examples/inventory.yaml", "service", cmd.action, cmd.host, cmd.service, cmd.flag, "--dry-run"}
				if code := Run(context.Background(), args, s); code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				checkFits(t, out.String(), o.tty, o.width)
				compareGolden(t, "dryrun-"+cmd.name+"-"+o.name+".golden", out.Bytes())
			})
		}
	}
}

// TestFleetReportFits: a rolling restart's report with a long error.
func TestFleetReportFits(t *testing.T) {
	passed := &health.Report{Checks: []health.Result{{Check: "process", Passed: true, Attempts: 1}}}
	running := func(pid int, up time.Duration) *engine.Outcome {
		return &engine.Outcome{State: manager.State{Running: true, Status: "running", PID: pid}, Uptime: up, Health: passed, Steps: recordedSteps()}
	}
	rep := &engine.FleetReport{Hosts: []*engine.HostReport{
		{Host: "worker1", Service: "container-runtime", Batch: 1, Result: engine.HostDone, Outcome: running(4242, 7*time.Second), Duration: 6512 * time.Millisecond},
		{Host: "worker2", Service: "container-runtime", Batch: 2, Result: engine.HostFailed, Duration: 2100 * time.Millisecond,
			Err: &engine.StepError{Host: "worker2", Service: "container-runtime", Step: "health",
				Err: errors.New("http: GET http://10.20.0.12:7450/healthz: status 503, want 200 (after 11 attempts); journal: container-runtime[4242]: cannot open /var/lib/container-runtime/state.db: permission denied")}},
		{Host: "worker3", Service: "container-runtime", Result: engine.HostUntouched},
	}, Aborted: "1 host failed, more than --max-failures 0: no new host was touched"}
	opts := &serviceOptions{Action: "restart", Host: "worker", Service: "container-runtime", Forks: 20, Batch: "1", MaxFailures: "0", MinReady: 5 * time.Second}
	fo := engine.FleetOptions{Rolling: true, Batch: 1, MaxUnavailable: 1, Forks: 20}
	for _, o := range outputs {
		t.Run(o.name, func(t *testing.T) {
			s, out, _ := streamsFor(o.tty, o.width)
			if err := renderFleetTable(s, nil, opts, fo, rep, ExitPartial); err != nil {
				t.Fatal(err)
			}
			checkFits(t, out.String(), o.tty, o.width)
			compareGolden(t, "fleet-report-"+o.name+".golden", out.Bytes())
		})
	}
}

// TestStatusTableFits: an unreachable host shows "Unreachable" on each of
// its rows and its error once, on stderr.
func TestStatusTableFits(t *testing.T) {
	up := int64(3725)
	at := time.Date(2026, 3, 18, 15, 45, 27, 0, time.UTC)
	unreachable := &transport.UnreachableError{Host: "worker2", Address: "10.20.0.12:22",
		Reason: "timed out after 10s during SSH handshake (ProxyJump primary-bastion): dial tcp 10.20.0.12:22: i/o timeout; check the address, the port and that sshd runs"}
	rows := []statusRow{
		{Host: "worker1", Service: "network-agent", State: "running", PID: 311, UptimeSeconds: &up, Health: "passed", RecordedState: "running", RecordedAt: &at},
		{Host: "worker1", Service: "container-runtime", State: "stopped", Health: "", RecordedState: "stopped", RecordedAt: &at, LastActive: &at},
	}
	var failed []engine.InstanceStatus
	for _, svc := range []string{"network-agent", "container-runtime", "storage-agent"} {
		rows = append(rows, statusRow{Host: "worker2", Service: svc, State: "unknown", Error: unreachable.Error()})
		failed = append(failed, engine.InstanceStatus{Instance: engine.Instance{Host: "worker2", Service: svc}, Err: unreachable})
	}
	for _, o := range outputs {
		t.Run(o.name, func(t *testing.T) {
			s, out, errOut := streamsFor(o.tty, o.width)
			if err := renderStatusTable(s, rows, failed); err != nil {
				t.Fatal(err)
			}
			writeStatusProblems(s.Err, rows, failed, nil)
			checkFits(t, out.String(), o.tty, o.width)
			if strings.Contains(out.String(), "timed out") || strings.Count(out.String(), "Unreachable") != 3 {
				t.Errorf("the rows should say Unreachable, without the error:\n%s", out)
			}
			if n := strings.Count(errOut.String(), unreachable.Reason); n != 1 {
				t.Errorf("the error is said %d times, want once:\n%s", n, errOut)
			}
			if !strings.Contains(errOut.String(), "omni: worker2 (network-agent, container-runtime, storage-agent): worker2 (10.20.0.12:22): unreachable: ") {
				t.Errorf("stderr: %s", errOut)
			}
			compareGolden(t, "status-"+o.name+".golden", out.Bytes())
		})
	}
}

// TestHistoryTableFits: `service history` over a registry of a few
// operations, one failed with a long error, one of a fleet run.
func TestHistoryTableFits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	reg, err := registry.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 18, 15, 45, 27, 0, time.UTC)
	for i, ev := range []registry.Event{
		{Operator: "ops@control-1", Command: "restart worker1 container-runtime", Host: "worker1", Service: "container-runtime", Result: "ok"},
		{Operator: "ops@control-1", Command: "stop --cascade worker1 network-agent", Host: "worker1", Service: "network-agent", Result: "failed",
			Error: "worker1/network-agent: stop: still running 30s after systemctl stop omni-network-agent.service (SIGKILL sent); journal: network-agent[311]: refusing to exit while 3 overlay routes are in use"},
		{Operator: "ops@control-1", Command: "restart worker container-runtime", Target: "worker", Hosts: []registry.HostResult{{Host: "worker1"}, {Host: "worker2"}, {Host: "worker3"}}, Service: "container-runtime", Result: "partial"},
	} {
		ev.Started = at.Add(time.Duration(i) * time.Minute)
		ev.Finished, ev.Complete = ev.Started.Add(4200*time.Millisecond), true
		historytest.Record(t, reg, ev)
	}
	reg.Close()
	for _, o := range outputs {
		t.Run(o.name, func(t *testing.T) {
			s, out, errOut := streamsFor(o.tty, o.width)
			if code := Run(context.Background(), []string{"-i", "../examples/inventory.yaml", "--registry", path, "service", "history"}, s); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			checkFits(t, out.String(), o.tty, o.width)
			if !strings.Contains(out.String(), "worker (3 hosts)") {
				t.Errorf("fleet run row:\n%s", out)
			}
			compareGolden(t, "history-"+o.name+".golden", out.Bytes())
		})
	}
}

// TestTerminalWidth: COLUMNS wins, then the terminal's size, then 80.
func TestTerminalWidth(t *testing.T) {
	size := func(w int, err error) func() (int, error) { return func() (int, error) { return w, err } }
	for _, c := range []struct {
		columns string
		size    func() (int, error)
		want    int
	}{
		{"132", size(100, nil), 132},
		{"", size(100, nil), 100},
		{"junk", size(0, errors.New("not a terminal")), 80},
		{"0", size(0, nil), 80},
	} {
		if got := terminalWidth(c.columns, c.size); got != c.want {
			t.Errorf("terminalWidth(%q) = %d, want %d", c.columns, got, c.want)
		}
	}
}

// TestPipedOutputIsPlain: piped, the result lines have no marks and the
// tables no box drawing.
func TestPipedOutputIsPlain(t *testing.T) {
	s, out, _ := TestStreams("", false)
	if code := Run(context.Background(), []string{"-i", "../examples/inventory.yaml", "inventory", "check"}, s); code != 0 {
		t.Fatalf("exit %d", code)
	}
	checkFits(t, out.String(), false, 0)
	if !strings.HasPrefix(out.String(), "HOST  ") || !strings.Contains(out.String(), "\n../examples/inventory.yaml is valid: 6 hosts, 4 roles, 9 services (8 enabled).\n") {
		t.Fatalf("inventory check piped:\n%s", out)
	}
	plan := goldenPlan("restart", "primary-bastion", "api-gateway", "", false)
	s, out, _ = TestStreams("", false)
	renderOutcome(s, plan, &engine.Outcome{State: manager.State{Running: true, Status: "running"}, Uptime: 5 * time.Second, Steps: recordedSteps()})
	if !strings.HasPrefix(out.String(), "Service restarted successfully!\n") {
		t.Fatalf("piped result line: %q", out)
	}
}

// TestConfirmationOnOneStream: when omni asks, the impact and the
// question are written to stderr, in order, and nothing of them to
// stdout (which may be a pipe to tee); with --yes the impact is on stdout.
func TestConfirmationOnOneStream(t *testing.T) {
	plan := goldenPlan("stop", "worker1", "container-runtime", "This will affect all running containers on this host.", true)
	c := engine.Confirmation{Impact: plan.Confirm.Impact, Running: []engine.Instance{{Host: "worker1", Service: "storage-agent"}}}
	s, out, errOut := TestStreams("y\n", true)
	if err := confirm(context.Background(), s, plan, c, false); err != nil {
		t.Fatal(err)
	}
	want := "This will affect all running containers on this host.\n1 running service depends on container-runtime on worker1: storage-agent@worker1\nAre you sure? [y/N] \n"
	if errOut.String() != want || out.Len() != 0 {
		t.Fatalf("stderr %q (want %q), stdout %q", errOut, want, out)
	}
	s, out, errOut = TestStreams("", true)
	if err := confirm(context.Background(), s, plan, c, true); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "This will affect") || errOut.Len() != 0 {
		t.Fatalf("--yes: stdout %q, stderr %q", out, errOut)
	}
}

// TestRefusalIsNotAFailure: answering n says what was not done, exit 5;
// Ctrl-C at the question says "interrupted", exit 130.
func TestRefusalIsNotAFailure(t *testing.T) {
	plan := goldenPlan("stop", "worker1", "container-runtime", "This will affect all running containers on this host.", true)
	for _, c := range []struct {
		input  string
		cancel bool
		want   string
		code   int
	}{
		{"n\n", false, "Not stopped: not confirmed; nothing was changed.\n", ExitRefused},
		{"", true, "Not stopped: interrupted at the confirmation; nothing was changed.\n", ExitInterrupted},
	} {
		s, _, errOut := TestStreams(c.input, true)
		s.In = blockingIfEmpty(c.input)
		ctx, cancel := context.WithCancel(context.Background())
		if c.cancel {
			cancel()
		}
		err := confirm(ctx, s, plan, *plan.Confirm, false)
		cancel()
		if err == nil {
			t.Fatal("confirmed")
		}
		errOut.Reset()
		got := renderOutcome(s, plan, &engine.Outcome{Err: &engine.RefusedError{Err: err}})
		if errOut.String() != c.want || exitCode(got) != c.code && reportedCode(got) != c.code {
			t.Errorf("stderr %q, want %q; exit %d", errOut, c.want, reportedCode(got))
		}
		if strings.Contains(errOut.String(), "Failed") || strings.Contains(errOut.String(), "context canceled") {
			t.Errorf("stderr %q", errOut)
		}
	}
}

// blockingIfEmpty is the input, or a terminal nobody types on.
func blockingIfEmpty(input string) io.Reader {
	if input == "" {
		r, _ := io.Pipe()
		return r
	}
	return strings.NewReader(input)
}

// TestContextErrorsInWords: Go's context errors never reach the operator raw.
func TestContextErrorsInWords(t *testing.T) {
	for err, want := range map[error]string{
		&engine.StepError{Step: "stop", Err: fmt.Errorf("interrupted: %w", context.Canceled)}: "stop: interrupted",
		fmt.Errorf("health: %w", context.DeadlineExceeded):                                    "health: timed out",
		fmt.Errorf("lock: %w", context.Canceled):                                              "lock: interrupted",
	} {
		if got := engine.Failure(err); got != want {
			t.Errorf("engine.Failure(%q) = %q, want %q", err, got, want)
		}
	}
}

// TestProgressClearsFromTheFirstColumn: the live region is erased from
// the first column (after ^C the cursor is not there), on close too.
func TestProgressClearsFromTheFirstColumn(t *testing.T) {
	var buf bytes.Buffer
	s := Streams{Err: &buf, ErrTTY: true, NoColor: true}
	p := newProgress(s, &serviceOptions{Action: "restart", Service: "api", Host: "bastion"}, engine.FleetOptions{Forks: 1}, 1)
	p.event(engine.FleetEvent{Kind: engine.EventStart, Host: "h1", Time: time.Now()})
	buf.WriteString("^C") // what the terminal echoes
	p.close()
	got := buf.String()
	if !strings.HasSuffix(got, "^C\r\x1b[2A\x1b[J") {
		t.Fatalf("the live region is not erased from the first column: %q", got)
	}
	if !strings.HasPrefix(got, "restart api on 1 host of bastion") {
		t.Fatalf("header: %q", got)
	}
}
