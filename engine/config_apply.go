package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/fanout"
	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// ConfigEnv is what the config commands work with besides the registry.
type ConfigEnv struct {
	Inventory *inventory.Inventory
	// Connect opens the connector to the hosts once the command holds its
	// lock; close is called as the command returns.
	Connect func() (c Connector, close func(), err error)
	// Warn is told what went wrong without changing the result (history
	// that could not be recorded). Nil discards.
	Warn func(msg string)
}

// ConfigFileResult is one file of one (host, service).
type ConfigFileResult struct {
	Path   string
	Kind   config.Kind
	Secret bool // some of its content is secret: never shown
	// OldSecret: the host's copy before held a secret (omni wrote it so,
	// the registry says) though the declaration holds none now: OldHash
	// is never shown either.
	OldSecret bool
	// Action is what apply did (written, attrs fixed, unchanged) or, with
	// --dry-run, would do.
	Action  config.Action
	OldHash string // "" when it did not exist
	NewHash string
}

// ConfigServiceResult is what an apply did for one service on one host.
type ConfigServiceResult struct {
	Host, Service string
	Files         []ConfigFileResult
	// Restart: content whose on_change is restart was written and the
	// service runs: phase 2 restarts it (unless --restart none).
	Restart bool
	// Reloaded: content whose on_change is reload was written and
	// `systemctl reload` ran (only when the unit is active).
	Reloaded bool
	// Pending: a restart is owed (PendingReason says why), as the
	// registry now says.
	Pending       bool
	PendingReason string
	// Owed: Restart is set because an earlier run left the service owing
	// a restart (pending, or running another configuration), not because
	// of what this apply wrote; it says why.
	Owed string
	// ApplyFailed: the apply failed on the host after it had changed some
	// files (Files says which): Err says why; nothing was restarted.
	ApplyFailed bool
	Err         error // its reload failed, or the apply did (ApplyFailed)

	// startedSince: it was pending "written while stopped" and has
	// started since (startedSince): record clears the mark. sinceNote:
	// it runs but its start time could not be read (the mark is kept).
	startedSince bool
	sinceNote    string
}

// Changed reports whether any of its files was (or would be) written or
// fixed.
func (s ConfigServiceResult) Changed() bool {
	for _, f := range s.Files {
		if f.Action != config.Unchanged {
			return true
		}
	}
	return false
}

// ConfigHostResult is one host of an apply.
type ConfigHostResult struct {
	Host           string
	Services       []ConfigServiceResult
	DaemonReloaded bool
	Err            error // nothing was written on this host (render, reach, read, validation, write)
	// RoundTrips: what its connection waited for after authentication in
	// phase 1 (the restarts count their own); nil when not counted.
	RoundTrips *transport.RoundTrips
}

// ConfigApplyReport is phase 1 of an apply: what was written where.
type ConfigApplyReport struct {
	Hosts []ConfigHostResult
}

