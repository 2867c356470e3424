package engine

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// ConfigRollbackRequest is `omni config rollback HOST SERVICE`.
type ConfigRollbackRequest struct {
	Host    string
	Service string
	// To is a file content hash as `config history` shows it: "sha256:HEX"
	// or a prefix of HEX of at least MinHashPrefix digits. "" rolls back
	// the last apply: each file it changed gets its content from before.
	To          string
	DryRun      bool
	LockTimeout time.Duration
}

// MinHashPrefix is the shortest hash prefix --to accepts.
const MinHashPrefix = 8

// ConfigRollbackFile is what a rollback does (or would do) to one file.
// Hashes of secret files are never set: a secret's hash would let anyone
// who reads it try guesses offline.
type ConfigRollbackFile struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"`
	Secret bool   `json:"secret,omitempty"`
	// OldSecret: the host's copy held a secret when omni wrote it (the
	// registry says), though nothing of it is declared secret now: From
	// is left out.
	OldSecret bool   `json:"old_secret,omitempty"`
	From      string `json:"from,omitempty"` // the host's content hash before
	To        string `json:"to,omitempty"`   // the content hash restored
	// Action: "rolled back", "attrs", "unchanged" (the host has it
	// already), "would roll back" (--dry-run).
	Action string `json:"action"`
	// Origin: where the content comes from: "registry" (a blob) or
	// "inventory" (a secret file whose wanted content is what git renders).
	Origin string `json:"origin,omitempty"`
}

// ConfigRollbackReport is what RollbackConfig did.
type ConfigRollbackReport struct {
	Host    string `json:"host"`
	Service string `json:"service"`
	// Undoes is the event whose changes are rolled back (no --to).
	Undoes string `json:"undoes,omitempty"`
	// To is the content hash asked for (--to), as given.
	To             string               `json:"to,omitempty"`
	Files          []ConfigRollbackFile `json:"files"`
	DaemonReloaded bool                 `json:"daemon_reloaded,omitempty"`
	// RestartOwed: a restored file asks for a restart or reload
	// (on_change); the registry marks the service pending until it runs.
	RestartOwed bool `json:"restart_owed"`
	// Stopped: a restart is owed but the service is stopped (a status
	// read), as an apply finds it: it is not started; its next start runs
	// with the restored files (pending "written while stopped").
	Stopped bool `json:"stopped,omitempty"`
	// Applied is the set hash the registry now records for the host.
	Applied string `json:"applied,omitempty"`
	Event   string `json:"event,omitempty"` // the rollback's own event
}

// Changed reports whether the rollback wrote anything.
func (r *ConfigRollbackReport) Changed() bool {
	for _, f := range r.Files {
		if f.Action == registry.ConfigRolledBack || f.Action == registry.ConfigAttrs {
			return true
		}
	}
	return false
}

// rollbackWant is one file to restore: its path and the content hash.
type rollbackWant struct {
	path, kind, hash string
	secret           bool
	// The attributes to put back (recorded with the change undone; zero
	// when not recorded: the inventory's then).
	mode         fs.FileMode
	owner, group string
	attrsOnly    bool // only the attributes are put back
}

// withAttrs is w with the attributes c recorded from before it.
func (w rollbackWant) withAttrs(c registry.ConfigChange) rollbackWant {
	if m, err := config.ParseOctal(c.OldMode); err == nil && c.OldMode != "" {
		w.mode = m
	}
	w.owner, w.group = c.OldOwner, c.OldGroup
	return w
}

