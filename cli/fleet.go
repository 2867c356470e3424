package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/fleet"
	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
	"github.com/omni-fleet/omni/registry"
)

// fleetRun is `omni service ACTION TARGET SERVICE` for a target that is not
// one host: a role, a glob, a list or all. One plan per host, run in
// parallel or rolling, reported as one table row per host.
func fleetRun(ctx context.Context, g *globalOptions, s Streams, opts *serviceOptions, inv *inventory.Inventory, pb *playbooks.Playbook) error {
	svc, err := inv.Service(opts.Service)
	if err != nil {
		return err
	}
	hosts, err := inv.Select(opts.Host)
	if err != nil {
		return err
	}
	var targets []fleet.Target
	var skipped []string
	for _, h := range hosts {
		if !inv.Runs(h, svc.Name) {
			skipped = append(skipped, h.Name)
			continue
		}
		plan, err := engine.NewPlan(inv, pb, engine.Request{
			Action: opts.Action, Host: h.Name, Service: svc.Name, Lines: opts.Lines, Follow: opts.Follow,
			NoDeps: opts.NoDeps, Cascade: opts.Cascade,
		})
		if err != nil {
			return err
		}
		targets = append(targets, fleet.Target{Host: h.Name, Plan: plan})
	}
	if len(targets) == 0 {
		return &usageError{fmt.Sprintf("no host of %q runs %s (the hosts: %s)", opts.Host, svc.Name, strings.Join(skipped, ", "))}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(s.Err, "omni: skipped, they do not run %s: %s\n", svc.Name, strings.Join(skipped, ", "))
	}
	if opts.Action == "logs" {
		return fleetLogs(ctx, g, s, opts, inv, targets)
	}
	fo, err := fleetOptions(opts, svc, len(targets))
	if err != nil {
		return err
	}
	jsonOut := g.Output == "json"
	reg, err := openStore(ctx, g, inv)
	if err != nil {
		return err
	}
	defer reg.Close()
	if opts.Resume {
		var note string
		if targets, note, err = resumeTargets(reg, opts, targets); err != nil {
			return err
		}
		fmt.Fprintf(s.Err, "omni: --resume: %s\n", note)
		if len(targets) == 0 {
			if jsonOut {
				return writeJSON(s.Out, fleetDoc{Command: opts.Action, Target: opts.Host, Service: svc.Name, Result: "unchanged", Hosts: []fleetHostDoc{}, Skipped: skipped})
			}
			return nil
		}
	}
	var impact []engine.Instance
	if opts.Action == "stop" || opts.Action == "restart" {
		impact = fleetImpact(inv, targets)
	}
	if opts.DryRun {
		return renderFleetPlan(s, g, opts, fo, targets, impact)
	}
	if err := confirmFleet(ctx, s, opts, svc, targets, impact); err != nil {
		return err
	}
	owner := runOwner(opts)
	var keys []string
	for _, t := range targets {
		keys = append(keys, lockKeys(t.Plan)...)
	}
	unlock, err := reg.Lock(ctx, keys, owner, opts.LockTimeout)
	if err != nil {
		return err
	}
	defer unlock()
	runEvent := registry.Event{Started: time.Now().UTC(), Operator: owner.Operator, Command: owner.Command,
		Target: opts.Host, Service: svc.Name, Result: "incomplete"}
	for _, t := range targets {
		runEvent.Hosts = append(runEvent.Hosts, registry.HostResult{Host: t.Host, Result: string(fleet.Untouched)})
	}
	if runEvent.ID, err = reg.BeginEvent(runEvent); err != nil {
		return err
	}
	conn, closeConns, err := connector(g, s, inv)
	if err != nil {
		return err
	}
	defer closeConns()

	prog := newProgress(s, opts, fo, len(targets))
	runner := &fleet.Runner{
		Targets: targets, Opts: fo, Registry: reg, OnEvent: prog.event,
		Exec: func(ctx context.Context, t fleet.Target, onStep func(engine.StepResult)) *engine.Outcome {
			ev := registry.Event{Started: time.Now().UTC(), Operator: owner.Operator, Command: owner.Command,
				Host: t.Host, Service: svc.Name, Result: "incomplete", Run: runEvent.ID, Target: opts.Host}
			ev.ID, _ = reg.BeginEvent(ev)
			out := engine.Execute(ctx, t.Plan, engine.Env{
				Inventory: inv, Connector: conn, Registry: reg, Stdout: s.Out, Stderr: s.Err, OnStep: onStep,
				// The whole fleet was confirmed (or needed no confirmation) up front.
				Confirm: func(context.Context, engine.Confirmation) error { return nil },
			})
			if ev.ID != "" {
				if err := reg.FinishEvent(finishedEvent(ev, out, outcomeCode(out))); err != nil {
					fmt.Fprintf(s.Err, "omni: %s: the operation ran but its history could not be recorded: %v\n", t.Host, err)
				}
			}
			return out
		},
		Status: func(ctx context.Context, instances []engine.Instance) []engine.InstanceStatus {
			return engine.LiveStatus(ctx, inv, instances, conn, fo.Forks)
		},
		// The host's connection, from its plan to the end of its min-ready
		// watch; then let go (Execute and LiveStatus release their own).
		Hold: func(ctx context.Context, t fleet.Target) func() {
			c, err := conn.Connect(ctx, t.Plan.Host)
			if err != nil {
				return func() {} // its plan meets the same error, and says so
			}
			return func() { conn.Release(c) }
		},
	}
	rep := runner.Run(ctx, hardStop(ctx))
	prog.close()
	if opts.Verbose {
		for _, h := range rep.Hosts {
			if h.Outcome == nil {
				continue
			}
			if rt, ok := h.Outcome.RoundTrips[h.Host]; ok {
				fmt.Fprintf(s.Err, "%s: %s after authentication\n", h.Host, plural.N(rt.AfterAuth(), "round trip", "round trips"))
			}
		}
	}
	code := fleetCode(rep)

	runEvent.Hosts = runEvent.Hosts[:0]
	for _, h := range rep.Hosts {
		hr := registry.HostResult{Host: h.Host, Result: string(h.Result)}
		if h.Err != nil {
			hr.Error = failure(h.Err)
		}
		runEvent.Hosts = append(runEvent.Hosts, hr)
	}
	runEvent.Finished, runEvent.Complete, runEvent.Result = time.Now().UTC(), true, fleetResultWord(code)
	runEvent.Error = rep.Aborted
	if err := reg.FinishEvent(runEvent); err != nil {
		fmt.Fprintf(s.Err, "omni: the run finished but its history could not be recorded: %v\n", err)
	}
	if jsonOut {
		if err := writeJSON(s.Out, newFleetDoc(opts, fo, targets, rep, skipped, code, impact)); err != nil {
			return err
		}
		return codeOnly(code)
	}
	if err := renderFleetTable(s, opts, fo, rep, code); err != nil {
		return err
	}
	return codeOnly(code)
}

