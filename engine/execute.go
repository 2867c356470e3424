package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// Conn is an open connection to one host.
type Conn interface {
	manager.Runner
	health.Dialer
	Stream(ctx context.Context, cmd string, stdout, stderr io.Writer) (exitCode int, err error)
}

// Connector opens (or reuses) the connection to a host.
type Connector interface {
	Connect(ctx context.Context, h *inventory.Host) (Conn, error)
}

// Env is what Execute needs from the outside world.
type Env struct {
	Inventory *inventory.Inventory
	Connector Connector
	Registry  registry.Registry
	Stdout    io.Writer          // logs output
	Stderr    io.Writer          // logs output
	Now       func() time.Time   // defaults to time.Now
	OnStep    func(r StepResult) // called after each step (progress output); may be nil
}

// StepResult is how one task went.
type StepResult struct {
	Task     Task          `json:"task"`
	Duration time.Duration `json:"duration"`
	Note     string        `json:"note,omitempty"` // e.g. "already running", "passed"
	Err      error         `json:"-"`              // nil when the step succeeded
}

// Outcome is the result of executing a plan on one (host, service).
type Outcome struct {
	Host       string
	Service    string
	Action     string
	Unchanged  string         // non-empty when there was nothing to do: "already running"
	State      manager.State  // the final state, read by the record step
	Uptime     time.Duration  // how long it has been running, when it runs
	LastActive time.Time      // when it was last active, when it is stopped
	Health     *health.Report // nil when no health step ran
	Steps      []StepResult
	Err        error // the first failure, a *StepError or a connection error
}

// StepError is a step that failed on a host.
type StepError struct {
	Host, Service, Step string
	Err                 error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s: %s: %s: %v", e.Host, e.Service, e.Step, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// HealthError is a health check that did not pass.
type HealthError struct{ Report health.Report }

func (e *HealthError) Error() string { return e.Report.Failure() }

// errNothingToDo ends a run early without failing it.
var errNothingToDo = errors.New("nothing to do")

// Execute runs the plan's tasks in order. After a failure it still runs the
// record step, so the registry says what the service was left as.
func Execute(ctx context.Context, plan *Plan, env Env) *Outcome {
	if env.Now == nil {
		env.Now = time.Now
	}
	run := &execution{ctx: ctx, plan: plan, env: env, out: &Outcome{
		Host: plan.Host.Name, Service: plan.Service.Name, Action: plan.Request.Action,
	}}
	run.mgr, run.out.Err = manager.New(manager.Target{Host: plan.Host, Service: plan.Service})
	if run.out.Err != nil {
		return run.out
	}
	for i, task := range plan.Tasks {
		if task.Step == "confirm" {
			continue // decided before Execute: the caller asked
		}
		err := run.step(task)
		if errors.Is(err, errNothingToDo) {
			run.finish(plan.Tasks[i+1:])
			return run.out
		}
		if err != nil {
			run.out.Err = err
			run.finish(plan.Tasks[i+1:])
			return run.out
		}
	}
	return run.out
}

type execution struct {
	ctx     context.Context
	plan    *Plan
	env     Env
	mgr     manager.Manager
	conn    Conn
	out     *Outcome
	stopped time.Time // when the stop step saw the service go down
}

// finish runs the record step of the remaining tasks, whatever happened,
// so the registry says what the service was left as. After an interrupt it
// still records, on a short context of its own.
func (r *execution) finish(rest []Task) {
	for _, task := range rest {
		if task.Step != "record" || r.conn == nil {
			continue
		}
		if r.ctx.Err() != nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), interruptedRecordTimeout)
			defer cancel()
			r.ctx = ctx
		}
		if err := r.step(task); err != nil && r.out.Err == nil {
			r.out.Err = err
		}
	}
}

// interruptedRecordTimeout bounds the record step of an interrupted run.
const interruptedRecordTimeout = 5 * time.Second

func (r *execution) step(task Task) error {
	ctx := r.ctx
	if task.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, task.Timeout)
		defer cancel()
	}
	began := r.env.Now()
	var note string
	// The connection has its own dial and handshake deadlines: it does not
	// count against the step's timeout.
	err := r.connect(r.ctx)
	if err == nil {
		note, err = r.do(ctx, task)
	}
	// Connection errors already name the host, its address and the reason.
	if err != nil && !errors.Is(err, errNothingToDo) && r.conn != nil {
		if ctx.Err() == context.DeadlineExceeded && r.ctx.Err() == nil {
			err = fmt.Errorf("timed out after %s", task.Timeout)
		} else if r.ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", r.ctx.Err())
		}
		err = &StepError{Host: task.Host, Service: task.Service, Step: task.Step, Err: err}
	}
	res := StepResult{Task: task, Duration: r.env.Now().Sub(began), Note: note, Err: err}
	if errors.Is(err, errNothingToDo) {
		res.Err = nil // the step succeeded: it found there is nothing to do
	}
	r.out.Steps = append(r.out.Steps, res)
	if r.env.OnStep != nil {
		r.env.OnStep(res)
	}
	return err
}

