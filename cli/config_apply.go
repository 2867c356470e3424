package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// configApplyOptions are `omni config apply`'s arguments and flags; the
// restart flags are those of `omni service restart` (serviceOptions).
type configApplyOptions struct {
	Target  string
	Service string
	Restart string
	restart serviceOptions
}

func init() {
	configCommands = append(configCommands, addConfigApply)
}

func addConfigApply(group *kingpin.CmdClause, g *globalOptions, s Streams, run *func(context.Context) error) {
	o := &configApplyOptions{restart: serviceOptions{Action: "restart"}}
	r := &o.restart
	cmd := group.Command("apply", "Write the declared configuration where a host's copy differs (validated, atomic; "+
		"a daemon-reload when a drop-in changed), then restart the services whose configuration changed, "+
		"as `omni service restart` does (rolling and health-gated for a critical service on several hosts).")
	cmd.Arg("TARGET", "A host, a role, a glob, a comma list, or all (the default).").Default("all").HintAction(hostHints(g)).StringVar(&o.Target)
	cmd.Arg("SERVICE", "A service (default: every service of the hosts that declares configuration).").HintAction(serviceHints(g, &o.Target)).StringVar(&o.Service)
	cmd.Flag("restart", "auto: restart what changed as `service restart` would; rolling: one batch at a time, health-gated, whatever the service; none: leave them pending.").
		Default(engine.RestartAuto).EnumVar(&o.Restart, engine.RestartAuto, engine.RestartRolling, engine.RestartNone)
	cmd.Flag("dry-run", "Show what would be written and restarted; change nothing.").BoolVar(&r.DryRun)
	cmd.Flag("yes", "Do not ask for confirmation (needed without a terminal).").Short('y').BoolVar(&r.Yes)
	cmd.Flag("verbose", "Print each restart step on stderr as it finishes.").Short('v').BoolVar(&r.Verbose)
	cmd.Flag("lock-timeout", "How long to wait for another run that holds one of the services (0: fail at once, exit 5).").Default("0s").DurationVar(&r.LockTimeout)
	cmd.Flag("forks", "Hosts acted on at once.").Default("20").IntVar(&r.Forks)
	addRollingFlags(cmd, r) // the restarts' budgets, as `service restart` has them
	cmd.Flag("no-deps", "Restarts: refuse if a dependency is down instead of starting it first.").BoolVar(&r.NoDeps)
	cmd.Action(func(*kingpin.ParseContext) error {
		*run = func(ctx context.Context) error { return configApply(ctx, g, s, o) }
		return nil
	})
}

// restartRun is phase 2 for one service: its hosts that owe a restart.
type restartRun struct {
	Service string
	Hosts   []string
	Rolling bool
	Report  *engine.FleetReport
	Err     error // the run could not start (lock, usage)
	Skipped string
}

func configApply(ctx context.Context, g *globalOptions, s Streams, o *configApplyOptions) error {
	if o.restart.Forks < 1 {
		return &usageError{"--forks must be 1 or more"}
	}
	inv, err := loadInventory(g)
	if err != nil {
		return err
	}
	reg, err := openStore(ctx, g, inv)
	if err != nil {
		return err
	}
	defer reg.Close()
	req := engine.ConfigRequest{Target: o.Target, Service: o.Service, Restart: o.Restart, DryRun: o.restart.DryRun,
		Forks: o.restart.Forks, LockTimeout: o.restart.LockTimeout}
	env := configEnv(g, s, inv)
	rep, err := engine.ApplyConfig(ctx, reg, req, env)
	if err != nil {
		return err
	}
	var runs []*restartRun
	if !o.restart.DryRun && o.Restart != engine.RestartNone && ctx.Err() == nil {
		runs = restartOwed(ctx, g, s, o, inv, reg, rep)
	} else if o.restart.DryRun {
		runs = owedRestarts(inv, o, rep)
	}
	code := applyCode(ctx, rep, runs)
	if g.Output == "json" {
		if err := writeJSON(s.Out, newApplyDoc(o, rep, runs, code)); err != nil {
			return err
		}
	} else {
		renderApply(s, o, rep, runs)
	}
	for _, h := range rep.Hosts {
		if h.Err != nil {
			fmt.Fprintf(s.Err, "omni: %s\n", indentContinuation(engine.Words(h.Err)))
		}
		for _, sv := range h.Services {
			if sv.Err != nil {
				fmt.Fprintf(s.Err, "omni: %s\n", engine.Words(sv.Err))
			}
		}
	}
	for _, r := range runs {
		if r.Err != nil {
			fmt.Fprintf(s.Err, "omni: restart of %s: %s\n", r.Service, engine.Words(r.Err))
		}
	}
	if o.restart.Verbose {
		printApplyTrips(s.Err, rep, runs)
	}
	return codeOnly(code)
}

