package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/registry"
)

type configRollbackOptions struct {
	req     engine.ConfigRollbackRequest
	yes     bool
	restart string
	verbose bool
}

func addConfigRollbackCommand(cfg *kingpin.CmdClause, g *globalOptions, s Streams, run *func(context.Context) error) {
	o := &configRollbackOptions{}
	cmd := cfg.Command("rollback", "Restore a service's configuration files on a host from the registry's history (by default as they were before the last apply), then restart the service.")
	cmd.Arg("HOST", "A host of the inventory.").Required().HintAction(hostHints(g)).StringVar(&o.req.Host)
	cmd.Arg("SERVICE", "A service of that host.").Required().HintAction(serviceHints(g, &o.req.Host)).StringVar(&o.req.Service)
	cmd.Flag("to", fmt.Sprintf("Restore the file(s) that had this content, a hash as config history shows it (at least %d hex digits).", engine.MinHashPrefix)).StringVar(&o.req.To)
	cmd.Flag("yes", "Do not ask for confirmation (needed without a terminal).").Short('y').BoolVar(&o.yes)
	cmd.Flag("dry-run", "Say what would be restored and change nothing.").BoolVar(&o.req.DryRun)
	cmd.Flag("restart", "auto: restart the service when a restored file asks for it (on_change), as service restart does; none: leave it pending.").Default("auto").EnumVar(&o.restart, "auto", "none")
	cmd.Flag("lock-timeout", "How long to wait for another run that holds the service (0: fail at once, exit 5).").Default("0s").DurationVar(&o.req.LockTimeout)
	cmd.Flag("verbose", "Print each step of the restart on stderr.").Short('v').BoolVar(&o.verbose)
	cmd.Action(func(*kingpin.ParseContext) error {
		*run = func(ctx context.Context) error { return configRollbackRun(ctx, g, s, o) }
		return nil
	})
}

// configRollbackDoc is the JSON of `omni config rollback`.
type configRollbackDoc struct {
	Rollback *engine.ConfigRollbackReport `json:"rollback"`
	Restart  *serviceDoc                  `json:"restart,omitempty"`
}

func configRollbackRun(ctx context.Context, g *globalOptions, s Streams, o *configRollbackOptions) error {
	inv, err := loadInventory(g)
	if err != nil {
		return err
	}
	reg, err := openStore(ctx, g, inv)
	if err != nil {
		return err
	}
	defer reg.Close()
	narrative := s
	if g.Output == "json" {
		narrative.Out = s.Err
	}
	env := configEnv(g, s, inv)
	if !o.yes && !o.req.DryRun {
		// Show what would be restored, then ask.
		dry := o.req
		dry.DryRun = true
		rep, err := engine.RollbackConfig(ctx, reg, dry, env)
		if rep != nil {
			writeConfigRollback(narrative.Out, rep, true, o.restart, err != nil)
		}
		if err != nil {
			return err
		}
		if !s.InTTY {
			return &refusedError{"no terminal to ask for confirmation: pass --yes to confirm; nothing was changed"}
		}
		if err := ask(ctx, s); err != nil {
			return err
		}
		fmt.Fprintln(s.Err)
	}
	rep, err := engine.RollbackConfig(ctx, reg, o.req, env)
	doc := configRollbackDoc{Rollback: rep}
	if rep != nil && (o.yes || o.req.DryRun || err != nil) {
		writeConfigRollback(narrative.Out, rep, o.req.DryRun, o.restart, err != nil)
	} else if rep != nil {
		writeRolledBack(narrative.Out, rep)
	}
	if err != nil || o.req.DryRun || !rep.Changed() {
		if g.Output == "json" && rep != nil && err == nil {
			return writeJSON(s.Out, doc)
		}
		return err
	}
	var restartErr error
	if rep.Stopped {
		fmt.Fprintf(narrative.Out, "Not restarted: %s on %s is stopped and stays stopped; its next start runs with the restored files (pending: written while stopped).\n",
			rep.Service, rep.Host)
	} else if rep.RestartOwed && o.restart == "auto" {
		doc.Restart, restartErr = rollbackRestart(ctx, g, s, narrative, o, reg, rep)
	} else if rep.RestartOwed {
		fmt.Fprintf(narrative.Out, "Not restarted (--restart none): %s on %s is pending until it restarts (omni service restart %s %s).\n",
			rep.Service, rep.Host, rep.Host, rep.Service)
	}
	fmt.Fprintf(narrative.Out, "\nThe host now differs from the inventory: omni config diff %s %s shows how; omni config apply %s %s puts git's configuration back.\n",
		rep.Host, rep.Service, rep.Host, rep.Service)
	if g.Output == "json" {
		if err := writeJSON(s.Out, doc); err != nil {
			return err
		}
		if restartErr != nil {
			return reported{reportedCode(restartErr)}
		}
	}
	return restartErr
}

