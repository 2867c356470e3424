package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
)

// TestPlansWithDrain pins, golden, where the planner puts the drain (right
// before the target's stop) and the undrain (after its health check, before
// its record) for restart, stop and start; the restart's stop, verify and
// start still run back to back, so they still go to the host as one script.
func TestPlansWithDrain(t *testing.T) {
	inv, err := inventory.Load("testdata/drain/inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"restart", "stop", "start"} {
		t.Run(action, func(t *testing.T) {
			pb, err := set.Get(action)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := NewPlan(inv, pb, Request{Action: action, Host: "web1", Service: "web"})
			if err != nil {
				t.Fatal(err)
			}
			got := formatPlan(plan)
			path := filepath.Join("testdata", "drain", action+".plan")
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
			if action != "restart" {
				return
			}
			r := &execution{plan: plan, target: Instance{Host: "web1", Service: "web"}}
			for i, task := range plan.Tasks {
				if task.Step == StepStop {
					if _, _, _, _, ok := r.restartTasks(plan.Tasks[i:]); !ok {
						t.Error("the drain keeps the restart's stop and start apart")
					}
				}
			}
		})
	}
}

// TestPlanDrainWithHooks: a service with a drain and all four hooks. Its
// pre-stop decides before anything changes (before the drain, so a veto
// leaves the server in its pool), its post-start initializes before the
// server takes traffic again (before the undrain).
func TestPlanDrainWithHooks(t *testing.T) {
	src, err := os.ReadFile("testdata/drain/inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hooks := "    pre_stop: [{run: 'true'}]\n    post_stop: [{run: 'true'}]\n    pre_start: [{run: 'true'}]\n    post_start: [{run: 'true'}]\n"
	inv, err := inventory.Parse("inventory.yaml", append(src, hooks...))
	if err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	pb, err := set.Get("restart")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(inv, pb, Request{Action: "restart", Host: "web1", Service: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, task := range plan.Tasks {
		got = append(got, string(task.Step))
	}
	want := "check-deps pre-stop drain stop verify-stopped post-stop pre-start start health post-start undrain record"
	if strings.Join(got, " ") != want {
		t.Fatalf("restart plan:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}