// owedRestarts groups the (host, service) pairs that owe a restart by
// service, in name order; hosts in target order.
func owedRestarts(inv *inventory.Inventory, o *configApplyOptions, rep *engine.ConfigApplyReport) []*restartRun {
	by := map[string]*restartRun{}
	var names []string
	for _, h := range rep.Hosts {
		for _, sv := range h.Services {
			if !sv.Restart {
				continue
			}
			r, ok := by[sv.Service]
			if !ok {
				r = &restartRun{Service: sv.Service}
				by[sv.Service] = r
				names = append(names, sv.Service)
			}
			r.Hosts = append(r.Hosts, h.Host)
		}
	}
	sort.Strings(names)
	out := make([]*restartRun, len(names))
	for i, n := range names {
		out[i] = by[n]
		if svc, err := inv.Service(n); err == nil {
			fo, err := fleetOptions(&o.restart, svc, len(out[i].Hosts))
			out[i].Rolling = err == nil && (fo.Rolling || o.Restart == engine.RestartRolling)
		}
	}
	return out
}

// restartOwed is phase 2: for each service, the hosts that owe a restart
// are restarted by the code of `omni service restart TARGET SERVICE`
// (engine.Targets, fleetOptions, engine.Run) with the same flags; each
// restart's config step finds its host unchanged. A restart that fails
// leaves its service pending (the record step).
func restartOwed(ctx context.Context, g *globalOptions, s Streams, o *configApplyOptions, inv *inventory.Inventory,
	reg registry.Store, rep *engine.ConfigApplyReport) []*restartRun {
	runs := owedRestarts(inv, o, rep)
	if len(runs) == 0 {
		return nil
	}
	books, err := loadPlaybooks(g)
	if err != nil {
		for _, r := range runs {
			r.Err = err
		}
		return runs
	}
	pb, err := books.Get("restart")
	for _, r := range runs {
		if err != nil {
			r.Err = err
			continue
		}
		if ctx.Err() != nil {
			r.Skipped = "interrupted"
			continue
		}
		opts := o.restart
		opts.Host, opts.Service = strings.Join(r.Hosts, ","), r.Service
		req := engine.Request{Action: "restart", Host: opts.Host, Service: r.Service, NoDeps: opts.NoDeps}
		targets, _, terr := engine.Targets(inv, pb, req)
		if terr != nil {
			r.Err = terr
			continue
		}
		fo, ferr := fleetOptions(&opts, targets[0].Plan.Service, len(targets))
		if ferr != nil {
			r.Err = ferr
			continue
		}
		if o.Restart == engine.RestartRolling {
			fo.Rolling = true
		}
		r.Rolling = fo.Rolling
		fmt.Fprintf(s.Err, "omni: restarting %s on %s%s\n", r.Service, strings.Join(r.Hosts, ", "), map[bool]string{true: " (rolling)"}[fo.Rolling])
		res, rerr := engine.Run(ctx, reg, engine.RunRequest{Request: req, Targets: targets, Fleet: true, Options: fo, LockTimeout: opts.LockTimeout},
			engine.RunEnv{
				Inventory: inv,
				Connect:   func() (engine.Connector, func(), error) { return connector(g, s, inv) },
				Stdout:    s.Out, Stderr: s.Err,
				Hard: hardStop(ctx), Warn: warner(s),
				OnEvent: func(ev engine.FleetEvent) {
					if opts.Verbose && ev.Step != nil {
						printStep(s, ev.Host, r.Service, *ev.Step)
					}
				},
			})
		if rerr != nil {
			r.Err = rerr
			continue
		}
		r.Report = res.Report
	}
	return runs
}

