// Package historytest writes a registry's history for tests: finished
// events, as a run would have left them, without running anything.
package historytest

import (
	"testing"

	"github.com/omni-fleet/omni/registry"
)

// Record writes ev to reg as a run does: begun, then finished in the form
// given (its fields, Complete included, as they are), and returns its ID.
func Record(t testing.TB, reg registry.Store, ev registry.Event) string {
	t.Helper()
	id, err := reg.BeginEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	ev.ID = id
	if err := reg.FinishEvent(ev); err != nil {
		t.Fatal(err)
	}
	return id
}
