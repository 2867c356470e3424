package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
	"github.com/omni-fleet/omni/registry"
)

// fleetRun is `omni service ACTION TARGET SERVICE` for a target that is not
// one host: a role, a glob, a list or all. One plan per host, run in
// parallel or rolling, reported as one table row per host.
func fleetRun(ctx context.Context, g *globalOptions, s Streams, opts *serviceOptions, inv *inventory.Inventory, pb *playbooks.Playbook) error {
	req := engine.Request{
		Action: opts.Action, Host: opts.Host, Service: opts.Service, Lines: opts.Lines, Follow: opts.Follow,
		NoDeps: opts.NoDeps, Cascade: opts.Cascade,
	}
	targets, skipped, err := engine.Targets(inv, pb, req)
	if err != nil {
		return err
	}
	svc := targets[0].Plan.Service
	if len(skipped) > 0 {
		fmt.Fprintf(s.Err, "omni: skipped, they do not run %s: %s\n", svc.Name, strings.Join(skipped, ", "))
	}
	if opts.Action == "logs" {
		return fleetLogs(ctx, g, s, opts, inv, req, targets)
	}
	fo, err := fleetOptions(opts, svc, len(targets))
	if err != nil {
		return err
	}
	jsonOut := g.Output == "json"
	// A dry run changes nothing, the registry included (opening it creates
	// and checks the file): it reads it only to show what --resume would run.
	var reg registry.Store
	if !opts.DryRun || opts.Resume {
		if reg, err = openStore(ctx, g, inv); err != nil {
			return err
		}
		defer reg.Close()
	}
	if opts.Resume {
		var note string
		if targets, note, err = engine.Resume(reg, req, targets); err != nil {
			return err
		}
		fmt.Fprintf(s.Err, "omni: --resume: %s\n", note)
		if len(targets) == 0 && !opts.DryRun {
			return nothingToResume(s, opts, svc.Name, skipped, jsonOut)
		}
	}
	var impact []engine.Instance
	if opts.Action == "stop" || opts.Action == "restart" {
		impact = fleetImpact(inv, targets)
	}
	var byRole []string // a stop's or restart's requirements on a role its targets help meet
	if opts.Action == "stop" || opts.Action == "restart" {
		byRole = engine.RoleRequirements(inv, targetInstances(targets))
	}
	if opts.DryRun {
		return renderFleetPlan(s, g, opts, fo, targets, impact, byRole)
	}
	// A stop (or restart) that takes away a role's last running and
	// healthy instances of a service needed there as svc@role: the
	// instances outside the run are read now, before anything changes, and
	// the dependents that lose it are part of the impact (a stop asks).
	var loss engine.RoleLoss
	if len(byRole) > 0 {
		conn, closeConn, err := connector(g, s, inv)
		if err != nil {
			return err
		}
		loss = engine.FleetRoleLoss(ctx, inv, targetInstances(targets), conn, fo.Forks)
		closeConn()
		if err := ctx.Err(); err != nil {
			return &interruptedError{"interrupted while reading the role's other instances; nothing was changed", err}
		}
		impact = withRoleLoss(impact, loss)
	}
	if err := confirmFleet(ctx, s, opts, svc, targets, impact, loss); err != nil {
		return err
	}
	var prog *progress
	res, err := engine.Run(ctx, reg, engine.RunRequest{
		Request: req, Targets: targets, Fleet: true, Options: fo, LockTimeout: opts.LockTimeout, Resume: opts.Resume,
	}, engine.RunEnv{
		Inventory: inv,
		Connect:   func() (engine.Connector, func(), error) { return connector(g, s, inv) },
		Stdout:    s.Out, Stderr: s.Err,
		// The progress starts once the run holds its lock and its hosts
		// can be reached: a run that cannot start prints only why.
		Started: func(hosts int) { prog = newProgress(s, opts, fo, hosts) },
		OnEvent: func(ev engine.FleetEvent) { prog.event(ev) },
		Hard:    hardStop(ctx),
		Warn:    warner(s),
	})
	if err != nil {
		return err
	}
	rep := res.Report
	if len(rep.Hosts) == 0 {
		// --resume: under the lock, another run had finished every host
		// (Run's warning named them); nothing was touched or recorded.
		return nothingToResume(s, opts, svc.Name, skipped, jsonOut)
	}
	if len(res.Targets) < len(targets) {
		// --resume left some out under the lock: the report, its
		// dependents and its plans are those of the hosts it ran.
		targets = res.Targets
		if impact != nil {
			impact = withRoleLoss(fleetImpact(inv, targets), loss)
		}
	}
	prog.close()
	if opts.Verbose {
		for _, h := range rep.Hosts {
			if h.Outcome == nil {
				continue
			}
			if rt, ok := h.Outcome.RoundTrips[h.Host]; ok {
				fmt.Fprintf(s.Err, "%s: %s\n", h.Host, roundTripLine(rt))
			}
		}
	}
	code := fleetCode(rep)
	if jsonOut {
		if err := writeJSON(s.Out, newFleetDoc(opts, fo, targets, rep, skipped, code, impact)); err != nil {
			return err
		}
		return codeOnly(code)
	}
	if err := renderFleetTable(s, g, opts, fo, rep, code); err != nil {
		return err
	}
	return codeOnly(code)
}