// ApplyConfig is phase 1 of `omni config apply`: under the run lock of
// every (host, service) it may write, hosts in parallel (req.Forks), it
// reads what each host has of all its services' files in one round trip
// and writes every changed file in one more (validated, atomic, with a
// daemon-reload when a drop-in changed); a validator that fails writes
// nothing on that host. Each (host, service) whose files changed gets a
// registry event with the changes (hashes only) and its configuration
// state: pending when a restart is owed. A systemd service whose changed
// files ask for reload is reloaded right after (a third round trip). The
// lock is released as it returns: the restarts (phase 2) are runs of
// their own. With req.DryRun it reads and reports, and writes nothing.
// An error is returned only when nothing was done (usage, lock, connect).
func ApplyConfig(ctx context.Context, reg registry.Store, req ConfigRequest, env ConfigEnv) (*ConfigApplyReport, error) {
	hosts, err := configTargets(env.Inventory, req)
	if err != nil {
		return nil, err
	}
	if err := refuseReloadOnCommand(hosts); err != nil {
		return nil, err
	}
	owner := configOwner("config apply", req)
	if !req.DryRun {
		unlock, err := reg.Lock(ctx, configLockKeys(hosts), owner, req.LockTimeout)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	conn, closeConns, err := env.Connect()
	if err != nil {
		return nil, err
	}
	defer closeConns()
	warn := env.Warn
	if warn == nil {
		warn = func(string) {}
	}
	a := &applier{inv: env.Inventory, reg: reg, conn: conn, req: req, owner: owner, warn: warn}
	rep := &ConfigApplyReport{Hosts: make([]ConfigHostResult, len(hosts))}
	fanout.Each(len(hosts), max(req.Forks, 1), func(i int) {
		rep.Hosts[i] = a.host(ctx, hosts[i])
	})
	return rep, nil
}

type applier struct {
	inv   *inventory.Inventory
	reg   registry.Store
	conn  Connector
	req   ConfigRequest
	owner registry.Owner
	warn  func(string)
	mu    sync.Mutex // the registry's writes, one at a time
}

// host applies one host's sets.
func (a *applier) host(ctx context.Context, h configHost) (out ConfigHostResult) {
	out = ConfigHostResult{Host: h.host.Name}
	fail := func(err error) ConfigHostResult {
		out.Err = fmt.Errorf("%s: %w", h.host.Name, err)
		return out
	}
	c, err := a.conn.Connect(ctx, h.host)
	if err != nil {
		return fail(err)
	}
	if rel, ok := a.conn.(Releaser); ok {
		defer rel.Release(c)
	}
	defer func() { out.RoundTrips = roundTripsOf(c) }() // before the release
	c = withBound(c, commandTimeout(a.inv))
	sudo := h.sudo()
	files := h.files()
	live, err := config.ReadLive(ctx, c, sudo, files, false)
	if err != nil {
		return fail(fmt.Errorf("reading the configuration: %w", err))
	}
	if a.req.DryRun {
		// What the real run would do, restarts included: it reads the
		// service's state as the real run does, and honours --restart.
		for _, u := range h.units {
			sr := dryRunResult(h.host.Name, u, live)
			var prev *registry.ConfigState
			if rec, ok, err := a.reg.Get(h.host.Name, u.svc.Name); err == nil && ok {
				prev = rec.Config
			}
			written := sr.Restart
			if a.owe(ctx, c, h, u, &sr, written, prev) && written && sr.Pending {
				sr.PendingReason = "would be " + sr.PendingReason // "would be written while stopped: …"
			}
			out.Services = append(out.Services, sr)
		}
		return out
	}
	began := time.Now().UTC()
	res, err := config.Apply(ctx, writer(c), sudo, files, live, config.ApplyOptions{DaemonReload: true, Timeout: 2 * commandTimeout(a.inv)})
	if err != nil && !res.Changed() {
		a.recordFailure(h, began, err)
		return fail(err)
	}
	// Failed, or interrupted, after it replaced some files (a later
	// file's owner, the daemon-reload, Ctrl-C while it synced the
	// directories): what it wrote is recorded and owed a restart, not
	// forgotten, and nothing is restarted or reloaded on a half-applied
	// configuration.
	partial := err
	out.DaemonReloaded = res.DaemonReloaded
	byPath := map[string]config.FileResult{}
	for _, fr := range res.Files {
		byPath[fr.Path] = fr
	}
	for _, u := range h.units {
		sr := ConfigServiceResult{Host: h.host.Name, Service: u.svc.Name}
		var prev *registry.ConfigState
		rec, ok, gerr := a.reg.Get(h.host.Name, u.svc.Name)
		if gerr == nil && ok {
			prev = rec.Config
		}
		one := config.ApplyResult{DaemonReloaded: res.DaemonReloaded}
		for _, f := range u.set.Files {
			fr := byPath[f.Path]
			one.Files = append(one.Files, fr)
			sr.Files = append(sr.Files, ConfigFileResult{Path: f.Path, Kind: f.Kind, Secret: f.HasSecret(),
				OldSecret: !f.HasSecret() && heldSecret(prev, gerr != nil, f.Path),
				Action:    fr.Action, OldHash: fr.OldHash, NewHash: fr.NewHash})
		}
		restart := wroteContent(u.set, one, config.OnChangeRestart)
		if partial != nil {
			sr.ApplyFailed, sr.Err = true, fmt.Errorf("%s: %s: %w", h.host.Name, u.svc.Name, partial)
			if restart || wroteContent(u.set, one, config.OnChangeReload) || prev != nil && prev.Pending {
				sr.Pending, sr.PendingReason = true, partialReason(ctx)
			}
			a.record(h.host.Name, u, one, &sr, began, prev, gerr != nil)
			out.Services = append(out.Services, sr)
			continue
		}
		restart = a.owe(ctx, c, h, u, &sr, restart, prev)
		reload := !restart && wroteContent(u.set, one, config.OnChangeReload)
		if reload {
			if err := a.reload(ctx, c, h.host, u.svc); err != nil {
				sr.Err = fmt.Errorf("%s: %s: reload: %w", h.host.Name, u.svc.Name, err)
				sr.Pending, sr.PendingReason = true, "written, its reload failed"
			} else {
				sr.Reloaded = true
			}
		}
		a.record(h.host.Name, u, one, &sr, began, prev, gerr != nil)
		out.Services = append(out.Services, sr)
	}
	return out
}

// owe decides what an apply does about a restart of one service, and
// says whether one is owed: written (a file whose on_change is restart
// is written by this run), or what an earlier run left owed
// (ansible#10498). An owed restart is Pending; it is run (sr.Restart)
// unless --restart none (pending, "restart skipped") or the service is
// stopped (a status read: pending "written while stopped", its next
// start runs with the files). The real run and --dry-run both decide
// here, so the dry run says what the real run does.
func (a *applier) owe(ctx context.Context, c Conn, h configHost, u configUnit, sr *ConfigServiceResult, written bool, prev *registry.ConfigState) bool {
	var status *manager.StatusResult // read once, when needed
	statusOf := func() manager.StatusResult {
		if status == nil {
			st := a.status(ctx, c, h.host, u.svc)
			status = &st
		}
		return *status
	}
	if writtenWhileStopped(prev) {
		// Its next start may have happened outside omni: then it runs
		// with the files, and owes nothing.
		switch started, known := startedSince(prev, statusOf()); {
		case started:
			prev, sr.startedSince = startedWith(prev), true
		case !known:
			sr.sinceNote = sinceUnknown
		}
	}
	owed, owedReason := owedEarlier(prev)
	restart := written
	if !restart && owed != "" {
		restart, sr.Owed = true, owed
	}
	if !restart {
		return false
	}
	sr.Pending, sr.Restart = true, true
	sr.PendingReason = pendingWritten
	if sr.Owed != "" {
		sr.PendingReason = owedReason
	}
	switch {
	case a.req.Restart == RestartNone:
		sr.Restart = false
		if sr.Owed == "" {
			sr.PendingReason = pendingSkipped
		}
		sr.Owed = ""
	case !runsNow(statusOf()):
		sr.PendingReason, sr.Restart, sr.Owed = pendingStopped, false, ""
	}
	return true
}

// status reads the service's state (one round trip).
func (a *applier) status(ctx context.Context, c Conn, h *inventory.Host, svc *inventory.Service) manager.StatusResult {
	m, err := manager.New(manager.Target{Host: h, Service: svc, EnvFile: envFileOf(a.inv, h, svc)})
	if err != nil {
		return manager.StatusResult{Err: err}
	}
	st, err := m.Status(ctx, c)
	return manager.StatusResult{State: st, Err: err}
}

// runsNow reports whether the service runs, from a status read: a
// stopped service is not restarted by an apply; its next start runs with
// what was written. A status that cannot be read counts as running: the
// restart then says what is wrong.
func runsNow(st manager.StatusResult) bool {
	return st.Err != nil || !atRest(st.State)
}

// reload reloads a systemd unit that is active (an inactive one reads its
// configuration when it starts).
func (a *applier) reload(ctx context.Context, c Conn, h *inventory.Host, svc *inventory.Service) error {
	unit := shell.Quote(unitOf(svc))
	script := "if systemctl is-active --quiet -- " + unit + "; then systemctl reload -- " + unit + "; fi"
	res, err := c.Run(ctx, manager.ShellCommand(script, manager.Target{Host: h, Service: svc}.Sudo()))
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("systemctl reload %s: exit %d: %s", unitOf(svc), res.ExitCode, manager.Printable(string(res.Stderr)))
	}
	return nil
}

