package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/registry"
)

// drift is how one declared file differs from what its host has.
type drift struct {
	File    config.File
	Live    config.Live
	Content bool // missing, or other content
	Attrs   bool // mode, owner or group other than declared
}

// differs reports any difference.
func (d drift) differs() bool { return d.Content || d.Attrs }

// drifts compares a set's files with what the host has, file by file, in
// the set's order. A file the read did not return counts as missing.
func drifts(files []config.File, live []config.Live) []drift {
	byPath := make(map[string]config.Live, len(live))
	for _, l := range live {
		byPath[l.Path] = l
	}
	out := make([]drift, len(files))
	for i, f := range files {
		l, ok := byPath[f.Path]
		d := drift{File: f, Live: l}
		switch {
		case !ok || !l.Exists:
			d.Content = true
		default:
			d.Content = l.Hash != f.Hash()
			d.Attrs = l.AttrsDiffer(f)
		}
		out[i] = d
	}
	return out
}

// changed is the drifts that differ.
func changed(ds []drift) []drift {
	var out []drift
	for _, d := range ds {
		if d.differs() {
			out = append(out, d)
		}
	}
	return out
}

// configFiles is the registry's record of a set's files: paths, kinds and
// hashes, never content.
func configFiles(set config.Set) []registry.ConfigFile {
	files := make([]registry.ConfigFile, len(set.Files))
	for i, f := range set.Files {
		files[i] = registry.ConfigFile{Path: f.Path, Kind: string(f.Kind), Hash: f.Hash(), Secret: f.HasSecret()}
	}
	return files
}

// heldSecret reports whether the host's copy at path, as omni last wrote
// it (prev, the registry's configuration state; nil: none recorded),
// held a secret: the hash of that side is never printed, whatever the
// inventory declares now. unknown: the registry could not be read, so
// every file may have.
func heldSecret(prev *registry.ConfigState, unknown bool, path string) bool {
	if unknown {
		return true
	}
	if prev == nil {
		return false
	}
	for _, f := range prev.Files {
		if f.Path == path {
			return f.Secret
		}
	}
	return false
}

// configChanges are the registry's record of what an apply did to files
// (hashes only); prev and unknown say what the old sides held
// (heldSecret).
func configChanges(set config.Set, res config.ApplyResult, prev *registry.ConfigState, unknown bool) []registry.ConfigChange {
	byPath := map[string]config.File{}
	for _, f := range set.Files {
		byPath[f.Path] = f
	}
	var out []registry.ConfigChange
	for _, fr := range res.Files {
		if fr.Action == config.Unchanged {
			continue
		}
		f := byPath[fr.Path]
		c := registry.ConfigChange{Path: fr.Path, Kind: string(f.Kind), Old: fr.OldHash, New: fr.NewHash,
			Secret: f.HasSecret(), Action: changeAction(fr.Action)}
		if fr.OldHash != "" && !c.Secret {
			c.OldSecret = heldSecret(prev, unknown, fr.Path)
		}
		if fr.OldHash != "" {
			c.OldMode, c.OldOwner, c.OldGroup = config.Octal(fr.OldMode), fr.OldOwner, fr.OldGroup
		}
		out = append(out, c)
	}
	return out
}

// wroteContent reports whether an apply wrote new content to a file whose
// change asks for onChange (restart or reload); attribute fixes ask
// nothing of the service.
func wroteContent(set config.Set, res config.ApplyResult, onChange string) bool {
	want := map[string]bool{}
	for _, f := range set.Files {
		if onChangeOf(f) == onChange {
			want[f.Path] = true
		}
	}
	for _, fr := range res.Files {
		if fr.Action == config.Written && want[fr.Path] {
			return true
		}
	}
	return false
}

// onChangeOf is a file's on_change, restart when unset.
func onChangeOf(f config.File) string {
	if f.OnChange == "" {
		return config.OnChangeRestart
	}
	return f.OnChange
}