// nothingToResume ends a --resume run that found nothing left to do:
// exit 0, and with -o json a document without hosts.
func nothingToResume(s Streams, opts *serviceOptions, service string, skipped []string, jsonOut bool) error {
	if jsonOut {
		return writeJSON(s.Out, fleetDoc{Command: opts.Action, Target: opts.Host, Service: service, Result: "unchanged",
			Summary: map[string]int{}, Hosts: []fleetHostDoc{}, Skipped: skipped})
	}
	return nil
}

// fleetOptions resolves the budgets against the target's size.
func fleetOptions(opts *serviceOptions, svc *inventory.Service, hosts int) (engine.FleetOptions, error) {
	fo := engine.FleetOptions{Forks: opts.Forks, MinReady: opts.MinReady}
	if fo.Forks < 1 {
		return fo, &usageError{"--forks must be 1 or more"}
	}
	if opts.MinReady < 0 {
		return fo, &usageError{"--min-ready must not be negative"}
	}
	if opts.Action == "stop" {
		fo.MinReady = 0 // a stopped service has nothing to stay ready for
	}
	fo.Rolling = engine.RollsByDefault(opts.Action, svc, hosts)
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
	mf, err := engine.ParseCount(opts.MaxFailures)
	if err != nil {
		return fo, &usageError{"--max-failures: " + err.Error()}
	}
	fo.MaxFailures = mf.Of(hosts)
	// By default the budget is a batch, plus the failures the run
	// tolerates: a host that failed stays down, and without the room
	// --max-failures could never be reached (the first failure would use
	// the whole budget and stop the run).
	fo.MaxUnavailable = min(fo.Batch+fo.MaxFailures, max(hosts, 1))
	if opts.MaxUnavailable != "" {
		mu, err := positiveCount("--max-unavailable", opts.MaxUnavailable)
		if err != nil {
			return fo, err
		}
		fo.MaxUnavailable = max(mu.Of(hosts), 1)
	}
	return fo, nil
}

// positiveCount reads a count that must be at least 1: a batch of 0 hosts
// would never finish, and with no surge a max-unavailable of 0 would take
// no host down (Kubernetes gives 0 a meaning only with maxSurge).
func positiveCount(flag, value string) (engine.Count, error) {
	c, err := engine.ParseCount(value)
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
//
// loss is what the run takes away from services that need it on a role
// (engine.FleetRoleLoss): its dependents are in impact already; it says
// why, and names the instances that could not be read.
func confirmFleet(ctx context.Context, s Streams, opts *serviceOptions, svc *inventory.Service, targets []engine.Target, impact []engine.Instance, loss engine.RoleLoss) error {
	need := len(impact) > 0 || len(loss.Unread) > 0
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
	if len(loss.LosesLast) > 0 {
		fmt.Fprintf(w, "Left without a running %s (no instance outside this run is running and healthy on the role they need it on): %s\n",
			svc.Name, instanceNames(loss.LosesLast))
	}
	for i, x := range loss.Unread {
		fmt.Fprintf(w, "Could not read %s (counted as not running): %s\n", x, engine.Failure(loss.UnreadErrs[i]))
	}
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

// targetInstances is the (host, service) of each target.
func targetInstances(targets []engine.Target) []engine.Instance {
	out := make([]engine.Instance, len(targets))
	for i, t := range targets {
		out[i] = engine.Instance{Host: t.Host, Service: t.Plan.Service.Name}
	}
	return out
}

// withRoleLoss is impact with the running dependents the run leaves
// without a role's last running and healthy instance (loss.LosesLast)
// added, each once, after it.
func withRoleLoss(impact []engine.Instance, loss engine.RoleLoss) []engine.Instance {
	if len(loss.LosesLast) == 0 {
		return impact
	}
	in := map[engine.Instance]bool{}
	for _, d := range impact {
		in[d] = true
	}
	out := append([]engine.Instance(nil), impact...)
	for _, d := range loss.LosesLast {
		if !in[d] {
			in[d] = true
			out = append(out, d)
		}
	}
	return out
}

// fleetCode is a fleet run's exit code, from its result
// (engine.FleetReport.Class).
func fleetCode(rep *engine.FleetReport) int {
	return classCode(rep.Class())
}
