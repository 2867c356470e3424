package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/internal/plural"
)

// serviceOptions are the flags and arguments of `omni service ACTION TARGET SERVICE`.
type serviceOptions struct {
	Action      string
	Host        string
	Service     string
	Yes         bool
	DryRun      bool
	Lines       int
	Follow      bool
	Verbose     bool
	NoDeps      bool
	Cascade     bool
	LockTimeout time.Duration

	// Fleet runs: a target of several hosts.
	Forks          int
	Rolling        bool
	RollingSet     bool // --rolling or --no-rolling was given
	Batch          string
	MaxUnavailable string
	MaxFailures    string
	MinReady       time.Duration
	Resume         bool
}

func addServiceCommands(app *kingpin.Application, g *globalOptions, s Streams, run *func(context.Context) error) {
	svc := app.Command("service", "Start, stop, restart a service on a host, read its logs, its status and its history. "+
		"HOST may also be a role, a glob (worker*), a comma list or all: the hosts then run in parallel (--forks), "+
		"or in health-gated batches (--rolling, the default for a restart of a critical service), one table row each.")
	defer addStatusCommands(svc, g, s, run)
	actions := []struct{ name, help string }{
		{"start", "Start a stopped service: check its dependencies, start it, health-check it."},
		{"stop", "Stop a service gracefully (SIGTERM, then SIGKILL after its grace period)."},
		{"restart", "Start its stopped dependencies, then gracefully stop, start again and health-check a service."},
		{"logs", "Show a service's recent logs."},
	}
	for _, a := range actions {
		opts := &serviceOptions{Action: a.name}
		cmd := svc.Command(a.name, a.help)
		cmd.Arg("TARGET", "A host, a role, a glob over host names (worker*), a comma list of these, or all.").Required().HintAction(hostHints(g)).StringVar(&opts.Host)
		cmd.Arg("SERVICE", "Service name from the inventory.").Required().HintAction(serviceHints(g, &opts.Host)).StringVar(&opts.Service)
		if a.name == "logs" {
			cmd.Flag("lines", "Number of lines to show.").Short('n').Default("50").IntVar(&opts.Lines)
			cmd.Flag("follow", "Keep printing new lines until Ctrl-C.").Short('f').BoolVar(&opts.Follow)
		} else {
			cmd.Flag("yes", "Do not ask for confirmation (needed without a terminal).").Short('y').BoolVar(&opts.Yes)
			cmd.Flag("dry-run", "Print the planned tasks and change nothing.").BoolVar(&opts.DryRun)
			cmd.Flag("verbose", "Print each step, its result and duration on stderr as it finishes.").Short('v').BoolVar(&opts.Verbose)
			cmd.Flag("lock-timeout", "How long to wait for another run that holds one of the services (0: fail at once, exit 5).").Default("0s").DurationVar(&opts.LockTimeout)
		}
		cmd.Flag("forks", "Fleet targets: hosts acted on at once.").Default("20").IntVar(&opts.Forks)
		if a.name != "logs" {
			addRollingFlags(cmd, opts)
			cmd.Flag("resume", "Act only on the hosts the last run of this command on this target failed or did not reach (read from the registry).").BoolVar(&opts.Resume)
		}
		switch a.name {
		case "start":
			cmd.Flag("no-deps", "Refuse (exit 1, listing them) if a dependency is down, instead of starting it first.").BoolVar(&opts.NoDeps)
		case "stop":
			cmd.Flag("cascade", "Stop the running services that depend on this one first, in reverse dependency order.").BoolVar(&opts.Cascade)
		case "restart":
			cmd.Flag("no-deps", "Refuse (exit 1, listing them) if a dependency is down, before anything is stopped, instead of starting it first.").BoolVar(&opts.NoDeps)
			cmd.Flag("cascade", "After the service is healthy again, restart the running services that depend on it, in dependency order.").BoolVar(&opts.Cascade)
		}
		cmd.Action(func(*kingpin.ParseContext) error {
			*run = func(ctx context.Context) error { return serviceRun(ctx, g, s, opts) }
			return nil
		})
	}
}