// fleetOptions resolves the budgets against the target's size.
func fleetOptions(opts *serviceOptions, svc *inventory.Service, hosts int) (fleet.Options, error) {
	fo := fleet.Options{Forks: opts.Forks, MinReady: opts.MinReady}
	if fo.Forks < 1 {
		return fo, &usageError{"--forks must be 1 or more"}
	}
	if opts.MinReady < 0 {
		return fo, &usageError{"--min-ready must not be negative"}
	}
	fo.Rolling = opts.Action == "restart" && svc.Critical && hosts > 1
	if opts.RollingSet {
		fo.Rolling = opts.Rolling
	}
	batch, err := positiveCount("--batch", opts.Batch)
	if err != nil {
		return fo, err
	}
	// A share that rounds down to 0 hosts (10% of 5) is 1, as Ansible's
	// serial is; an explicit 0 was refused above.
	fo.Batch = max(batch.Of(hosts), 1)
	fo.MaxUnavailable = fo.Batch
	if opts.MaxUnavailable != "" {
		mu, err := positiveCount("--max-unavailable", opts.MaxUnavailable)
		if err != nil {
			return fo, err
		}
		fo.MaxUnavailable = max(mu.Of(hosts), 1)
	}
	mf, err := fleet.ParseCount(opts.MaxFailures)
	if err != nil {
		return fo, &usageError{"--max-failures: " + err.Error()}
	}
	fo.MaxFailures = mf.Of(hosts)
	return fo, nil
}

// positiveCount reads a count that must be at least 1: a batch of 0 hosts
// would never finish, and with no surge a max-unavailable of 0 would take
// no host down (Kubernetes gives 0 a meaning only with maxSurge).
func positiveCount(flag, value string) (fleet.Count, error) {
	c, err := fleet.ParseCount(value)
	if err != nil {
		return c, &usageError{flag + ": " + err.Error()}
	}
	if c.N == 0 {
		return c, &usageError{fmt.Sprintf("%s must be at least 1 (got %s): a rolling run takes at least one host down at a time", flag, c)}
	}
	return c, nil
}

