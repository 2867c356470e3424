package engine

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
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

// allSteps is every StepName constant; the registry must list each once.
var allSteps = []StepName{StepConfirm, StepCheckStopped, StepCheckDeps, StepEnsure, StepFindDependents, StepConfig,
	StepPreStop, StepDrain, StepStop, StepVerifyStopped, StepPostStop, StepPreStart, StepStart, StepHealth, StepPostStart,
	StepUndrain, StepRecord, StepReportDependents, StepLogs}

// TestStepRegistry: the registry lists every step once; the vocabulary
// handed to the playbooks package is exactly its playbook steps, in plan
// order, with the safety rules the built-ins rely on.
func TestStepRegistry(t *testing.T) {
	var names []StepName
	for _, s := range Steps() {
		names = append(names, s.Name)
		if s.Summary == "" || s.Timeout == "" {
			t.Errorf("%s: no summary or timeout rule", s.Name)
		}
	}
	if !slices.Equal(names, allSteps) {
		t.Fatalf("registry %v, want %v", names, allSteps)
	}
	var vocab []string
	var decideFirst, last, changes, grace []string
	for _, r := range Vocabulary() {
		vocab = append(vocab, r.Name)
		if info, ok := LookupStep(StepName(r.Name)); !ok || !info.Playbook {
			t.Errorf("vocabulary step %q is not a playbook step of the registry", r.Name)
		}
		for _, f := range []struct {
			on   bool
			list *[]string
		}{{r.DecideFirst, &decideFirst}, {r.Last, &last}, {r.Changes, &changes}, {r.Grace, &grace}} {
			if f.on {
				*f.list = append(*f.list, r.Name)
			}
		}
	}
	want := "confirm check-stopped check-deps stop verify-stopped start health record logs"
	if got := strings.Join(vocab, " "); got != want {
		t.Errorf("vocabulary %q, want %q", got, want)
	}
	for _, c := range []struct {
		what string
		got  []string
		want string
	}{{"decide first", decideFirst, "confirm check-deps"}, {"last", last, "record"},
		{"changes", changes, "stop start"}, {"grace", grace, "stop"}} {
		if strings.Join(c.got, " ") != c.want {
			t.Errorf("%s: %v, want %s", c.what, c.got, c.want)
		}
	}
	if _, ok := LookupStep("halt"); ok {
		t.Error("LookupStep found a step that does not exist")
	}
}

// TestDefaultTimeoutsFollowTheRegistry: a step's bound, when its playbook
// sets none, is the registry's rule; a playbook's timeout replaces it.
func TestDefaultTimeoutsFollowTheRegistry(t *testing.T) {
	inv := cascadeInventory(t)
	inv.Defaults.CommandTimeout = 7 * time.Second
	host, _ := inv.Host("a")
	svc, _ := inv.Service("db")
	svc.StartTimeout, svc.StopGrace = 11*time.Second, 3*time.Second
	want := map[StepName]time.Duration{
		StepCheckStopped: 7 * time.Second, StepVerifyStopped: 7 * time.Second, StepRecord: 7 * time.Second,
		StepLogs: 7 * time.Second, StepStart: 11 * time.Second, StepStop: 3*time.Second + stopMargin,
		StepHealth: 0,
	}
	for name, d := range want {
		if got := stepTask(inv, playbooks.Step{Name: string(name)}, host, svc, Request{Lines: 1}).Timeout; got != d {
			t.Errorf("%s: default timeout %s, want %s", name, got, d)
		}
		if got := stepTask(inv, playbooks.Step{Name: string(name), Timeout: time.Minute}, host, svc, Request{Lines: 1}).Timeout; got != time.Minute {
			t.Errorf("%s: playbook timeout 1m gave %s", name, got)
		}
	}
	if got := stepTask(inv, playbooks.Step{Name: "logs"}, host, svc, Request{Follow: true}).Timeout; got != 0 {
		t.Errorf("logs -f: timeout %s, want none", got)
	}
	if got := stepTask(inv, playbooks.Step{Name: "stop", Grace: time.Minute}, host, svc, Request{}); got.Grace != time.Minute || got.Timeout != time.Minute+stopMargin {
		t.Errorf("stop with grace 1m: grace %s timeout %s", got.Grace, got.Timeout)
	}
}

