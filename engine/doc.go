// Package engine turns a command into an ordered task list and runs it.
//
// NewPlan is pure: the same inventory, playbook and request always give the
// same Plan, which is what --dry-run prints and where confirmations are
// decided. Execute runs a Plan against hosts reached through a Connector,
// drives services through their manager, runs health checks and updates the
// registry; it reports through its return value and an optional step
// callback and never prints.
package engine
