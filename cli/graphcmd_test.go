package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// graphFixture is a hand-made inventory: a diamond (a requires b and c, both
// require d, which requires e), a cross-host requirement (pg@h2), role-level
// ones (a@web, backup@db) and a disabled service (backup).
const graphFixture = `version: 1
hosts:
  h1: {address: 10.0.0.1, roles: [web]}
  h2: {address: 10.0.0.2, roles: [db]}
roles:
  all: [d, e]
  web: [a, b, c]
  db: [pg, backup]
services:
  a: {requires: [b, c]}
  b: {requires: [d]}
  c: {requires: [d, pg@h2]}
  d: {requires: [e]}
  e: {}
  pg: {}
  backup: {enabled: false, requires: [pg]}
  web-ui: {enabled: false, requires: [a@web, backup@db]}
`

func writeGraphFixture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "inventory.yaml")
	if err := os.WriteFile(path, []byte(graphFixture), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runGraph runs `omni -i INV [EXTRA...] inventory graph ARGS...`.
func runGraph(t *testing.T, inv string, args ...string) (int, string, string) {
	t.Helper()
	s, out, errOut := TestStreams("", false)
	code := Run(context.Background(), append([]string{"-i", inv, "inventory", "graph"}, args...), s)
	return code, out.String(), errOut.String()
}

func TestInventoryGraphGolden(t *testing.T) {
	example, fixture := "../examples/inventory.yaml", writeGraphFixture(t)
	cases := []struct {
		golden string
		inv    string
		args   []string
	}{
		{"graph.golden", example, nil},
		{"graph.dot.golden", example, []string{"--format", "dot"}},
		{"graph-network-agent.golden", example, []string{"network-agent"}},
		{"graph-network-agent.dot.golden", example, []string{"network-agent", "--format", "dot"}},
		{"graph-alert-manager.golden", example, []string{"alert-manager"}},
		{"graph-alert-manager.dot.golden", example, []string{"--format=dot", "alert-manager"}},
		{"graph-auth-service.golden", example, []string{"auth-service", "--format", "text"}},
		{"graph-fixture.golden", fixture, nil},
		{"graph-fixture.dot.golden", fixture, []string{"--format", "dot"}},
		{"graph-fixture-c.golden", fixture, []string{"c"}},
		{"graph-fixture-c.dot.golden", fixture, []string{"c", "--format", "dot"}},
		{"graph-fixture-backup.golden", fixture, []string{"backup"}},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			code, out, errOut := runGraph(t, c.inv, c.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			compareGolden(t, c.golden, []byte(out))
		})
	}
}

func TestInventoryGraphUnknownService(t *testing.T) {
	code, out, errOut := runGraph(t, "../examples/inventory.yaml", "netwrk-agent")
	if code != ExitUsage || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if want := "omni: unknown service \"netwrk-agent\" (did you mean \"network-agent\"?)\n"; errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}

	s, stdout, _ := TestStreams("", false)
	if code := Run(context.Background(), []string{"-i", "../examples/inventory.yaml", "-o", "json", "inventory", "graph", "nope"}, s); code != ExitUsage {
		t.Fatalf("json: exit %d", code)
	}
	var e errorDoc
	if err := json.Unmarshal(stdout.Bytes(), &e); err != nil || e.Result != "error" || e.ExitCode != ExitUsage || !strings.Contains(e.Error, `unknown service "nope"`) {
		t.Fatalf("error doc %+v (%v)", e, err)
	}
}

func TestInventoryGraphUsage(t *testing.T) {
	s, _, errOut := TestStreams("", false)
	code := Run(context.Background(), []string{"-i", "../examples/inventory.yaml", "-o", "json", "inventory", "graph", "--format", "dot"}, s)
	if code != ExitUsage || !strings.Contains(errOut.String(), "cannot be combined") {
		t.Errorf("--format dot with -o json: exit %d, %s", code, errOut)
	}
	code, _, errOut2 := runGraph(t, "../examples/inventory.yaml", "--format", "svg")
	if code != ExitUsage || !strings.Contains(errOut2, "svg") {
		t.Errorf("--format svg: exit %d, %s", code, errOut2)
	}
	// An invalid inventory is reported as for every command, before anything is drawn.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\nhosts: {h: {address: x, roles: [r]}}\nroles: {r: [a]}\nservices:\n  a: {requires: [b]}\n  b: {requires: [a]}\n"), 0o644)
	code, out, errOut3 := runGraph(t, bad)
	if code != ExitUsage || out != "" || !strings.Contains(errOut3, "dependency cycle") {
		t.Errorf("cycle: exit %d, stdout %q, stderr %s", code, out, errOut3)
	}
}