// TestDocsListThePlaybookSteps: docs/playbooks.md's table of steps names
// exactly the steps a playbook may use.
func TestDocsListThePlaybookSteps(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "playbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(b)
	if i := strings.Index(section, "\n## Steps\n"); i >= 0 {
		section = section[i+1:]
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z-]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}
	var vocab []string
	for _, r := range Vocabulary() {
		vocab = append(vocab, r.Name)
	}
	if !slices.Equal(documented, vocab) {
		t.Errorf("docs/playbooks.md lists %v, the engine's playbook steps are %v", documented, vocab)
	}
}

// cascadeInventory: on host a, db is needed by web and api (command
// manager, no health checks but the process).
func cascadeInventory(t *testing.T) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Parse("inventory.yaml", []byte(strings.Join([]string{
		"version: 1",
		"defaults: {manager: command}",
		"hosts:",
		"  a: {address: 10.0.0.1, roles: [app]}",
		"roles:",
		"  app: [db, web, api]",
		"services:",
		"  db: {commands: {start: 'start-db', status: 'status-db'}}",
		"  web: {requires: [db], commands: {start: 'start-web', status: 'status-web'}}",
		"  api: {requires: [db], commands: {start: 'start-api', status: 'status-api'}}",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// playedConn plays a host's services for the command manager: status
// reads the running set, the stop script stops, a start command starts
// (or fails, for the services in failStart).
type playedConn struct {
	mu        sync.Mutex
	running   map[string]bool
	failStart map[string]bool
}

func (c *playedConn) Run(ctx context.Context, cmd string) (manager.Result, error) {
	if mark := partMark.FindString(cmd); mark != "" {
		return playRestart(ctx, cmd, mark, c.Run) // restart_fused_test.go
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, svc := range []string{"db", "web", "api"} {
		switch {
		case strings.Contains(cmd, "status-"+svc) && strings.Contains(cmd, "result="): // the stop script
			c.running[svc] = false
			return manager.Result{Stdout: []byte("pid=\nresult=stopped\n")}, nil
		case strings.Contains(cmd, "status-"+svc):
			if c.running[svc] {
				return manager.Result{Stdout: []byte("rc=0\npid=\n")}, nil
			}
			return manager.Result{Stdout: []byte("rc=1\npid=\n")}, nil
		case strings.Contains(cmd, "start-"+svc):
			if c.failStart[svc] {
				return manager.Result{ExitCode: 1, Stderr: []byte(svc + ": no config")}, nil
			}
			c.running[svc] = true
			return manager.Result{}, nil
		}
	}
	return manager.Result{}, nil // the logs command of a failed start's tail
}

func (c *playedConn) Stream(context.Context, string, io.Writer, io.Writer) (int, error) {
	return 0, nil
}

func (c *playedConn) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, io.EOF
}

type playedConnector struct{ conn *playedConn }

func (s playedConnector) Connect(context.Context, *inventory.Host) (Conn, error) { return s.conn, nil }

// TestCascadeAndStatusAreTyped: Execute tells a --cascade dependent's
// tasks by Task.Cascade, not by Why's wording (here blanked), and each
// result says ok, skipped or failed in Status; Text shows a skipped
// step's note as before ("skipped: " and why).
func TestCascadeAndStatusAreTyped(t *testing.T) {
	inv := cascadeInventory(t)
	set, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := set.Get("restart")
	plan, err := NewPlan(inv, pb, Request{Action: "restart", Host: "a", Service: "db", Cascade: true})
	if err != nil {
		t.Fatal(err)
	}
	cascades := 0
	for i, task := range plan.Tasks {
		inst := Instance{Host: task.Host, Service: task.Service}
		if (task.Cascade == CascadeRestart) != (inst.Service != "db") {
			t.Errorf("task %d %s of %s: cascade %q", i+1, task.Step, inst, task.Cascade)
		}
		if task.Cascade != NoCascade {
			cascades++
		}
		plan.Tasks[i].Why = "" // the words must not matter
	}
	if cascades != 10 {
		t.Fatalf("%d cascade tasks, want 5 for each of web and api", cascades)
	}
	reg, err := registry.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	conn := &playedConn{running: map[string]bool{"db": true, "api": true}, failStart: map[string]bool{"api": true}}
	out := Execute(context.Background(), plan, Env{Inventory: inv, Connector: playedConnector{conn}, Registry: reg})
	var got []string
	for _, r := range out.Steps {
		got = append(got, r.Task.Service+" "+string(r.Task.Step)+" "+string(r.Status))
		if r.Status == StepSkipped && (r.Note != "was not running: left as it is" || r.Text() != "skipped: was not running: left as it is") {
			t.Errorf("skipped %s of %s: note %q, text %q", r.Task.Step, r.Task.Service, r.Note, r.Text())
		}
		if (r.Status == StepFailed) != (r.Err != nil) {
			t.Errorf("%s of %s: status %s, err %v", r.Task.Step, r.Task.Service, r.Status, r.Err)
		}
	}
	want := []string{
		"db check-deps ok", "db find-dependents ok", "db stop ok", "db verify-stopped ok", "db start ok", "db health ok", "db record ok",
		// web did not run: its cascade group is left alone.
		"web stop skipped", "web verify-stopped skipped", "web start skipped", "web health skipped", "web record skipped",
		// api ran, and its start fails.
		"api stop ok", "api verify-stopped ok", "api start failed",
	}
	if !slices.Equal(got, want) {
		t.Errorf("steps:\n got %q\nwant %q", got, want)
	}
	if out.Err == nil || !strings.Contains(out.Err.Error(), "api: start: start command") {
		t.Errorf("outcome error %v, want api's start", out.Err)
	}
}

// TestEveryStepHasItsRunner: each step of the registry has its code behind
// the one step interface, in a file of its own named after it, and no
// code runs a step the registry does not know.
func TestEveryStepHasItsRunner(t *testing.T) {
	for _, s := range Steps() {
		if runners[s.Name] == nil {
			t.Errorf("step %s has no runner", s.Name)
		}
		file := "step_" + strings.ReplaceAll(string(s.Name), "-", "_") + ".go"
		src, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("step %s: its file: %v", s.Name, err)
			continue
		}
		if !strings.Contains(string(src), "(step "+string(s.Name)+")") {
			t.Errorf("%s does not say it holds step %s", file, s.Name)
		}
	}
	if len(runners) != len(Steps()) {
		t.Errorf("%d runners for %d steps", len(runners), len(Steps()))
	}
	r := &execution{target: Instance{Host: "h", Service: "s"}}
	if _, _, err := r.do(t.Context(), nil, Task{Step: "halt", Host: "h", Service: "s"}, nil); err == nil || !strings.Contains(err.Error(), `unknown step "halt"`) {
		t.Errorf("an unknown step: %v", err)
	}
}

// TestPlaybookStepsDescribeThemselves: every step a playbook may name has
// its plan text in its own file (StepInfo.describe), except the two the
// planner expands itself (confirm: the impact; check-deps: one task per
// dependency); a step without one would be planned as "not supported".
func TestPlaybookStepsDescribeThemselves(t *testing.T) {
	for _, s := range steps {
		expanded := s.Name == StepConfirm || s.Name == StepCheckDeps
		switch {
		case s.Playbook && !expanded && s.describe == nil:
			t.Errorf("step %s: a playbook may name it, but it has no plan text (describe)", s.Name)
		case (!s.Playbook || expanded) && s.describe != nil:
			t.Errorf("step %s: has a describe the planner never calls", s.Name)
		}
	}
}