// RollbackConfig restores files of service on host from the registry's
// history: by default the content each file had before the last apply
// that changed it (a rollback is not an apply: rolling back twice does
// not undo the first rollback), or, with To, the content of that hash.
// It holds the run lock of (host, service) throughout, like Run, reads
// the host's files, and refuses (a *RefusedError, nothing changed) when
// any file cannot be restored: a secret file whose wanted content is not
// what the inventory renders now (the registry never has a secret's
// content), a blob the registry lacks, a file that did not exist before.
// It writes through config.Apply (validated, atomic), records an event
// whose entries say "rolled back", and the record's configuration state,
// pending when a restored file asks for a restart. It does not restart:
// the caller does that with RollbackRestartPlan, as `service restart`
// does.
func RollbackConfig(ctx context.Context, reg registry.Store, req ConfigRollbackRequest, env ConfigEnv) (*ConfigRollbackReport, error) {
	warn := env.Warn
	if warn == nil {
		warn = func(string) {}
	}
	one, err := RenderConfigOne(env.Inventory, req.Host, req.Service)
	if err != nil {
		return nil, err
	}
	rep := &ConfigRollbackReport{Host: req.Host, Service: req.Service, To: req.To}
	events, err := reg.Events(registry.EventQuery{Hosts: []string{req.Host}, Service: req.Service, ConfigOnly: true})
	if err != nil {
		return nil, err
	}
	var wants []rollbackWant
	if req.To == "" {
		wants, rep.Undoes, err = lastApplyWants(events, req)
	} else {
		wants, err = hashWants(events, req)
	}
	if err != nil {
		return nil, err
	}
	owner := runOwner(Request{Action: "config rollback", Host: req.Host, Service: req.Service})
	unlock, err := reg.Lock(ctx, []string{registry.LockKey(req.Host, req.Service)}, owner, req.LockTimeout)
	if err != nil {
		return nil, err
	}
	defer unlock()
	conn, closeConns, err := env.Connect()
	if err != nil {
		return nil, err
	}
	defer closeConns()
	cn, err := conn.Connect(ctx, one.Host)
	if err != nil {
		return nil, err
	}
	if rel, ok := conn.(Releaser); ok {
		defer rel.Release(cn)
	}

	// What the host has: every file of the set, and the wanted ones
	// besides (a file the inventory no longer declares).
	files := rollbackFiles(one.Set, wants)
	live, err := config.ReadLive(ctx, withBound(cn, commandTimeout(env.Inventory)), one.Sudo, files, false)
	if err != nil {
		return nil, fmt.Errorf("%s: service %s: %w", req.Host, req.Service, err)
	}
	liveOf := map[string]config.Live{}
	for _, l := range live {
		liveOf[l.Path] = l
	}
	rendered := map[string]config.File{}
	for _, f := range one.Set.Files {
		rendered[f.Path] = f
	}
	// What the host has now, as omni last wrote it: a copy written with a
	// secret is secret, whatever the inventory declares now.
	var state *registry.ConfigState
	rec, _, gerr := reg.Get(req.Host, req.Service)
	if gerr == nil {
		state = rec.Config
	}
	var apply []config.File
	var applyLive []config.Live
	var refusals []string
	refused := 0
	for _, w := range wants {
		l := liveOf[w.path]
		f := fileFor(rendered, w)
		// The attributes from before the change undone, where recorded.
		if w.mode != 0 {
			f.Mode = w.mode
		}
		if w.owner != "" {
			f.Owner = w.owner
		}
		if w.group != "" {
			f.Group = w.group
		}
		rf := ConfigRollbackFile{Path: w.path, Kind: w.kind, Secret: w.secret || f.HasSecret()}
		if !rf.Secret {
			rf.To = w.hash
			rf.OldSecret = l.Exists && heldSecret(state, gerr != nil, w.path)
			if !rf.OldSecret {
				rf.From = l.Hash
			}
		}
		switch {
		case l.Exists && l.Hash == w.hash && !l.AttrsDiffer(f):
			rf.Action = registry.ConfigUnchanged
		case w.attrsOnly && (!l.Exists || l.Hash != w.hash):
			refusals = append(refusals, fmt.Sprintf("%s changed since (its content is not the one whose mode, owner or group the last apply changed): roll back its content with --to", w.path))
		case rf.Secret && rendered[w.path].Path != "" && f.Hash() == w.hash:
			rf.Origin = "inventory" // the source renders the wanted content again
		case rf.Secret:
			refusals = append(refusals, fmt.Sprintf("%s is secret: the registry keeps only its hash, and what the inventory renders now is not the content wanted (put the old secret back in its source, then run omni config apply)", w.path))
		default:
			content, ok, err := reg.Blob(w.hash)
			switch {
			case err != nil:
				return nil, err
			case !ok:
				refusals = append(refusals, fmt.Sprintf("%s: the registry has no copy of content %s", w.path, ShortHash(w.hash)))
			default:
				f.Content = content
				rf.Origin = "registry"
			}
		}
		if len(refusals) > refused {
			rf.Action, refused = "refused", len(refusals)
		}
		if rf.Action == "" {
			rf.Action = "would roll back"
			apply = append(apply, f)
			applyLive = append(applyLive, l)
		}
		rep.Files = append(rep.Files, rf)
	}
	if len(refusals) > 0 {
		return rep, &RefusedError{Err: fmt.Errorf("not rolled back, nothing was changed on %s: %s", req.Host, strings.Join(refusals, "; "))}
	}
	if req.DryRun || len(apply) == 0 {
		return rep, nil
	}

	ev := registry.Event{Started: time.Now().UTC(), Operator: owner.Operator, Command: owner.Command,
		Host: req.Host, Service: req.Service, Result: registry.ResultIncomplete}
	if ev.ID, err = reg.BeginEvent(ev); err != nil {
		return nil, err
	}
	res, applyErr := config.Apply(ctx, cn, one.Sudo, apply, applyLive, config.ApplyOptions{DaemonReload: true, Timeout: commandTimeout(env.Inventory)})
	actions := map[string]config.Action{}
	for _, fr := range res.Files {
		actions[fr.Path] = fr.Action
	}
	rep.DaemonReloaded = res.DaemonReloaded
	hashes := map[string]string{}
	for _, l := range live {
		hashes[l.Path] = l.Hash
	}
	for i, rf := range rep.Files {
		switch actions[rf.Path] {
		case config.Written:
			rep.Files[i].Action = registry.ConfigRolledBack
			hashes[rf.Path] = wantOf(wants, rf.Path)
			if onChange(fileFor(rendered, rollbackWant{path: rf.Path})) != config.OnChangeNone {
				rep.RestartOwed = true
			}
		case config.AttrsFixed:
			rep.Files[i].Action = registry.ConfigAttrs
		case config.Unchanged:
			rep.Files[i].Action = registry.ConfigUnchanged
		default:
			if applyErr != nil && rf.Action == "would roll back" {
				rep.Files[i].Action = "failed"
			}
		}
	}
	ev.Config = rollbackChanges(rep.Files, wants, live)
	ev.Finished, ev.Complete, ev.Result = time.Now().UTC(), true, string(ClassOK)
	if applyErr != nil {
		applyErr = fmt.Errorf("%s: service %s: %w", req.Host, req.Service, applyErr)
		ev.Result, ev.Error = string(Classify(applyErr)), Words(applyErr)
	}
	if rep.RestartOwed && applyErr == nil {
		// As an apply does: a stopped service is left stopped.
		rep.Stopped = stoppedNow(ctx, env.Inventory, cn, one)
	}
	if rep.Changed() {
		rep.Applied = setHashOf(files, hashes)
		if err := markRolledBack(reg, req, files, hashes, rep, ev.ID); err != nil {
			warn(fmt.Sprintf("the rollback ran but the registry could not record its configuration state: %v", err))
		}
	}
	rep.Event = ev.ID
	if err := reg.FinishEvent(ev); err != nil {
		warn(fmt.Sprintf("the rollback ran but its history could not be recorded: %v", err))
	}
	return rep, applyErr
}