// confirmFleet asks once for the whole fleet when a stop of one of its
// hosts would ask: a critical service, an impact text, or services that
// depend on it. It names every dependent that loses the service on every
// host (impact: fleetImpact). Without a terminal it refuses (exit 5)
// unless --yes.
func confirmFleet(ctx context.Context, s Streams, opts *serviceOptions, svc *inventory.Service, targets []fleet.Target, impact []engine.Instance) error {
	need := len(impact) > 0
	for _, t := range targets {
		if t.Plan.Confirm != nil || len(t.Plan.Dependents) > 0 {
			need = true
		}
	}
	if opts.Action != "stop" || !need {
		return nil
	}
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Host
	}
	w := s.Err
	fmt.Fprintf(w, "Stopping %s on %s: %s\n", svc.Name, plural.N(len(targets), "host", "hosts"), strings.Join(names, ", "))
	if svc.Impact != "" {
		fmt.Fprintln(w, svc.Impact)
	} else if svc.Critical {
		fmt.Fprintf(w, "%s is critical.\n", svc.Name)
	}
	writeImpact(w, opts, svc.Name, targets, impact)
	if opts.Yes {
		return nil
	}
	what := fmt.Sprintf("stop %s on %s", svc.Name, plural.N(len(targets), "host", "hosts"))
	if !s.InTTY {
		return &refusedError{fmt.Sprintf("refusing to %s without confirmation: no terminal to ask; pass --yes to confirm. Nothing was changed.", what)}
	}
	err := ask(ctx, s)
	if err != nil && ctx.Err() == nil {
		return &refusedError{fmt.Sprintf("did not %s: %s", what, err)}
	}
	return err
}

// resumeTargets keeps the targets the last run of the same command on the
// same target did not finish: failed, unreachable, interrupted, untouched.
func resumeTargets(reg registry.Store, opts *serviceOptions, targets []fleet.Target) ([]fleet.Target, string, error) {
	events, err := reg.Events(registry.EventQuery{Service: opts.Service})
	if err != nil {
		return nil, "", err
	}
	var last *registry.Event
	for i, e := range events {
		if e.Host == "" && e.Target == opts.Host && len(e.Hosts) > 0 && commandAction(e.Command) == opts.Action {
			last = &events[i]
			break
		}
	}
	if last == nil {
		return nil, "", &usageError{fmt.Sprintf("--resume: no earlier run of %q on %q for %s in the registry", opts.Action, opts.Host, opts.Service)}
	}
	finished := map[string]bool{}
	if last.Complete {
		for _, h := range last.Hosts {
			if fleet.Result(h.Result).Succeeded() {
				finished[h.Host] = true
			}
		}
	} else {
		// The run died (SIGKILL, power): its hosts' own events say which
		// finished.
		for _, e := range events {
			if e.Run == last.ID && e.Complete && (e.Result == "ok" || e.Result == "unchanged") {
				finished[e.Host] = true
			}
		}
	}
	planned := map[string]bool{}
	for _, h := range last.Hosts {
		planned[h.Host] = true
	}
	var keep []fleet.Target
	var names []string
	for _, t := range targets {
		if planned[t.Host] && !finished[t.Host] {
			keep = append(keep, t)
			names = append(names, t.Host)
		}
	}
	when := last.Started.UTC().Format("2006-01-02 15:04:05 UTC")
	if len(keep) == 0 {
		return nil, fmt.Sprintf("the run of %s finished on every host; nothing to do", when), nil
	}
	return keep, fmt.Sprintf("the run of %s left %d of %s to do: %s", when, len(keep), plural.N(len(last.Hosts), "host", "hosts"), strings.Join(names, ", ")), nil
}

// commandAction is the first word of an event's command: "restart".
func commandAction(command string) string {
	action, _, _ := strings.Cut(command, " ")
	return action
}

// fleetCode is a fleet run's exit code: 130 interrupted; 0 every host
// done; 3 some done, others not; 4 none done and every failure a host that
// could not be reached; 5 none done and none failed (nothing was touched);
// 1 otherwise.
func fleetCode(rep *fleet.Report) int {
	ok := rep.Count(fleet.Done) + rep.Count(fleet.Unchanged)
	fails := rep.Failures()
	switch {
	case rep.Interrupted:
		return ExitInterrupted
	case ok == len(rep.Hosts):
		return ExitOK
	case ok > 0:
		return ExitPartial
	case fails > 0 && fails == rep.Count(fleet.Unreachable):
		return ExitUnreachable
	case fails == 0:
		return ExitRefused
	}
	return ExitFailed
}

func fleetResultWord(code int) string {
	if code == ExitPartial {
		return "partial"
	}
	return resultWord(code)
}