// rollbackRestart restarts the service as `omni service restart` does
// (the same plan, run by engine.Run under its own lock), without the step
// that would write the inventory's configuration back; once it succeeds
// the registry no longer holds the service pending.
func rollbackRestart(ctx context.Context, g *globalOptions, s, narrative Streams, o *configRollbackOptions, reg registry.Store, rep *engine.ConfigRollbackReport) (*serviceDoc, error) {
	inv, err := loadInventory(g)
	if err != nil {
		return nil, err
	}
	books, err := loadPlaybooks(g)
	if err != nil {
		return nil, err
	}
	pb, err := books.Get("restart")
	if err != nil {
		return nil, err
	}
	plan, err := engine.NewPlan(inv, pb, engine.Request{Action: "restart", Host: rep.Host, Service: rep.Service})
	if err != nil {
		return nil, err
	}
	plan = engine.RollbackRestartPlan(plan)
	fmt.Fprintf(narrative.Out, "\nRestarting %s on %s with the restored configuration...\n", rep.Service, rep.Host)
	res, err := engine.Run(ctx, reg, engine.RunRequest{Request: plan.Request, Targets: []engine.Target{{Host: plan.Host.Name, Plan: plan}}, LockTimeout: o.req.LockTimeout},
		engine.RunEnv{
			Inventory: inv,
			Connect:   func() (engine.Connector, func(), error) { return connector(g, s, inv) },
			Stdout:    s.Out, Stderr: s.Err,
			OnStep: stepPrinter(s, narrative.Out, plan, o.verbose),
			// The rollback, which said it restarts, was confirmed.
			Confirm: func(ctx context.Context, c engine.Confirmation) error { return confirm(ctx, narrative, plan, c, true) },
			Warn:    warner(s),
		})
	if err != nil {
		return nil, err
	}
	out := res.Outcome
	if out.Err == nil {
		if err := engine.MarkConfigRunning(reg, rep.Host, rep.Service, rep.Applied); err != nil {
			fmt.Fprintf(s.Err, "omni: restarted, but the registry still says a restart is pending: %v\n", err)
		}
	} else {
		fmt.Fprintf(narrative.Out, "The restart failed: %s on %s stays pending (omni config diff says so).\n", rep.Service, rep.Host)
	}
	code := outcomeCode(out)
	if g.Output == "json" {
		doc := newServiceDoc(plan, out, code)
		return &doc, codeOnly(code)
	}
	return nil, renderOutcome(s, plan, out)
}

// writeConfigRollback prints what a rollback does (or would do) per file;
// refused: it was refused (its error says why), so it wrote nothing, and
// not because there was nothing to write.
func writeConfigRollback(w io.Writer, rep *engine.ConfigRollbackReport, dry bool, restart string, refused bool) {
	what := "undoing the apply " + rep.Undoes
	if rep.To != "" {
		what = "to content " + rep.To
	}
	fmt.Fprintf(w, "Rollback of %s on %s (%s):\n", rep.Service, rep.Host, what)
	writeRollbackFiles(w, rep)
	if !dry && !refused && !rep.Changed() && rep.Event == "" {
		fmt.Fprintln(w, "Nothing to write: the host has these contents already.")
	}
	if dry && restart == "auto" {
		fmt.Fprintln(w, "Then the service restarts when a restored file asks for it (on_change), unless it is stopped: a stopped service stays stopped.")
	}
}

// writeRolledBack prints what a confirmed rollback did.
func writeRolledBack(w io.Writer, rep *engine.ConfigRollbackReport) {
	fmt.Fprintf(w, "Rolled back %s on %s:\n", rep.Service, rep.Host)
	writeRollbackFiles(w, rep)
}

func writeRollbackFiles(w io.Writer, rep *engine.ConfigRollbackReport) {
	for _, f := range rep.Files {
		from := shortHash(f.From)
		if f.OldSecret {
			from = secretHash
		}
		hashes := from + " → " + shortHash(f.To)
		if f.Secret {
			hashes = "(secret)"
		}
		origin := ""
		if f.Origin != "" {
			origin = " (from the " + f.Origin + ")"
		}
		fmt.Fprintf(w, "  %-15s %s  %s%s\n", f.Action, f.Path, hashes, origin)
	}
	if rep.DaemonReloaded {
		fmt.Fprintln(w, "  systemctl daemon-reload ran")
	}
}
