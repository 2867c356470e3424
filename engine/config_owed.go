package engine

import "github.com/omni-fleet/omni/registry"

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