// lastApplyWants are the files of the latest event of (host, service)
// that changed configuration other than by a rollback, at their content
// from before it.
func lastApplyWants(events []registry.Event, req ConfigRollbackRequest) ([]rollbackWant, string, error) {
	for _, ev := range events {
		if ev.Host != req.Host || ev.Service != req.Service || isRollback(ev) {
			continue
		}
		var wants []rollbackWant
		var gone, attrs []string
		for _, c := range ev.Config {
			if c.Action == registry.ConfigAttrs {
				if c.OldMode == "" {
					attrs = append(attrs, c.Path) // not recorded (an older omni)
					continue
				}
				wants = append(wants, rollbackWant{path: c.Path, kind: c.Kind, hash: c.New, secret: c.Secret, attrsOnly: true}.withAttrs(c))
				continue
			}
			if c.Action != registry.ConfigWritten || c.Old == c.New {
				continue
			}
			if c.Old == "" {
				gone = append(gone, c.Path)
				continue
			}
			wants = append(wants, rollbackWant{path: c.Path, kind: c.Kind, hash: c.Old, secret: c.Secret || c.OldSecret}.withAttrs(c))
		}
		if len(gone) > 0 {
			return nil, "", &RefusedError{Err: fmt.Errorf("not rolled back, nothing was changed: the apply of %s created %s, and omni does not remove files (remove them by hand, or roll back one file with --to)",
				ev.Started.UTC().Format("2006-01-02 15:04:05 UTC"), strings.Join(gone, ", "))}
		}
		if len(wants) == 0 && len(attrs) > 0 {
			// The last apply changed only attributes: undoing an older
			// apply's content instead would change what nobody asked.
			return nil, "", &RefusedError{Err: fmt.Errorf("not rolled back, nothing was changed: the last apply (%s) changed only the mode, owner or group of %s, and the registry has no record of the earlier ones (omni records them since 2026-12-05): set them back by hand, or revert the inventory and apply (roll back content with --to)",
				ev.Started.UTC().Format("2006-01-02 15:04:05 UTC"), strings.Join(attrs, ", "))}
		}
		if len(wants) == 0 {
			continue
		}
		return wants, ev.ID, nil
	}
	return nil, "", &UsageError{fmt.Sprintf("nothing to roll back: the registry has no apply that changed the configuration of %s on %s", req.Service, req.Host)}
}