func unitOf(svc *inventory.Service) string {
	if svc.Unit != "" {
		return svc.Unit
	}
	return svc.Name + ".service"
}

// record writes one (host, service)'s configuration state and, when a
// file changed, its event; prev is its state before (prevUnknown: the
// registry could not be read).
func (a *applier) record(host string, u configUnit, res config.ApplyResult, sr *ConfigServiceResult, began time.Time,
	prev *registry.ConfigState, prevUnknown bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	changes := configChanges(u.set, res, prev, prevUnknown)
	ev := registry.Event{Started: began, Operator: a.owner.Operator, Command: a.owner.Command, Host: host, Service: u.svc.Name,
		Result: "incomplete", Config: changes}
	var err error
	if len(changes) > 0 {
		if ev.ID, err = a.reg.BeginEvent(ev); err != nil {
			a.warn(fmt.Sprintf("%s: %s: the configuration was written but its history could not be recorded: %v", host, u.svc.Name, err))
		}
	}
	keepBlobs(a.reg, u.set, res)
	now := time.Now()
	rec, err := a.reg.Update(host, u.svc.Name, func(rec *registry.Record, _ bool) error {
		if rec.UpdatedAt.IsZero() {
			rec.UpdatedAt = now.UTC()
		}
		if sr.startedSince && writtenWhileStopped(rec.Config) {
			rec.Config = startedWith(rec.Config) // its next start has run with the files
		}
		rec.Config = appliedState(rec.Config, u.set, sr.Pending, sr.PendingReason, ev.ID, now)
		if sr.Reloaded && !sr.Pending && rec.Config.Pending {
			rec.Config.Pending, rec.Config.PendingReason = false, ""
		}
		return nil
	})
	if err == nil && rec.Config != nil {
		sr.Pending, sr.PendingReason = rec.Config.Pending, rec.Config.PendingReason
		if sr.PendingReason == pendingStopped {
			sr.PendingReason += sr.sinceNote
		}
	}
	if err != nil {
		a.warn(fmt.Sprintf("%s: %s: the configuration was written but the registry could not record it: %v", host, u.svc.Name, err))
	}
	if ev.ID != "" {
		ev.Finished, ev.Complete, ev.Result = time.Now().UTC(), true, string(ClassOK)
		switch {
		case errors.Is(sr.Err, context.Canceled):
			ev.Result, ev.Error = string(ClassInterrupted), Words(sr.Err)
		case sr.Err != nil:
			ev.Result, ev.Error = string(ClassFailed), Words(sr.Err)
		}
		if err := a.reg.FinishEvent(ev); err != nil {
			a.warn(fmt.Sprintf("%s: %s: the apply's history could not be recorded: %v", host, u.svc.Name, err))
		}
	}
}

