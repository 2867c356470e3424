package engine

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
)

var update = flag.Bool("update", false, "rewrite the golden plans")

func loadExample(t *testing.T) (*inventory.Inventory, *playbooks.Set) {
	t.Helper()
	inv, err := inventory.Load("../examples/inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	return inv, set
}

// formatPlan writes a plan as text, one task a line, for golden files.
func formatPlan(p *Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan %s %s on %s\n", p.Playbook, p.Service.Name, p.Host.Name)
	if p.Confirm != nil {
		fmt.Fprintf(&b, "confirm: reason=%q impact=%q\n", p.Confirm.Reason, p.Confirm.Impact)
	}
	if len(p.Dependents) > 0 {
		fmt.Fprintf(&b, "dependents (stop order): %s\n", instanceList(p.Dependents, 100))
	}
	for i, t := range p.Tasks {
		fmt.Fprintf(&b, "%d. %s %s/%s timeout=%s grace=%s: %s\n", i+1, t.Step, t.Host, t.Service, t.Timeout, t.Grace, t.Detail)
		if t.Why != "" || t.Group != "" || t.Role != "" {
			fmt.Fprintf(&b, "   why=%q group=%q role=%q\n", t.Why, t.Group, t.Role)
		}
	}
	return b.String()
}

// TestPlansOfTheExampleInventory pins the ordered task lists, golden.
func TestPlansOfTheExampleInventory(t *testing.T) {
	inv, set := loadExample(t)
	cases := []Request{
		{Action: "restart", Host: "primary-bastion", Service: "api-gateway"},
		{Action: "stop", Host: "worker1", Service: "container-runtime"},
		{Action: "start", Host: "worker1", Service: "container-runtime"},
		{Action: "stop", Host: "monitor1", Service: "metrics-collector"},
		{Action: "logs", Host: "worker2", Service: "storage-agent", Lines: 100, Follow: true},
		{Action: "start", Host: "monitor1", Service: "alert-manager"},
		{Action: "start", Host: "worker1", Service: "container-runtime", NoDeps: true},
		{Action: "stop", Host: "worker1", Service: "network-agent"},
		{Action: "stop", Host: "worker1", Service: "network-agent", Cascade: true},
		{Action: "restart", Host: "worker1", Service: "network-agent", Cascade: true},
		{Action: "restart", Host: "primary-bastion", Service: "auth-service"},
	}
	for _, req := range cases {
		name := fmt.Sprintf("%s-%s-%s", req.Action, req.Host, req.Service)
		if req.Cascade {
			name += "-cascade"
		}
		if req.NoDeps {
			name += "-no-deps"
		}
		t.Run(name, func(t *testing.T) {
			pb, err := set.Get(req.Action)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := NewPlan(inv, pb, req)
			if err != nil {
				t.Fatal(err)
			}
			got := formatPlan(plan)
			again, _ := NewPlan(inv, pb, req)
			if formatPlan(again) != got {
				t.Fatal("the same request gave two different plans")
			}
			path := filepath.Join("testdata", name+".plan")
			if *update {
				os.WriteFile(path, []byte(got), 0o644)
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

func TestPlanRefusesWhatCannotRun(t *testing.T) {
	inv, set := loadExample(t)
	restart, _ := set.Get("restart")
	cases := []struct {
		req  Request
		want string
	}{
		{Request{Action: "restart", Host: "workr1", Service: "container-runtime"}, `unknown host "workr1" (did you mean "worker1"?)`},
		{Request{Action: "restart", Host: "worker1", Service: "container-runtme"}, `unknown service "container-runtme" (did you mean "container-runtime"?)`},
		{Request{Action: "restart", Host: "worker1", Service: "api-gateway"}, `host "worker1" does not run "api-gateway": its roles (worker) run orchestrator-core, network-agent, container-runtime, storage-agent`},
		{Request{Action: "restart", Host: "primary-bastion", Service: "backup-manager"}, `service "backup-manager" is disabled in the inventory (enabled: false)`},
	}
	for _, c := range cases {
		_, err := NewPlan(inv, restart, c.req)
		if err == nil || err.Error() != c.want {
			t.Errorf("%+v: error %v, want %s", c.req, err, c.want)
		}
		var nf *inventory.NotFoundError
		var ue *UsageError
		if !errors.As(err, &nf) && !errors.As(err, &ue) {
			t.Errorf("%+v: %T is not a usage error", c.req, err)
		}
	}
}

// A restart playbook without a stop leaves the target up, so --cascade has
// nothing to restart on its dependents (and nothing to list without it):
// the planner adds their groups only when the playbook stops the target.
func TestRestartWithoutStopLeavesDependents(t *testing.T) {
	inv, set := loadExample(t)
	full, err := set.Get("restart")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		"name: restart\nsteps:\n  - step: check-deps\n  - step: record\n",
		"name: restart\nsteps:\n  - step: check-deps\n  - step: start\n  - step: health\n  - step: record\n",
	} {
		pb, err := playbooks.Parse("restart.yaml", []byte(src), Vocabulary())
		if err != nil {
			t.Fatal(err)
		}
		for _, cascade := range []bool{true, false} {
			req := Request{Action: "restart", Host: "worker1", Service: "network-agent", Cascade: cascade}
			plan, err := NewPlan(inv, pb, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range plan.Tasks {
				if task.Host != "worker1" || task.Service != "network-agent" || task.Step == StepReportDependents || task.Step == StepFindDependents {
					t.Errorf("%q, cascade %v: %s %s/%s planned; the target never goes down", src, cascade, task.Step, task.Host, task.Service)
				}
			}
			// The built-in restart, which stops it, still does both.
			plan, err = NewPlan(inv, full, req)
			if err != nil {
				t.Fatal(err)
			}
			want := StepReportDependents
			if cascade {
				want = StepStart
			}
			found := false
			for _, task := range plan.Tasks {
				found = found || (task.Step == want && (task.Service != "network-agent" || want == StepReportDependents))
			}
			if !found {
				t.Errorf("built-in restart, cascade %v: no %s for the dependents", cascade, want)
			}
		}
	}
}