// printStep is one restart step on stderr (-v).
func printStep(s Streams, host, service string, r engine.StepResult) {
	est := errStyle(s)
	mark, note := est.step(false), r.Text()
	if r.Status == engine.StepFailed {
		mark, note = est.step(true), engine.Failure(r.Err)
	}
	if note != "" {
		note = ": " + note
	}
	fmt.Fprintf(s.Err, "  %s %-15s %6.3fs %s@%s%s\n", mark, r.Task.Step, r.Duration.Seconds(), r.Task.Service, r.Task.Host, note)
}

// restartOutcome is what phase 2 did on one (host, service).
type restartOutcome struct {
	word  string // the RESTART cell: restarted, would restart, not restarted (…), failed, unreachable, …; "" when it owed none
	state restartState
	err   error // why it failed, when known
}

// restartState says whether a restart was owed and how it ended.
type restartState int

const (
	restartNone    restartState = iota // owed none
	restartPlanned                     // --dry-run: would restart
	restartDone                        // restarted (or found running as it should)
	restartFailed                      // owed, and not done: the service stays pending
)

// class is the restart's part in the apply's result: ok unless it failed,
// then its error's class (failed when it has none: not restarted).
func (r restartOutcome) class() engine.Class {
	if r.state != restartFailed {
		return engine.ClassOK
	}
	if c := engine.Classify(r.err); c != engine.ClassOK {
		return c
	}
	return engine.ClassFailed
}

// restartOf is what phase 2 did on one (host, service).
func restartOf(runs []*restartRun, host, service string) restartOutcome {
	for _, r := range runs {
		if r.Service != service {
			continue
		}
		for _, h := range r.Hosts {
			if h != host {
				continue
			}
			switch {
			case r.Err != nil:
				return restartOutcome{"not restarted", restartFailed, r.Err}
			case r.Skipped != "":
				return restartOutcome{"not restarted (" + r.Skipped + ")", restartFailed, nil}
			case r.Report == nil:
				if r.Rolling {
					return restartOutcome{"would restart (rolling)", restartPlanned, nil}
				}
				return restartOutcome{"would restart", restartPlanned, nil}
			}
			for _, hr := range r.Report.Hosts {
				if hr.Host == host {
					if hr.Result.Succeeded() {
						return restartOutcome{"restarted", restartDone, nil}
					}
					return restartOutcome{string(hr.Result), restartFailed, hr.Err}
				}
			}
		}
	}
	return restartOutcome{}
}

// serviceRestartWord is the RESTART cell of one (host, service).
func serviceRestartWord(sv engine.ConfigServiceResult, runs []*restartRun, dryRun bool) string {
	if r := restartOf(runs, sv.Host, sv.Service); r.state != restartNone {
		if r.state == restartFailed && r.err != nil {
			return r.word + ": " + engine.Failure(r.err) + " (pending)"
		}
		if sv.Owed != "" {
			// Nothing written now asks for it: say why it restarts.
			return r.word + " (" + sv.Owed + ")"
		}
		return r.word
	}
	switch {
	case sv.ApplyFailed && errors.Is(sv.Err, context.Canceled):
		return "none: interrupted after writing (pending)"
	case sv.ApplyFailed && sv.Pending:
		return "none: the apply failed (pending)"
	case sv.ApplyFailed:
		return "none: the apply failed"
	case sv.Err != nil:
		return "reload failed (pending)"
	case sv.Reloaded:
		return "reloaded"
	case sv.Pending:
		return "pending: " + sv.PendingReason
	case dryRun && sv.Changed():
		return "none needed"
	case sv.Changed():
		return "none needed"
	}
	return "-"
}