// recordFailure records a host where nothing was written (a validator
// failed, the write failed): one failed event per service.
func (a *applier) recordFailure(h configHost, began time.Time, cause error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, u := range h.units {
		ev := registry.Event{Started: began, Operator: a.owner.Operator, Command: a.owner.Command, Host: h.host.Name, Service: u.svc.Name}
		id, err := a.reg.BeginEvent(ev)
		if err != nil {
			a.warn(fmt.Sprintf("%s: %s: the failed apply could not be recorded: %v", h.host.Name, u.svc.Name, err))
			continue
		}
		ev.ID, ev.Finished, ev.Complete = id, time.Now().UTC(), true
		ev.Result, ev.Error = string(Classify(cause)), Words(cause)
		if errors.Is(cause, context.Canceled) {
			ev.Result = string(ClassInterrupted)
		}
		if err := a.reg.FinishEvent(ev); err != nil {
			a.warn(fmt.Sprintf("%s: %s: the failed apply could not be recorded: %v", h.host.Name, u.svc.Name, err))
		}
	}
}

// dryRunResult is what an apply would do to one service's files.
func dryRunResult(host string, u configUnit, live []config.Live) ConfigServiceResult {
	sr := ConfigServiceResult{Host: host, Service: u.svc.Name}
	for _, d := range drifts(u.set.Files, live) {
		fr := ConfigFileResult{Path: d.File.Path, Kind: d.File.Kind, Secret: d.File.HasSecret(), Action: config.Unchanged,
			NewHash: d.File.Hash()}
		if d.Live.Exists {
			fr.OldHash = d.Live.Hash
		}
		switch {
		case d.Content:
			fr.Action = config.Written
			if onChangeOf(d.File) == config.OnChangeRestart {
				sr.Restart = true
			}
		case d.Attrs:
			fr.Action = config.AttrsFixed
		}
		sr.Files = append(sr.Files, fr)
	}
	return sr
}

// configOwner says who runs a config command.
func configOwner(command string, req ConfigRequest) registry.Owner {
	o := runOwner(Request{Action: command, Host: req.Target, Service: req.Service})
	o.Command = command + " " + or2(req.Target, "all")
	if req.Service != "" {
		o.Command += " " + req.Service
	}
	return o
}

func or2(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
