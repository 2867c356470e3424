package engine

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
	"github.com/omni-fleet/omni/registry"
)

// TestExecuteReleasesItsConnections: when Execute returns, every
// connection it opened has been released, its target host's and the
// other hosts' it read (a dependency on b), so a fleet run does not keep
// one connection per host it has finished with.
func TestExecuteReleasesItsConnections(t *testing.T) {
	inv, err := inventory.Parse("inventory.yaml", []byte(strings.Join([]string{
		"version: 1",
		"defaults: {manager: command}",
		"hosts:",
		"  a: {address: 10.0.0.1, roles: [app]}",
		"  b: {address: 10.0.0.2, roles: [data]}",
		"roles:",
		"  app: [web]",
		"  data: [db]",
		"services:",
		"  web: {requires: [db@b], commands: {start: 'true', status: 'true'}}",
		"  db: {commands: {start: 'true', status: 'true'}}",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	// --no-deps: the check of db@b reads b, finds it stopped and refuses;
	// the target's record step still reads a.
	pb, err := set.Get("start")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(inv, pb, Request{Action: "start", Host: "a", Service: "web", NoDeps: true})
	if err != nil {
		t.Fatal(err)
	}
	conn := &releasingConnector{open: map[string]int{}}
	out := Execute(context.Background(), plan, Env{Inventory: inv, Connector: conn, Registry: reg})
	if out.Err == nil || !strings.Contains(out.Err.Error(), "db@b") {
		t.Fatalf("outcome: %v, want the check of db@b to refuse", out.Err)
	}
	slices.Sort(conn.released)
	if strings.Join(conn.released, " ") != "a b" {
		t.Errorf("released %v, want a and b once each", conn.released)
	}
	for host, n := range conn.open {
		if n != 0 {
			t.Errorf("%s: %d connections not released when Execute returned", host, n)
		}
	}
}