// connect opens the host's connection on first use; one per run.
func (r *execution) connect(ctx context.Context) error {
	if r.conn != nil {
		return nil
	}
	conn, err := r.env.Connector.Connect(ctx, r.plan.Host)
	if err != nil {
		return err
	}
	r.conn = conn
	return nil
}

func (r *execution) do(ctx context.Context, task Task) (string, error) {
	conn := r.conn
	switch task.Step {
	case "check-stopped":
		st, err := r.mgr.Status(ctx, conn)
		if err != nil {
			return "", err
		}
		if st.Running {
			r.out.Unchanged = "already running"
			return "already running", errNothingToDo
		}
		return st.Status, nil
	case "check-deps":
		return r.checkDeps(ctx, conn)
	case "stop":
		// Only a service at rest has nothing to stop: one that is activating
		// (a crash loop), deactivating or in maintenance still needs the stop.
		if r.plan.Request.Action == "stop" {
			if st, err := r.mgr.Status(ctx, conn); err == nil && atRest(st) {
				r.out.Unchanged = "already stopped"
				return "already stopped", errNothingToDo
			}
		}
		if err := r.mgr.Stop(ctx, conn, task.Grace); err != nil {
			return "", err
		}
		r.stopped = r.env.Now()
		return "", nil
	case "verify-stopped":
		st, err := r.mgr.Status(ctx, conn)
		if err != nil {
			return "", err
		}
		if st.Running {
			return "", fmt.Errorf("still running (pid %d)", st.PID)
		}
		return st.Status, nil
	case "start":
		return "", r.mgr.Start(ctx, conn)
	case "health":
		report := health.Run(ctx, health.Target{
			Spec:    r.plan.Service.Health,
			Address: r.plan.Host.ServiceAddress,
			Dialer:  conn,
			Process: func(ctx context.Context) (bool, string, error) {
				st, err := r.mgr.Status(ctx, conn)
				return st.Running, st.Status, err
			},
		})
		r.out.Health = &report
		if !report.Passed() {
			return "", &HealthError{Report: report}
		}
		return "passed", nil
	case "record":
		return "", r.record(ctx, conn)
	case "logs":
		code, err := conn.Stream(ctx, r.mgr.LogsCommand(r.plan.Request.Lines, r.plan.Request.Follow), r.env.Stdout, r.env.Stderr)
		if err != nil {
			if r.plan.Request.Follow && errors.Is(err, context.Canceled) {
				return "stopped following", nil // Ctrl-C ends a follow cleanly
			}
			return "", err
		}
		if code != 0 {
			return "", fmt.Errorf("logs command exited with status %d", code)
		}
		return "", nil
	}
	return "", fmt.Errorf("unknown step %q", task.Step)
}

// atRest reports a service that is stopped and will stay so by itself.
func atRest(st manager.State) bool {
	return !st.Running && (st.Status == "stopped" || st.Status == "failed")
}

// checkDeps verifies that the services this one requires on the same host
// are running. Requirements on other hosts or roles are not checked here.
func (r *execution) checkDeps(ctx context.Context, conn Conn) (string, error) {
	var down []string
	for _, name := range r.plan.Service.Requires {
		if strings.Contains(name, "@") {
			continue
		}
		dep, err := r.env.Inventory.Service(name)
		if err != nil {
			return "", err
		}
		mgr, err := manager.New(manager.Target{Host: r.plan.Host, Service: dep})
		if err != nil {
			return "", err
		}
		st, err := mgr.Status(ctx, conn)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		if !st.Running {
			down = append(down, fmt.Sprintf("%s (%s)", name, st.Status))
		}
	}
	if len(down) > 0 {
		return "", fmt.Errorf("required services are not running: %s; start them first", strings.Join(down, ", "))
	}
	return "satisfied", nil
}

// record reads the final state and writes it to the registry.
func (r *execution) record(ctx context.Context, conn Conn) error {
	st, err := r.mgr.Status(ctx, conn)
	if err != nil {
		return err
	}
	now := r.env.Now()
	r.out.State = st
	rec := registry.Record{Host: r.plan.Host.Name, Service: r.plan.Service.Name, State: st.Status, UpdatedAt: now.UTC()}
	prev, hadPrev, err := r.env.Registry.Get(rec.Host, rec.Service)
	if err != nil {
		return err
	}
	if st.Running {
		rec.LastActive = now.UTC()
		rec.Since = st.Since.UTC()
		if !st.Since.IsZero() {
			r.out.Uptime = now.Sub(st.Since)
		}
	} else {
		switch {
		case !st.LastActive.IsZero(): // systemd knows when it went down
			rec.LastActive = st.LastActive.UTC()
		case !r.stopped.IsZero(): // we stopped it just now
			rec.LastActive = r.stopped.UTC()
		case hadPrev:
			rec.LastActive = prev.LastActive
		}
		rec.Since = rec.LastActive
		r.out.LastActive = rec.LastActive
	}
	if hadPrev && prev.State == rec.State && !prev.Since.IsZero() && rec.Since.IsZero() {
		rec.Since = prev.Since
	}
	if h := r.out.Health; h != nil {
		rec.Health = "passed"
		if !h.Passed() {
			rec.Health = "failed: " + h.Failure()
		}
	}
	return r.env.Registry.Put(rec)
}
