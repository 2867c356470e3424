package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/omni-fleet/omni/registry"
)

// TestRecordKeepsConfigAndDrain: the record step owns the state fields of
// a record, not the configuration an apply recorded nor a drain mark: a
// restart and a stop keep both as they were (the record step used to
// write a new record with only Drained carried over, and dropped Config).
func TestRecordKeepsConfigAndDrain(t *testing.T) {
	cfg := &registry.ConfigState{
		Applied:     "sha256:1111111111111111111111111111111111111111111111111111111111111111",
		Files:       []registry.ConfigFile{{Path: "/etc/web.env", Kind: "env", Hash: "sha256:2222222222222222222222222222222222222222222222222222222222222222"}},
		RunningWith: "sha256:3333333333333333333333333333333333333333333333333333333333333333",
		Pending:     true, PendingReason: "restart failed", AppliedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), AppliedBy: "run-1",
	}
	drained := &registry.Drained{Server: "lb1: be_web/a", Since: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC), Run: "run-0"}
	seed := func(t *testing.T, reg registry.Registry) {
		if err := reg.Put(registry.Record{Host: "a", Service: "web", State: "running", Config: cfg, Drained: drained}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
		rec, ok, err := reg.Get("a", "web")
		if err != nil || !ok {
			t.Fatalf("registry: ok %v, err %v", ok, err)
		}
		if !reflect.DeepEqual(rec.Config, cfg) {
			t.Errorf("record step changed Config: got %+v, want %+v", rec.Config, cfg)
		}
		if !reflect.DeepEqual(rec.Drained, drained) {
			t.Errorf("record step changed Drained: got %+v, want %+v", rec.Drained, drained)
		}
	}
	runStepCase(t, stepCase{
		name: "stop", req: Request{Action: "stop", Service: "web"},
		conn:  &svcConn{running: map[string]bool{"web": true}},
		want:  []string{"web stop ok", "web verify-stopped ok", "web record ok"},
		seed:  seed,
		check: check,
	})
}
