package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
)

// The hand-made inventories of testdata/graphs, each small enough to check
// its plans by eye: a diamond, cross-host requirements, a role-level
// requirement with two hosts on the role, a chain across hosts, a cycle.

func loadGraph(t *testing.T, name string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Load(filepath.Join("testdata", "graphs", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestPlansOfHandMadeGraphs pins the ordered task lists, golden, and checks
// the order independently of the golden files: dependencies before
// dependents for start and restart --cascade, dependents before their
// dependencies for stop --cascade.
func TestPlansOfHandMadeGraphs(t *testing.T) {
	set, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		graph string
		req   Request
	}{
		// Diamond: a -> b, c; b -> d; c -> d (all on one host).
		{"diamond", Request{Action: "start", Host: "h1", Service: "a"}},
		{"diamond", Request{Action: "start", Host: "h1", Service: "a", NoDeps: true}},
		{"diamond", Request{Action: "stop", Host: "h1", Service: "d", Cascade: true}},
		{"diamond", Request{Action: "stop", Host: "h1", Service: "d"}},
		{"diamond", Request{Action: "restart", Host: "h1", Service: "d", Cascade: true}},
		{"diamond", Request{Action: "restart", Host: "h1", Service: "d"}},
		{"diamond", Request{Action: "stop", Host: "h1", Service: "b", Cascade: true}},
		// Cross-host: api@app* -> postgres@db1, cache; web -> api;
		// backup-agent@db* -> postgres@db1.
		{"crosshost", Request{Action: "start", Host: "app1", Service: "web"}},
		{"crosshost", Request{Action: "start", Host: "app2", Service: "api", NoDeps: true}},
		{"crosshost", Request{Action: "stop", Host: "db1", Service: "postgres", Cascade: true}},
		{"crosshost", Request{Action: "restart", Host: "db1", Service: "postgres", Cascade: true}},
		{"crosshost", Request{Action: "stop", Host: "db2", Service: "postgres", Cascade: true}},
		// Role-level: alerts@monitor1 -> metrics, auth@bastion; auth -> vault.
		{"role", Request{Action: "start", Host: "monitor1", Service: "alerts"}},
		{"role", Request{Action: "start", Host: "monitor1", Service: "alerts", NoDeps: true}},
		{"role", Request{Action: "stop", Host: "bastion2", Service: "auth", Cascade: true}},
		{"role", Request{Action: "stop", Host: "bastion1", Service: "vault", Cascade: true}},
		{"role", Request{Action: "restart", Host: "bastion1", Service: "vault", Cascade: true}},
		// Chain across hosts: a@h1 -> b@h2 -> c@h3.
		{"chain", Request{Action: "start", Host: "h1", Service: "a"}},
		{"chain", Request{Action: "start", Host: "h1", Service: "a", NoDeps: true}},
		{"chain", Request{Action: "stop", Host: "h3", Service: "c", Cascade: true}},
		{"chain", Request{Action: "restart", Host: "h3", Service: "c", Cascade: true}},
	}
	for _, c := range cases {
		req := c.req
		name := fmt.Sprintf("%s-%s-%s-%s", c.graph, req.Action, req.Host, req.Service)
		if req.Cascade {
			name += "-cascade"
		}
		if req.NoDeps {
			name += "-no-deps"
		}
		t.Run(name, func(t *testing.T) {
			inv := loadGraph(t, c.graph)
			pb, err := set.Get(req.Action)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := NewPlan(inv, pb, req)
			if err != nil {
				t.Fatal(err)
			}
			checkPlanOrder(t, inv, plan)
			got := formatPlan(plan)
			again, _ := NewPlan(inv, pb, req)
			if formatPlan(again) != got {
				t.Fatal("the same request gave two different plans")
			}
			path := filepath.Join("testdata", "graphs", name+".plan")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("plan differs from %s\n--- got ---\n%s--- want ---\n%s", path, got, want)
			}
		})
	}
}

// checkPlanOrder checks the order of a plan against the inventory's
// requirements, without the golden files:
//   - start: every ensured instance after the ensured instances it needs,
//     and the target's start after every ensure;
//   - stop --cascade: every stopped instance before the stopped instances
//     it needs;
//   - restart --cascade: every restarted instance started after the
//     restarted instances it needs.
func checkPlanOrder(t *testing.T, inv *inventory.Inventory, p *Plan) {
	t.Helper()
	first := map[StepName]map[Instance]int{} // step -> instance -> first index
	for i, task := range p.Tasks {
		if first[task.Step] == nil {
			first[task.Step] = map[Instance]int{}
		}
		inst := Instance{Host: task.Host, Service: task.Service}
		if _, ok := first[task.Step][inst]; !ok {
			first[task.Step][inst] = i
		}
	}
	// before says a must come before b for step: both present, a first.
	before := func(step StepName, a, b Instance) {
		ia, oka := first[step][a]
		ib, okb := first[step][b]
		if oka && okb && ia >= ib {
			t.Errorf("%s of %s (task %d) should come before %s of %s (task %d)", step, a, ia+1, step, b, ib+1)
		}
	}
	for x := range first[StepName(p.Request.Action)] {
		for _, y := range requiredInstances(inv, x) {
			switch p.Request.Action {
			case "stop":
				before("stop", x, y)
			case "restart":
				if y != (Instance{Host: p.Host.Name, Service: p.Service.Name}) {
					before("start", y, x)
				}
			}
		}
	}
	for x := range first["ensure"] {
		for _, y := range requiredInstances(inv, x) {
			before("ensure", y, x)
		}
	}
	if i, ok := first["start"][Instance{Host: p.Host.Name, Service: p.Service.Name}]; ok && p.Request.Action == "start" {
		for x, j := range first["ensure"] {
			if j > i {
				t.Errorf("ensure of %s (task %d) comes after the start (task %d)", x, j+1, i+1)
			}
		}
	}
}

// requiredInstances lists every instance that can satisfy a requirement of
// x, straight from the inventory.
func requiredInstances(inv *inventory.Inventory, x Instance) []Instance {
	svc, err := inv.Service(x.Service)
	if err != nil {
		return nil
	}
	var out []Instance
	for _, r := range svc.Requirements() {
		switch {
		case r.Role != "":
			for _, h := range inv.HostsWithRole(r.Role) {
				if inv.Runs(h, r.Service) {
					out = append(out, Instance{Host: h.Name, Service: r.Service})
				}
			}
		case r.Host != "":
			out = append(out, Instance{Host: r.Host, Service: r.Service})
		default:
			out = append(out, Instance{Host: x.Host, Service: r.Service})
		}
	}
	return out
}

// TestLoadRejectsDependencyCycles: the loader, not the planner, refuses a
// cycle, naming the requires entry that closes it.
func TestLoadRejectsDependencyCycles(t *testing.T) {
	path := filepath.Join("testdata", "graphs", "cycle.yaml")
	inv, err := inventory.Load(path)
	want := path + ":16: dependency cycle: a -> b -> c -> a"
	if inv != nil || err == nil || err.Error() != want {
		t.Fatalf("Load(%s) = %v, %v; want the error %q", path, inv, err, want)
	}

	// The same cycle through qualified requirements, across hosts and a role.
	const text = `version: 1
defaults: {user: omni, known_hosts: known_hosts}
hosts:
  h1: {address: 10.0.0.1, roles: [ra]}
  h2: {address: 10.0.0.2, roles: [rb]}
roles: {ra: [a, c], rb: [b]}
services:
  a: {requires: [b@h2]}
  b: {requires: [c@ra]}
  c:
    requires:
      - a
`
	inv, err = inventory.Parse("inline.yaml", []byte(text))
	want = "inline.yaml:12: dependency cycle: a -> b -> c -> a"
	if inv != nil || err == nil || err.Error() != want {
		t.Fatalf("Parse = %v, %v; want the error %q", inv, err, want)
	}
}
