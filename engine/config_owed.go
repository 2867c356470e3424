package engine

import (
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/registry"
)

// PendingEarlier prefixes the reason of a restart an apply runs although
// it wrote nothing that asks for one: an earlier apply, start or restart
// left the service owing it (ansible#10498: the next run must not forget).
const PendingEarlier = "pending from an earlier apply"

// owedEarlier says why a service owes a restart from before this apply
// (owed "" when it owes none), and the reason to keep in the registry
// while it does: the registry marks it pending (its restart failed, was
// skipped, or the run was interrupted), or it last started with another
// set than the one omni last applied. A service written while it was
// stopped owes nothing: its next start runs with the files.
func owedEarlier(st *registry.ConfigState) (owed, reason string) {
	if st == nil || (st.Pending && st.PendingReason == pendingStopped) {
		return "", ""
	}
	switch {
	case st.Pending:
		reason = or2(st.PendingReason, pendingWritten)
	case st.RunningWith != "" && st.RunningWith != st.Applied:
		reason = "the service last started with another configuration"
	default:
		return "", ""
	}
	return PendingEarlier + " (" + reason + ")", reason
}

// writtenWhileStopped reports whether st marks the service pending
// "written while stopped": its next start runs with the files.
func writtenWhileStopped(st *registry.ConfigState) bool {
	return st != nil && st.Pending && st.PendingReason == pendingStopped
}

// startedSince says whether a service marked "written while stopped" has
// had that next start, whoever made it (the host rebooted, systemd or an
// operator started it): it runs, and the manager's start time is in a
// later second than the apply that wrote (the start times of systemd
// have whole seconds, the command manager's come from the process's age
// in seconds). known is false when it runs but its start time cannot be
// read: the mark is then kept.
func startedSince(st *registry.ConfigState, status manager.StatusResult) (started, known bool) {
	if !writtenWhileStopped(st) || status.Err != nil || !status.State.Running {
		return false, true
	}
	if status.State.Since.IsZero() || st.AppliedAt.IsZero() {
		return false, false
	}
	return status.State.Since.Truncate(time.Second).After(st.AppliedAt.Truncate(time.Second)), true
}

// startedWith is st once the service started with what was applied (a
// start outside omni after "written while stopped", startedSince): owes
// nothing, runs with the applied set.
func startedWith(st *registry.ConfigState) *registry.ConfigState {
	c := *st
	c.MarkRunning()
	return &c
}

// sinceUnknown is what a kept "written while stopped" mark says when the
// service runs but its start time could not be read.
const sinceUnknown = " (it runs now, but its start time could not be read: the mark is kept)"
