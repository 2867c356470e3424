// Package fleet runs one plan per host over many hosts: in parallel up to
// a fork limit, or as a rolling update in batches, each batch gated on the
// health of the one before and on its hosts staying healthy for a while
// (crash-loop detection).
//
// It schedules and judges; it does not connect or print. The caller gives
// it the per-host plans, a function that executes one (package engine's
// Execute, wrapped with the caller's history and progress), a function that
// reads live state, and receives events to show progress. Two contexts
// govern a run: when drain ends no new host is touched and hosts in flight
// finish their plan; when the run context ends, in-flight steps are
// cancelled.
//
// The budgets follow kubectl's rolling updates: --batch hosts at a time,
// --max-unavailable instances down at once counting those already down
// before the run, and --max-failures failed hosts before the run stops
// touching new ones. An unreachable host counts as a failure.
package fleet
