package engine

import (
	"context"
	"fmt"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/registry"
)

// runConfig (step config) puts the service's declared configuration on
// its host before it starts: it renders the set, reads what the host has
// (one round trip) and, when anything differs, writes the changed files
// atomically, validated, with a daemon-reload when a drop-in changed (a
// second round trip). A validator that fails leaves every file as it was
// and fails the step: nothing of the service has changed yet. What it
// wrote is recorded as applied and pending until the start that follows
// succeeds (the record step).
func runConfig(ctx context.Context, r *execution, c stepCall) (string, error) {
	set, err := config.Render(r.env.Inventory, c.inst.Host, c.inst.Service)
	if err != nil {
		return "", renderErr(c.inst.Host, c.inst.Service, err)
	}
	if set.Empty() {
		return "no configuration declared", nil
	}
	h, err := r.env.Inventory.Host(c.inst.Host)
	if err != nil {
		return "", err
	}
	svc, err := r.env.Inventory.Service(c.inst.Service)
	if err != nil {
		return "", err
	}
	sudo := manager.Target{Host: h, Service: svc}.Sudo()
	live, err := config.ReadLive(ctx, c.conn, sudo, set.Files, false)
	if err != nil {
		return "", fmt.Errorf("reading the configuration on the host: %w", err)
	}
	ds := drifts(set.Files, live)
	if len(changed(ds)) == 0 {
		// The host has the set. When the registry does not know it yet
		// (put there by hand, or before omni recorded it) it learns it,
		// owing nothing.
		_, err := r.env.Registry.Update(c.inst.Host, c.inst.Service, func(rec *registry.Record, _ bool) error {
			if rec.Config != nil && rec.Config.Applied == set.Hash() {
				return registry.SkipUpdate
			}
			rec.Config = appliedState(rec.Config, set, false, "", r.env.Run, r.env.Now())
			return nil
		})
		if err != nil {
			return "", err
		}
		return "unchanged", nil
	}
	res, applyErr := config.Apply(ctx, writer(c.conn), sudo, set.Files, live, config.ApplyOptions{DaemonReload: true})
	if applyErr != nil && !res.Changed() {
		return "", applyErr
	}
	// Written, all or (failed or interrupted after some renames) part of
	// it: what the host has now is recorded, and owed its restart.
	keepBlobs(r.env.Registry, set, res)
	pending := wroteContent(set, res, config.OnChangeRestart) || wroteContent(set, res, config.OnChangeReload)
	reason := ""
	switch {
	case applyErr != nil:
		pending, reason = true, partialReason(ctx)
	case pending:
		reason = pendingWritten
	}
	var prev *registry.ConfigState
	prevUnknown := true
	_, err = r.env.Registry.Update(c.inst.Host, c.inst.Service, func(rec *registry.Record, _ bool) error {
		prev, prevUnknown = rec.Config, false
		rec.Config = appliedState(rec.Config, set, pending, reason, r.env.Run, r.env.Now())
		if rec.UpdatedAt.IsZero() {
			rec.UpdatedAt = r.env.Now().UTC()
		}
		return nil
	})
	r.out.Config = append(r.out.Config, instanceChanges(c.inst, configChanges(set, res, prev, prevUnknown))...)
	if applyErr != nil {
		return writtenNote(res), fmt.Errorf("%s, then: %w", writtenNote(res), applyErr)
	}
	if err != nil {
		return "", err
	}
	return writtenNote(res), nil
}

// InstanceChange is one file a run's config step changed on an instance.
type InstanceChange struct {
	Instance Instance
	registry.ConfigChange
}

func instanceChanges(inst Instance, changes []registry.ConfigChange) []InstanceChange {
	out := make([]InstanceChange, len(changes))
	for i, ch := range changes {
		out[i] = InstanceChange{Instance: inst, ConfigChange: ch}
	}
	return out
}

// ranWith notes, in a record about to be written, that the instance
// runs with its applied configuration: this run started it and the start
// succeeded (healthy). Anything else leaves what is pending pending.
func (r *execution) ranWith(rec *registry.Record, inst Instance, running bool) {
	if rec.Config == nil || !running || !r.started[inst] || r.startFailed[inst] {
		return
	}
	st := *rec.Config
	if inst == r.target && r.out.Err != nil {
		if st.Pending {
			st.PendingReason = pendingFailed
		}
		rec.Config = &st
		return
	}
	st.RunningWith, st.Pending, st.PendingReason = st.Applied, false, ""
	rec.Config = &st
}
