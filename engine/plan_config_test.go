package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
)

const configInventory = `version: 1
defaults: {manager: systemd}
hosts:
  h1: {address: 10.0.0.1, roles: [app]}
roles:
  app: [db, api, plain]
services:
  db:
    env: {PORT: 5432}
  api:
    requires: [db]
    env: {DB: db}
    dropin: {Service: {LimitNOFILE: 1024}}
    pre_stop: [{run: "true"}]
    pre_start: [{run: "true"}]
  plain:
    requires: [db]
`

// TestPlansWithConfig: where the planner puts the config step. A start
// and a restart get one before the target's first step that changes
// anything (its pre-stop or pre-start hook here), after check-deps and
// find-dependents; a restart --cascade gets its dependents' there too,
// each in its cascade group; a stop gets none, nor a service without
// configuration; the restart's stop, verify-stopped and start stay back
// to back (one script).
func TestPlansWithConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(path, []byte(configInventory), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	steps := func(req Request) string {
		t.Helper()
		pb, err := set.Get(req.Action)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "h1"
		plan, err := NewPlan(inv, pb, req)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		r := &execution{plan: plan, target: Instance{Host: "h1", Service: req.Service}}
		for i, task := range plan.Tasks {
			s := string(task.Step) + ":" + task.Service
			if task.Group != "" {
				s += "@" + task.Group
			}
			out = append(out, s)
			if task.Step == StepStop && task.Group == "" && req.Action == "restart" && req.Service != "api" { // api's pre-start hook keeps them apart anyway
				if _, _, _, _, ok := r.restartTasks(plan.Tasks[i:]); !ok {
					t.Errorf("%v: the restart's stop and start are kept apart", req)
				}
			}
			if task.Step == StepConfig && !strings.Contains(task.Detail, "/etc/omni/env/"+task.Service+".env") {
				t.Errorf("config detail: %q", task.Detail)
			}
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		req  Request
		want string
	}{
		{Request{Action: "start", Service: "api"},
			"check-stopped:api ensure:db config:api pre-start:api start:api health:api record:api"},
		{Request{Action: "restart", Service: "db", Cascade: true},
			"check-deps:db find-dependents:db config:db config:api@api@h1 stop:db verify-stopped:db start:db health:db record:db " +
				"stop:plain@plain@h1 verify-stopped:plain@plain@h1 start:plain@plain@h1 health:plain@plain@h1 record:plain@plain@h1 " +
				"pre-stop:api@api@h1 stop:api@api@h1 verify-stopped:api@api@h1 pre-start:api@api@h1 start:api@api@h1 health:api@api@h1 record:api@api@h1"},
		{Request{Action: "restart", Service: "api"},
			"ensure:db config:api pre-stop:api stop:api verify-stopped:api pre-start:api start:api health:api record:api"},
		{Request{Action: "stop", Service: "api"}, "pre-stop:api stop:api verify-stopped:api record:api"},
		{Request{Action: "restart", Service: "plain"}, "ensure:db stop:plain verify-stopped:plain start:plain health:plain record:plain"},
	} {
		if got := steps(c.req); got != c.want {
			t.Errorf("%s %s cascade=%v:\n got %s\nwant %s", c.req.Action, c.req.Service, c.req.Cascade, got, c.want)
		}
	}
}