func filesCell(sv engine.ConfigServiceResult, dryRun bool) string {
	var written, attrs, same int
	for _, f := range sv.Files {
		switch f.Action {
		case config.Written:
			written++
		case config.AttrsFixed:
			attrs++
		default:
			same++
		}
	}
	verb := "written"
	if dryRun {
		verb = "to write"
	}
	var parts []string
	if written > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", written, verb))
	}
	if attrs > 0 {
		parts = append(parts, fmt.Sprintf("%d mode/owner fixed", attrs))
	}
	if same > 0 {
		parts = append(parts, fmt.Sprintf("%d unchanged", same))
	}
	return strings.Join(parts, ", ")
}

// renderApply prints the table, and with --dry-run each file to write.
func renderApply(s Streams, o *configApplyOptions, rep *engine.ConfigApplyReport, runs []*restartRun) {
	dry := o.restart.DryRun
	if dry {
		fmt.Fprintln(s.Out, "Dry run: nothing is written or restarted.")
		for _, h := range rep.Hosts {
			for _, sv := range h.Services {
				for _, f := range sv.Files {
					if f.Action == config.Unchanged {
						continue
					}
					what := "write"
					if f.Action == config.AttrsFixed {
						what = "fix mode/owner of"
					} else if f.OldHash == "" {
						what = "write (new file)"
					}
					secret := ""
					if f.Secret {
						secret = " (secret)"
					}
					fmt.Fprintf(s.Out, "  %s %s: would %s %s%s\n", h.Host, sv.Service, what, f.Path, secret)
				}
			}
		}
	}
	t := newTable("HOST", "SERVICE", "FILES", "RESTART")
	for _, h := range rep.Hosts {
		if h.Err != nil {
			t.append(h.Host, "-", "failed: nothing written", engine.Failure(h.Err))
			continue
		}
		for _, sv := range h.Services {
			t.append(h.Host, sv.Service, filesCell(sv, dry), serviceRestartWord(sv, runs, dry))
		}
	}
	_ = t.render(s)
	if o.Restart == engine.RestartNone && !dry {
		var pending []string
		for _, h := range rep.Hosts {
			for _, sv := range h.Services {
				if sv.Pending {
					pending = append(pending, sv.Service+"@"+h.Host)
				}
			}
		}
		if len(pending) > 0 {
			fmt.Fprintf(s.Out, "\n--restart none: %s pending a restart: %s (omni config diff lists them; omni service restart, or a later apply, does it)\n",
				plural.N(len(pending), "service is", "services are"), strings.Join(pending, ", "))
		}
	}
}

// applyCode is the exit code of an apply, by the rule of every run over
// several hosts (engine.Tally): every failure of phase 1 (per host) and
// phase 2 (per restarted host) counts once; a host with none is done;
// all failed alike is their code, some failed and some not is partial.
func applyCode(ctx context.Context, rep *engine.ConfigApplyReport, runs []*restartRun) int {
	t := engine.Tally{Interrupted: ctx.Err() != nil}
	for _, h := range rep.Hosts {
		if h.Err != nil {
			t.Add(h.Err)
			continue
		}
		var failed []engine.Class
		for _, sv := range h.Services {
			if sv.Err != nil {
				failed = append(failed, engine.ClassFailed)
			} else if c := restartOf(runs, h.Host, sv.Service).class(); c != engine.ClassOK {
				failed = append(failed, c)
			}
		}
		if len(failed) == 0 {
			t.OK++
		}
		t.Failed = append(t.Failed, failed...)
	}
	return classCode(t.Class())
}

// applyDoc is `omni config apply -o json` (docs/json.md).
type applyDoc struct {
	Command  string           `json:"command"` // "config apply"
	Target   string           `json:"target"`
	Service  string           `json:"service,omitempty"`
	DryRun   bool             `json:"dry_run"`
	Restart  string           `json:"restart"` // auto, rolling, none
	Result   string           `json:"result"`
	ExitCode int              `json:"exit_code"`
	Hosts    []applyHostDoc   `json:"hosts"`
	Restarts []applyRestartDc `json:"restarts,omitempty"`
}

type applyHostDoc struct {
	Host           string            `json:"host"`
	Error          string            `json:"error,omitempty"` // nothing was written on it
	DaemonReloaded bool              `json:"daemon_reloaded,omitempty"`
	Services       []applyServiceDoc `json:"services,omitempty"`
	// RoundTrips: phase 1's round trips after authentication on this host
	// (read, write, status, reload); the restarts count theirs apart.
	RoundTrips *int `json:"round_trips,omitempty"`
}