// addRollingFlags registers the budgets of a fleet run: the flags of
// `service start|stop|restart` that `config apply` shares for its restarts.
func addRollingFlags(cmd *kingpin.CmdClause, opts *serviceOptions) {
	cmd.Flag("rolling", "Fleet targets: act in health-gated batches (the default for a restart of a critical service on more than one host; --no-rolling: all at once, --forks at a time).").IsSetByUser(&opts.RollingSet).BoolVar(&opts.Rolling)
	cmd.Flag("batch", "Rolling: hosts per batch, N or N% of the target.").Default("1").StringVar(&opts.Batch)
	cmd.Flag("max-unavailable", "Rolling: instances that may be down at once, N or N%, counting those already down before the run (default: the batch size).").StringVar(&opts.MaxUnavailable)
	cmd.Flag("max-failures", "Fleet targets: failed or unreachable hosts tolerated, N or N%; one more and no new host is touched.").Default("0").StringVar(&opts.MaxFailures)
	cmd.Flag("min-ready", "Rolling: how long each host of a batch must stay healthy (same PID, no restart by its manager) before the next batch; 0 to not wait.").Default("5s").DurationVar(&opts.MinReady)
}

var verbs = map[string]struct{ icon, doing, done string }{
	"start":   {"🚀", "Starting", "started"},
	"stop":    {"⚠️", "Stopping", "stopped"},
	"restart": {"🔄", "Restarting", "restarted"},
}

// serviceRun plans the command, asks for confirmation when the plan needs
// it, executes it and renders the spec's status block.
func serviceRun(ctx context.Context, g *globalOptions, s Streams, opts *serviceOptions) error {
	if opts.Action == "logs" && opts.Lines < 1 {
		return &usageError{"--lines must be 1 or more"}
	}
	inv, err := loadInventory(g)
	if err != nil {
		return err
	}
	books, err := loadPlaybooks(g)
	if err != nil {
		return err
	}
	pb, err := books.Get(opts.Action)
	if err != nil {
		return err
	}
	if opts.Resume || !inv.IsHost(opts.Host) {
		return fleetRun(ctx, g, s, opts, inv, pb)
	}
	plan, err := engine.NewPlan(inv, pb, engine.Request{
		Action: opts.Action, Host: opts.Host, Service: opts.Service, Lines: opts.Lines, Follow: opts.Follow,
		NoDeps: opts.NoDeps, Cascade: opts.Cascade,
	})
	if err != nil {
		return err
	}
	jsonOut := g.Output == "json" && opts.Action != "logs"
	if opts.DryRun {
		if jsonOut {
			return writeJSON(s.Out, newPlanDoc(plan))
		}
		return renderPlan(s, plan)
	}
	var note *interruptNote
	if opts.Action != "logs" {
		// A first interrupt once the service is being changed is said at
		// once: the step, once begun, is finished first (engine.Env.Soft),
		// and that can take a while. Its line and the steps' go through
		// one lock.
		errs := &lockedWriter{w: s.Err}
		s.Err = errs
		note = &interruptNote{w: errs}
		defer context.AfterFunc(ctx, note.interrupted)()
	}
	// The narrative (header, impact) goes to stdout in text mode; with
	// --output json stdout holds only the document, so it goes to stderr.
	narrative := s
	if jsonOut {
		narrative.Out = s.Err
	}
	verb := verbs[opts.Action]
	st := styleFor(s)
	if opts.Action != "logs" {
		fmt.Fprintf(narrative.Out, "%s%s %s on %s...\n", st.icon(verb.icon), verb.doing, plan.Service.Name, plan.Host.Name)
	}
	targets := []engine.Target{{Host: plan.Host.Name, Plan: plan}}
	reg, err := openStoreFor(ctx, g, inv, targets)
	if err != nil {
		return err
	}
	if reg != nil {
		defer reg.Close()
	}
	stdout, stderr, flush := s.Out, s.Err, func() {}
	if plan.Request.Action == "logs" {
		stdout, stderr, flush = logsWriters(s)
	}
	res, err := engine.Run(ctx, reg, engine.RunRequest{
		Request: plan.Request, Targets: targets, LockTimeout: opts.LockTimeout,
	}, engine.RunEnv{
		Inventory: inv,
		Connect:   func() (engine.Connector, func(), error) { return connector(g, s, inv) },
		Stdout:    stdout,
		Stderr:    stderr,
		OnStep:    stepPrinter(s, narrative.Out, plan, opts.Verbose),
		Confirm: func(ctx context.Context, c engine.Confirmation) error {
			return confirm(ctx, narrative, plan, c, opts.Yes)
		},
		Hard:     hardStop(ctx),
		Changing: note.changing,
		Warn:     warner(s),
	})
	flush()
	if err != nil {
		return err
	}
	out := res.Outcome
	if opts.Action == "logs" {
		return logsOneEnd(s, out)
	}
	if opts.Verbose {
		printRoundTrips(s.Err, out.RoundTrips)
	}
	// A first interrupt that came once the service was being changed let
	// the run finish (engine.Env.Soft): it says so, and exits 130.
	finishedFirst := out.FinishedFirst
	if jsonOut {
		code := outcomeCode(out)
		if finishedFirst {
			code = ExitInterrupted
		}
		doc := newServiceDoc(plan, out, code)
		if finishedFirst {
			doc.Error = out.FinishedFirstNote()
		}
		if err := writeJSON(s.Out, doc); err != nil {
			return err
		}
		if out.Err != nil {
			fmt.Fprintf(s.Err, "omni: %s\n", engine.Words(out.Err))
		}
		if finishedFirst {
			fmt.Fprintf(s.Err, "omni: %s\n", out.FinishedFirstNote())
		}
		return codeOnly(code)
	}
	if err := renderOutcome(s, plan, out); err != nil || !finishedFirst {
		return err
	}
	fmt.Fprintf(s.Err, "omni: %s\n", out.FinishedFirstNote())
	return codeOnly(ExitInterrupted)
}