// appliedState is a record's configuration state after an apply of set:
// Applied is the set, RunningWith is kept, Pending says whether a
// restart is owed.
func appliedState(prev *registry.ConfigState, set config.Set, pending bool, reason, by string, now time.Time) *registry.ConfigState {
	st := &registry.ConfigState{Applied: set.Hash(), Files: configFiles(set), AppliedAt: now.UTC(), AppliedBy: by}
	if prev != nil {
		st.RunningWith = prev.RunningWith
		if !pending && prev.Pending && prev.Applied == st.Applied {
			// Nothing new written: what was owed is still owed.
			pending, reason = true, prev.PendingReason
		}
		if runsWithChange(prev, pending) {
			st.RunningWith = st.Applied
		}
	}
	st.Pending, st.PendingReason = pending, reason
	return st
}

// runsWithChange reports whether a service whose state was prev runs with
// a change that owes nothing (pending false): it ran with what was
// applied and the change asks nothing of it (on_change none, mode or
// owner, a reload that succeeded), so as far as omni is concerned it runs
// with the new set, and running_with moves with applied; else a later
// apply would restart it for a change declared not to need one. Apply
// and rollback both ask it.
func runsWithChange(prev *registry.ConfigState, pending bool) bool {
	return prev != nil && !pending && !prev.Pending && prev.RunningWith != "" && prev.RunningWith == prev.Applied
}

// Reasons a configuration is pending.
const (
	pendingWritten     = "written, restart owed"
	pendingFailed      = "written, its restart failed"
	pendingSkipped     = "written, restart skipped (--restart none)"
	pendingStopped     = "written while stopped: its next start runs with it"
	pendingPartial     = "written, then the apply failed: restart owed"
	pendingInterrupted = "written, then the run was interrupted: restart owed"
)

// partialReason is the pending reason of files written by an apply that
// then failed, or was interrupted (ctx ended).
func partialReason(ctx context.Context) string {
	if ctx.Err() != nil {
		return pendingInterrupted
	}
	return pendingPartial
}

// writtenNote is the note of a step or an apply that wrote files.
func writtenNote(res config.ApplyResult) string {
	var written, attrs []string
	for _, f := range res.Files {
		switch f.Action {
		case config.Written:
			written = append(written, f.Path)
		case config.AttrsFixed:
			attrs = append(attrs, f.Path)
		}
	}
	var parts []string
	if len(written) > 0 {
		parts = append(parts, "wrote "+strings.Join(written, ", "))
	}
	if len(attrs) > 0 {
		parts = append(parts, "fixed mode/owner of "+strings.Join(attrs, ", "))
	}
	if res.DaemonReloaded {
		parts = append(parts, "daemon-reload")
	}
	if len(parts) == 0 {
		return "unchanged"
	}
	return strings.Join(parts, "; ")
}

// renderErr is a set that cannot be rendered, with where.
func renderErr(host, service string, err error) error {
	return fmt.Errorf("configuration of %s on %s: %w", service, host, err)
}

// changeAction is the registry's word for what Apply did.
func changeAction(a config.Action) string {
	switch a {
	case config.Written:
		return registry.ConfigWritten
	case config.AttrsFixed:
		return registry.ConfigAttrs
	}
	return registry.ConfigUnchanged
}

// keepBlobs keeps the content of every non-secret file an apply wrote in
// the registry, by hash, for `omni config history` and rollback; a secret
// one is never kept (its hash is). A registry that cannot keep blobs, or
// a blob refused (too large), loses only that history.
func keepBlobs(reg registry.Registry, set config.Set, res config.ApplyResult) {
	store, ok := reg.(interface{ PutBlob(string, []byte) error })
	if !ok {
		return
	}
	written := map[string]bool{}
	for _, fr := range res.Files {
		if fr.Action == config.Written {
			written[fr.Path] = true
		}
	}
	for _, f := range set.Files {
		if written[f.Path] && !f.HasSecret() && len(f.Content) <= registry.MaxBlobSize {
			_ = store.PutBlob(f.Hash(), f.Content)
		}
	}
}