type applyServiceDoc struct {
	Service       string         `json:"service"`
	Files         []applyFileDoc `json:"files"`
	Restart       string         `json:"restart"` // restarted, failed, would restart, reloaded, pending: …, none needed, -
	Pending       bool           `json:"pending"`
	PendingReason string         `json:"pending_reason,omitempty"`
	// RestartReason: the restart was owed by an earlier run ("pending
	// from an earlier apply (…)"), not by a file written now.
	RestartReason string `json:"restart_reason,omitempty"`
	Error         string `json:"error,omitempty"`
}

type applyFileDoc struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"`
	Action string `json:"action"` // written, attrs fixed, unchanged (with --dry-run: what would be done)
	Secret bool   `json:"secret,omitempty"`
	// Hashes of a file with secret content are left out; so is the old
	// hash of a host copy that held a secret (omni wrote it so) when the
	// declaration holds none now.
	OldHash string `json:"old_hash,omitempty"`
	NewHash string `json:"new_hash,omitempty"`
}

type applyRestartDc struct {
	Service string   `json:"service"`
	Hosts   []string `json:"hosts"`
	Rolling bool     `json:"rolling"`
	Result  string   `json:"result"` // ok, failed, partial, …; "planned" with --dry-run
	Error   string   `json:"error,omitempty"`
}

func newApplyDoc(o *configApplyOptions, rep *engine.ConfigApplyReport, runs []*restartRun, code int) applyDoc {
	doc := applyDoc{Command: "config apply", Target: o.Target, Service: o.Service, DryRun: o.restart.DryRun, Restart: o.Restart,
		Result: resultWord(code), ExitCode: code, Hosts: []applyHostDoc{}}
	for _, h := range rep.Hosts {
		hd := applyHostDoc{Host: h.Host, DaemonReloaded: h.DaemonReloaded, RoundTrips: tripsCount(h.RoundTrips)}
		if h.Err != nil {
			hd.Error = engine.Words(h.Err)
		}
		for _, sv := range h.Services {
			sd := applyServiceDoc{Service: sv.Service, Files: []applyFileDoc{}, Restart: serviceRestartWord(sv, runs, o.restart.DryRun),
				Pending: sv.Pending, PendingReason: sv.PendingReason, RestartReason: sv.Owed}
			if sv.Err != nil { // its reload failed, or the apply did after writing
				sd.Error = engine.Words(sv.Err)
			}
			switch r := restartOf(runs, h.Host, sv.Service); r.state {
			case restartFailed:
				sd.Pending, sd.PendingReason = true, "written, its restart failed"
				if r.err != nil {
					sd.Error = engine.Words(r.err)
				}
			case restartDone:
				sd.Pending, sd.PendingReason = false, ""
			}
			if sv.Err != nil {
				sd.Error = engine.Words(sv.Err)
			}
			for _, f := range sv.Files {
				fd := applyFileDoc{Path: f.Path, Kind: string(f.Kind), Action: string(f.Action), Secret: f.Secret}
				if !f.Secret {
					fd.NewHash = f.NewHash
				}
				if !f.Secret && !f.OldSecret {
					fd.OldHash = f.OldHash
				}
				sd.Files = append(sd.Files, fd)
			}
			hd.Services = append(hd.Services, sd)
		}
		doc.Hosts = append(doc.Hosts, hd)
	}
	for _, r := range runs {
		rd := applyRestartDc{Service: r.Service, Hosts: r.Hosts, Rolling: r.Rolling}
		switch {
		case r.Err != nil:
			rd.Result, rd.Error = string(engine.Classify(r.Err)), engine.Words(r.Err)
		case r.Report != nil:
			rd.Result = string(r.Report.Class())
		case r.Skipped != "":
			rd.Result = r.Skipped
		default:
			rd.Result = "planned"
		}
		doc.Restarts = append(doc.Restarts, rd)
	}
	return doc
}