// interruptNoteText is said on stderr when the first interrupt comes
// during a run of one host that has begun changing the service.
const interruptNoteText = "omni: interrupted: what has begun changing the service is finished first (interrupt again to cancel it)"

// interruptNote says interruptNoteText once the run has both begun
// changing the service and been interrupted, whichever comes last. An
// interrupt before then (connecting, the lock or registry wait, the
// confirmation) ends the run with nothing changed, and is not said to
// finish anything.
type interruptNote struct {
	w                      io.Writer
	mu                     sync.Mutex
	begun, interrupt, said bool
}

// changing is told that the run begins changing the service; a nil note
// (logs) ignores it.
func (n *interruptNote) changing() {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.begun = true
	n.say()
}

// interrupted is told of the first interrupt.
func (n *interruptNote) interrupted() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.interrupt = true
	n.say()
}

// say writes the note when it is due and not yet said. The caller holds n.mu.
func (n *interruptNote) say() {
	if n.begun && n.interrupt && !n.said {
		n.said = true
		fmt.Fprintln(n.w, interruptNoteText)
	}
}

// lockedWriter serializes the writes of the run's steps and of the
// interrupt's note.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// outcomeCode is the exit code of an executed plan.
func outcomeCode(out *engine.Outcome) int {
	return classCode(engine.Classify(out.Err))
}

// warner says on stderr what went wrong without changing the result.
func warner(s Streams) func(string) {
	return func(msg string) { fmt.Fprintf(s.Err, "omni: %s\n", msg) }
}

// codeOnly returns nil for success, else an already-reported error with code.
func codeOnly(code int) error {
	if code == ExitOK {
		return nil
	}
	return reported{code}
}

// confirm shows the impact and asks, or refuses when it cannot ask. When
// it asks, the impact and the question go together to stderr, so that
// they are seen, in order, even when stdout is redirected or piped
// (| tee); with --yes the impact is part of the report on stdout. Ctrl-C
// at the prompt ends the run (exit 130) without changing anything.
func confirm(ctx context.Context, s Streams, plan *engine.Plan, c engine.Confirmation, yes bool) error {
	w := s.Out
	asking := !yes && s.InTTY
	if asking {
		w = s.Err
	}
	switch {
	case c.Impact != "":
		fmt.Fprintln(w, c.Impact)
	case c.Reason != "":
		// "network-agent is a critical service.": the service's name as
		// the inventory spells it, never capitalized.
		fmt.Fprintf(w, "%s.\n", c.Reason)
	}
	if n := len(c.Running); n > 0 {
		fmt.Fprintf(w, "%s on %s on %s: %s\n", plural.N(n, "running service depends", "running services depend"),
			plan.Service.Name, plan.Host.Name, instanceNames(c.Running))
		if c.Cascade && n == 1 {
			fmt.Fprintln(w, "--cascade: it will be stopped first.")
		} else if c.Cascade {
			fmt.Fprintln(w, "--cascade: they will be stopped first, in reverse dependency order.")
		}
	}
	if len(c.LosesLast) > 0 {
		fmt.Fprintf(w, "Left without a running %s (this is the last healthy one their requirement can use; --cascade does not stop them): %s\n",
			plan.Service.Name, instanceNames(c.LosesLast))
	}
	printUnknown(w, c.Unknown, c.UnknownErrs)
	if yes {
		fmt.Fprintln(w)
		return nil
	}
	if !s.InTTY {
		return errors.New("no terminal to ask for confirmation: pass --yes to confirm; nothing was changed")
	}
	err := ask(ctx, s)
	if ctx.Err() == nil {
		fmt.Fprintln(w)
	}
	return err
}

