package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/historytest"
	"github.com/omni-fleet/omni/registry"
)

// TestHistoryOfSeveralHosts: the history of a target of several hosts
// (worker1,worker2, worker*, all) keeps every event the history of one of
// its hosts shows: a fleet run's own event, a cascade that touched one of
// them through a step; `all` is the whole history, as no target. (It
// dropped them: found by an adversarial review.)
func TestHistoryOfSeveralHosts(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "r.db")
	reg, err := registry.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(-time.Minute)
	// a fleet run over worker*: one event of its own (no host), steps on worker1 and worker2
	historytest.Record(t, reg, registry.Event{Started: now, Operator: "a@b", Command: "restart", Target: "worker*", Service: "storage-agent", Result: "ok",
		Steps: []registry.EventStep{{Step: "restart", Host: "worker1", Service: "storage-agent", Result: "ok"}, {Step: "restart", Host: "worker2", Service: "storage-agent", Result: "ok"}}})
	// a cascade started on monitor1 whose steps restarted worker1's storage-agent
	historytest.Record(t, reg, registry.Event{Started: now.Add(time.Second), Operator: "a@b", Command: "restart --cascade", Host: "monitor1", Service: "metrics-collector", Result: "ok",
		Steps: []registry.EventStep{{Step: "restart", Host: "worker1", Service: "storage-agent", Result: "ok"}}})
	reg.Close()

	count := func(args ...string) int {
		s, out, errOut := TestStreams("", false)
		code := Run(context.Background(), append([]string{"-i", "../examples/inventory.yaml", "--registry", db, "-o", "json", "service", "history"}, args...), s)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var h struct{ Events []registry.Event }
		if err := json.Unmarshal(out.Bytes(), &h); err != nil {
			t.Fatal(err)
		}
		t.Logf("history %v: %d events", args, len(h.Events))
		return len(h.Events)
	}
	all := count()
	allT := count("all")
	w1 := count("worker1")
	w12 := count("worker1,worker2")
	w1svc := count("worker1", "storage-agent")
	wsvc := count("worker*", "storage-agent")
	if allT != all {
		t.Errorf("history all: %d events, history (no target, 'default: every host'): %d", allT, all)
	}
	if w12 < w1 {
		t.Errorf("history worker1,worker2: %d events, fewer than history worker1: %d", w12, w1)
	}
	if wsvc < w1svc {
		t.Errorf("history 'worker*' storage-agent: %d events, fewer than history worker1 storage-agent: %d", wsvc, w1svc)
	}
}

// TestUnusableRegistryPathExit2: a --registry that is a dangling symlink
// into a missing directory, a symlink loop, or /dev/null is a registry
// that cannot be used: exit 2, with what to do (it exited 1, as a failed
// step: found by an adversarial review).
func TestUnusableRegistryPathExit2(t *testing.T) {
	dir := t.TempDir()
	dang := filepath.Join(dir, "dang")
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink("nowhere/x.db", dang); err != nil {
		t.Fatal(err)
	}
	os.Symlink("loop", loop)
	for _, p := range []string{dang, loop, "/dev/null"} {
		s, _, errOut := TestStreams("", false)
		code := Run(context.Background(), []string{"-i", "../examples/inventory.yaml", "--registry", p, "service", "history"}, s)
		if code != 2 {
			t.Errorf("--registry %s: exit %d, want 2: %s", p, code, errOut)
		}
	}
}