func isRollback(ev registry.Event) bool {
	for _, c := range ev.Config {
		if c.Action == registry.ConfigRolledBack {
			return true
		}
	}
	return false
}

// hashWants are the files of (host, service) whose history shows the
// content hash req.To (old or new side of a non-secret entry).
func hashWants(events []registry.Event, req ConfigRollbackRequest) ([]rollbackWant, error) {
	prefix := strings.ToLower(strings.TrimPrefix(req.To, "sha256:"))
	if len(prefix) < MinHashPrefix || len(prefix) > 64 || strings.Trim(prefix, "0123456789abcdef") != "" {
		return nil, &UsageError{fmt.Sprintf("--to %q: give a content hash as config history shows it: at least %d hex digits, optionally after sha256:", req.To, MinHashPrefix)}
	}
	full := map[string]bool{}
	paths := map[string]rollbackWant{}
	for _, ev := range events {
		if ev.Host != req.Host || ev.Service != req.Service {
			continue
		}
		for _, c := range ev.Config {
			if c.Secret {
				continue
			}
			for _, h := range []string{c.Old, c.New} {
				if h == c.Old && c.OldSecret {
					continue // it held a secret: never matched, never shown
				}
				if strings.HasPrefix(h, "sha256:"+prefix) {
					full[h] = true
					paths[c.Path] = rollbackWant{path: c.Path, kind: c.Kind, hash: h}
				}
			}
		}
	}
	switch len(full) {
	case 0:
		return nil, &UsageError{fmt.Sprintf("--to %s: no file of %s on %s had that content in the registry's history (see omni config history %s %s)", req.To, req.Service, req.Host, req.Host, req.Service)}
	case 1:
	default:
		return nil, &UsageError{fmt.Sprintf("--to %s: %d contents start with it; give more digits", req.To, len(full))}
	}
	var wants []rollbackWant
	for _, w := range paths {
		wants = append(wants, w)
	}
	sort.Slice(wants, func(i, j int) bool { return wants[i].path < wants[j].path })
	return wants, nil
}

// rollbackFiles are the set's files and the wanted files it lacks.
func rollbackFiles(set config.Set, wants []rollbackWant) []config.File {
	files := append([]config.File(nil), set.Files...)
	have := map[string]bool{}
	for _, f := range files {
		have[f.Path] = true
	}
	for _, w := range wants {
		if !have[w.path] {
			have[w.path] = true
			files = append(files, fileFor(nil, w))
		}
	}
	return files
}

// fileFor is the file to write for w: the inventory's declaration of its
// path (mode, owner, validate, on_change, ...), or a bare file of w's
// kind when the inventory no longer declares it.
func fileFor(rendered map[string]config.File, w rollbackWant) config.File {
	if f, ok := rendered[w.path]; ok {
		return f
	}
	kind := config.Kind(w.kind)
	return config.File{Kind: kind, Path: w.path, OnChange: config.OnChangeRestart, Secret: w.secret, DaemonReload: kind == config.KindDropin}
}

func onChange(f config.File) string {
	if f.OnChange == "" {
		return config.OnChangeRestart
	}
	return f.OnChange
}

func wantOf(wants []rollbackWant, path string) string {
	for _, w := range wants {
		if w.path == path {
			return w.hash
		}
	}
	return ""
}