// interruptedError is a wait that Ctrl-C ended: it reads as words and
// still unwraps to the context's error (exit 130).
type interruptedError struct {
	msg string
	err error
}

func (e *interruptedError) Error() string { return e.msg }
func (e *interruptedError) Unwrap() error { return e.err }

// ask asks "Are you sure? [y/N]" on stderr and waits for the answer or
// for ctx (Ctrl-C): nil for yes; otherwise an error saying that nothing
// was changed (unwrapping to ctx's error when interrupted).
func ask(ctx context.Context, s Streams) error {
	fmt.Fprint(s.Err, "Are you sure? [y/N] ")
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(s.In).ReadString('\n')
		answer <- line
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(s.Err)
		return &interruptedError{"interrupted at the confirmation; nothing was changed", ctx.Err()}
	case line := <-answer:
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return nil
		}
	}
	return errors.New("not confirmed; nothing was changed")
}

// printUnknown lists the dependents whose state could not be read, saying
// "host unreachable" only of those whose host could not be reached
// (engine.Classify: unreachable, the class of exit code 4); the others
// answered, and their error says why.
func printUnknown(w io.Writer, list []engine.Instance, errs []error) {
	var unreachable []engine.Instance
	for i, d := range list {
		var err error
		if i < len(errs) {
			err = errs[i]
		}
		switch {
		case err == nil:
			fmt.Fprintf(w, "Could not check: %s\n", d)
		case engine.Classify(err) == engine.ClassUnreachable:
			unreachable = append(unreachable, d)
		default:
			fmt.Fprintf(w, "Could not check %s: %s\n", d, engine.Failure(err))
		}
	}
	if len(unreachable) > 0 {
		fmt.Fprintf(w, "Could not check (host unreachable): %s\n", instanceNames(unreachable))
	}
}

