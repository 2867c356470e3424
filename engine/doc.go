// Package engine turns a command into an ordered task list and runs it.
//
// NewPlan is pure: the same inventory, playbook and request always give the
// same Plan, which is what --dry-run prints and where confirmations are
// decided. Execute runs a Plan against hosts reached through a Connector,
// drives services through their manager, runs health checks and updates the
// registry; it reports through its return value and an optional step
// callback and never prints.
//
// The steps are one registry (steps.go: names, rules, default bounds) and
// one runner per step behind the stepRunner interface, a file each
// (step_confirm.go … step_logs.go); Execute dispatches through it.
package engine