// rollbackChanges are the event's entries: hashes old and new (kept for
// secret files too: the registry keeps hashes; omni never prints them),
// and the attributes each restored file had before. A file whose mode,
// owner or group alone was put back is "rolled back" too: the event is a
// rollback's, which the next rollback skips (it does not undo a rollback).
func rollbackChanges(files []ConfigRollbackFile, wants []rollbackWant, live []config.Live) []registry.ConfigChange {
	before := map[string]config.Live{}
	for _, l := range live {
		before[l.Path] = l
	}
	out := make([]registry.ConfigChange, 0, len(files))
	for _, f := range files {
		l := before[f.Path]
		c := registry.ConfigChange{Path: f.Path, Kind: f.Kind, Old: l.Hash, New: wantOf(wants, f.Path), Secret: f.Secret,
			OldSecret: f.OldSecret, Action: f.Action}
		switch c.Action {
		case "would roll back", "failed":
			c.Action = registry.ConfigUnchanged // Apply stopped before it
			c.New = c.Old
		case registry.ConfigAttrs:
			c.Action = registry.ConfigRolledBack
		}
		if c.Action == registry.ConfigRolledBack && l.Exists {
			c.OldMode, c.OldOwner, c.OldGroup = l.RecordedAttrs()
		}
		out = append(out, c)
	}
	return out
}

// setHashOf is config.Set.Hash of files whose contents have the given
// hashes (the formula of Set.Hash, from hashes instead of contents: the
// rollback knows the hash of what the host has, not every content).
func setHashOf(files []config.File, hashes map[string]string) string {
	lines := make([]string, 0, len(files))
	for _, f := range files {
		lines = append(lines, strings.Join([]string{f.Path, f.Mode.String(), f.Owner, f.Group, hashes[f.Path]}, "\x00"))
	}
	sort.Strings(lines)
	return config.HashBytes([]byte(strings.Join(lines, "\n")))
}

// markRolledBack records the configuration the host has after the
// rollback: applied (by this event), pending when a restart is owed.
func markRolledBack(reg registry.Store, req ConfigRollbackRequest, files []config.File, hashes map[string]string, rep *ConfigRollbackReport, event string) error {
	now := time.Now().UTC()
	_, err := reg.Update(req.Host, req.Service, func(rec *registry.Record, exists bool) error {
		st := &registry.ConfigState{}
		if rec.Config != nil {
			c := *rec.Config
			st = &c
		}
		if runsWithChange(rec.Config, rep.RestartOwed) {
			st.RunningWith = rep.Applied // as an apply does: nothing owed
		}
		st.Applied, st.AppliedAt, st.AppliedBy = rep.Applied, now, event
		st.Files = st.Files[:0:0]
		for _, f := range files {
			if hashes[f.Path] == "" {
				continue
			}
			st.Files = append(st.Files, registry.ConfigFile{Path: f.Path, Kind: string(f.Kind), Hash: hashes[f.Path], Secret: f.HasSecret()})
		}
		switch {
		case rep.Stopped:
			st.MarkPending(pendingStopped)
		case rep.RestartOwed:
			st.MarkPending(PendingRolledBack)
		}
		rec.Config = st
		if !exists {
			rec.UpdatedAt = now
		}
		return nil
	})
	return err
}

// stoppedNow reports whether one's service is stopped on its host (a
// status read); a status that cannot be read counts as running, as for
// an apply (runsNow).
func stoppedNow(ctx context.Context, inv *inventory.Inventory, c Conn, one *ConfigOne) bool {
	m, err := manager.New(manager.Target{Host: one.Host, Service: one.Service, EnvFile: envFileOf(inv, one.Host, one.Service)})
	if err != nil {
		return false
	}
	st, err := m.Status(ctx, withBound(c, commandTimeout(inv)))
	return !runsNow(manager.StatusResult{State: st, Err: err})
}

// PendingRolledBack is the pending reason a rollback records.
const PendingRolledBack = "rolled back: the service has not restarted with the restored files yet"

// MarkConfigRunning records that the service was restarted with the
// configuration the registry says is applied, when that is still applied:
// nothing is owed any more.
func MarkConfigRunning(reg registry.Registry, host, service, applied string) error {
	_, err := reg.Update(host, service, func(rec *registry.Record, exists bool) error {
		if rec.Config == nil || rec.Config.Applied != applied {
			return registry.SkipUpdate
		}
		st := *rec.Config
		st.MarkRunning()
		rec.Config = &st
		return nil
	})
	return err
}

// RollbackRestartPlan is the plan of `omni service restart HOST SERVICE`
// without the step that would write the inventory's configuration first:
// the restart after a rollback runs with what the rollback restored.
func RollbackRestartPlan(plan *Plan) *Plan {
	out := *plan
	out.Tasks = nil
	for _, t := range plan.Tasks {
		if t.Step != StepConfig { // it would write the inventory's files again
			out.Tasks = append(out.Tasks, t)
		}
	}
	return &out
}

// ShortHash is a content hash as omni prints it: 12 hex digits.
func ShortHash(h string) string {
	h = strings.TrimPrefix(h, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}