func instanceNames(list []engine.Instance) string {
	names := make([]string, len(list))
	for i, x := range list {
		names[i] = x.String()
	}
	return strings.Join(names, ", ")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// renderOutcome prints the result line and the status block, and returns
// the run's error (already shown) with its exit code.
func renderOutcome(s Streams, plan *engine.Plan, out *engine.Outcome) error {
	verb := verbs[plan.Request.Action]
	st := styleFor(s)
	var refused *engine.RefusedError
	switch {
	case out.Err == nil && out.Unchanged != "":
		fmt.Fprintf(s.Out, "%s%s is %s on %s; nothing to do.\n", st.ok(), plan.Service.Name, out.Unchanged, plan.Host.Name)
	case out.Err == nil:
		fmt.Fprintf(s.Out, "%sService %s successfully!\n", st.ok(), verb.done)
	case errors.As(out.Err, &refused):
		// A refusal is not a failure: nothing was tried (exit 5 or 130).
		fmt.Fprintf(s.Err, "Not %s: %s.\n", verb.done, engine.Words(refused.Err))
	default:
		fmt.Fprintf(s.Err, "%sFailed to %s %s on %s: %s\n", errStyle(s).bad(), plan.Request.Action, plan.Service.Name, plan.Host.Name, indentContinuation(engine.FailureAt(out.Err, plan.Host.Name, plan.Service.Name)))
		writeLogTail(s.Err, out.Err)
	}
	if recorded(out) {
		fmt.Fprintln(s.Out)
		writeStatusBlock(s.Out, st, plan, out)
	}
	if len(out.NotRestarted) > 0 {
		fmt.Fprintf(s.Out, "\nNot restarted (pass --cascade to restart them too): %s\n", instanceNames(out.NotRestarted))
	}
	if len(out.Unchecked) > 0 && !failedAt(out.Err, engine.StepFindDependents) { // there, the failure line names them
		// Dependents whose state could not be read: they may run, and
		// still hold connections to the restarted service.
		if len(out.NotRestarted) == 0 {
			fmt.Fprintln(s.Out)
		}
		printUnknown(s.Out, out.Unchecked, out.UncheckedErrs)
	}
	return codeOnly(outcomeCode(out))
}

// failedAt reports whether err is the failure of a step named step.
func failedAt(err error, step engine.StepName) bool {
	var se *engine.StepError
	return errors.As(err, &se) && se.Step == step
}

// recorded reports whether the record step ran, so the state is known.
func recorded(out *engine.Outcome) bool {
	for _, st := range out.Steps {
		if st.Task.Step == engine.StepRecord && st.Err == nil {
			return true
		}
	}
	return false
}

// stepPrinter reports progress: with --verbose every step on stderr; in
// any case, on the narrative stream, what was done to other services
// (dependencies started, dependents stopped or restarted).
func stepPrinter(s Streams, narrative io.Writer, plan *engine.Plan, verbose bool) func(engine.StepResult) {
	target := engine.Instance{Host: plan.Host.Name, Service: plan.Service.Name}
	est, nst := errStyle(s), styleFor(s)
	if narrative != s.Out {
		nst = est
	}
	return func(r engine.StepResult) {
		if verbose {
			mark, note := est.step(false), r.Text()
			if r.Status == engine.StepFailed {
				mark, note = est.step(true), engine.Failure(r.Err)
			}
			if note != "" {
				note = ": " + oneLine(note)
			}
			where := ""
			if inst := (engine.Instance{Host: r.Task.Host, Service: r.Task.Service}); inst != target {
				where = " " + inst.String()
			}
			fmt.Fprintf(s.Err, "  %s %-15s %6.3fs%s%s\n", mark, r.Task.Step, r.Duration.Seconds(), where, note)
		} else if r.Warning != "" && r.Task.Step != engine.StepLogs { // the logs' own is said with them (sayLogsHost)
			fmt.Fprintf(s.Err, "%s%s: %s: %s: %s\n", est.paint(yellow, "warning: "), r.Task.Host, r.Task.Service, r.Task.Step, oneLine(r.Warning))
		}
		if line := dependencyLine(nst, r, target); line != "" {
			fmt.Fprintln(narrative, "  "+nst.icon("↳")+line)
		}
	}
}

// dependencyLine says what a step did to another service than the target,
// or "" when there is nothing worth a line.
func dependencyLine(st style, r engine.StepResult, target engine.Instance) string {
	t := r.Task
	inst := engine.Instance{Host: t.Host, Service: t.Service}
	if inst == target || (t.Step != engine.StepEnsure && t.Cascade == engine.NoCascade) {
		return "" // the target's own steps
	}
	switch {
	case r.Status == engine.StepFailed && (t.Step == engine.StepEnsure || t.Group != ""):
		return fmt.Sprintf("%s %s on %s: %s", st.step(true), t.Service, t.Host, oneLine(engine.Failure(r.Err)))
	case r.Status == engine.StepSkipped && t.Step != engine.StepEnsure:
		if t.Step == engine.StepStop {
			return fmt.Sprintf("%s on %s %s", t.Service, t.Host, r.Note)
		}
	case t.Step == engine.StepEnsure && r.Effect == engine.EffectStarted:
		return fmt.Sprintf("Started %s on %s (%s): healthy", t.Service, t.Host, t.Why)
	case t.Step == engine.StepStop && r.Effect == engine.EffectStopped && t.Cascade == engine.CascadeStop:
		return fmt.Sprintf("Stopped %s on %s (%s)", t.Service, t.Host, t.Why)
	case t.Step == engine.StepHealth && r.Effect == engine.EffectHealthy:
		return fmt.Sprintf("Restarted %s on %s (%s): healthy", t.Service, t.Host, t.Why)
	case t.Step == engine.StepHealth && r.Effect == engine.EffectDegraded:
		// Restarted and up, an optional reach check failing: named too,
		// with the step's own words ("passed; degraded: why").
		return fmt.Sprintf("Restarted %s on %s (%s): %s", t.Service, t.Host, t.Why, r.Note)
	}
	return ""
}