func TestInventoryGraphJSON(t *testing.T) {
	graphJSON := func(inv string, args ...string) (graphDoc, string) {
		t.Helper()
		s, out, errOut := TestStreams("", false)
		if code := Run(context.Background(), append([]string{"-i", inv, "-o", "json", "inventory", "graph"}, args...), s); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var doc graphDoc
		dec := json.NewDecoder(strings.NewReader(out.String()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return doc, out.String()
	}
	byName := func(doc graphDoc) map[string]graphServiceDoc {
		m := map[string]graphServiceDoc{}
		for _, s := range doc.Services {
			m[s.Name] = s
		}
		return m
	}

	// The whole graph: every service, in declaration order.
	doc, raw := graphJSON("../examples/inventory.yaml")
	if doc.Service != "" || len(doc.Services) != 9 || doc.Services[0].Name != "orchestrator-core" || doc.Services[8].Name != "alert-manager" {
		t.Fatalf("doc: %+v", doc)
	}
	if strings.Contains(raw, `"service": ""`) || strings.Contains(raw, "null") || !strings.Contains(raw, `"requires": []`) {
		t.Errorf("empty values: want no service key, [] for empty lists:\n%s", raw)
	}
	m := byName(doc)
	if got := m["backup-manager"]; got.Enabled || len(got.Requires) != 0 || len(got.RequiredBy) != 0 {
		t.Errorf("backup-manager: %+v", got)
	}
	if got, want := m["alert-manager"].Requires, []graphRequireDoc{{Service: "metrics-collector"}, {Service: "auth-service", Role: "bastion"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("alert-manager requires %+v, want %+v", got, want)
	}
	if got, want := m["network-agent"].RequiredBy, []string{"orchestrator-core", "container-runtime", "storage-agent", "metrics-collector"}; !reflect.DeepEqual(got, want) {
		t.Errorf("network-agent required by %v, want %v", got, want)
	}

	// One service's part: the raw shape, field by field.
	_, raw = graphJSON(writeGraphFixture(t), "c")
	var generic map[string]any
	if err := json.Unmarshal([]byte(raw), &generic); err != nil {
		t.Fatal(err)
	}
	if generic["service"] != "c" {
		t.Errorf("service = %v", generic["service"])
	}
	services := generic["services"].([]any)
	var names []string
	for _, s := range services {
		names = append(names, s.(map[string]any)["name"].(string))
	}
	if want := []string{"a", "c", "d", "e", "pg", "web-ui"}; !reflect.DeepEqual(names, want) {
		t.Errorf("services %v, want %v", names, want)
	}
	c := services[1].(map[string]any)
	wantC := map[string]any{
		"name": "c", "enabled": true,
		"requires":    []any{map[string]any{"service": "d"}, map[string]any{"service": "pg", "host": "h2"}},
		"required_by": []any{"a"},
	}
	if !reflect.DeepEqual(c, wantC) {
		t.Errorf("c = %v\nwant %v", c, wantC)
	}
	webUI := services[5].(map[string]any)
	if got := webUI["requires"]; !reflect.DeepEqual(got, []any{map[string]any{"service": "a", "role": "web"}}) {
		t.Errorf("web-ui requires %v in c's part (backup@db is off the path)", got)
	}

	// A disabled service.
	doc, _ = graphJSON(writeGraphFixture(t), "backup")
	m = byName(doc)
	if got := m["backup"]; got.Enabled || !reflect.DeepEqual(got.RequiredBy, []string{"web-ui"}) || len(doc.Services) != 3 {
		t.Errorf("backup's part: %+v", doc)
	}
}
