package inventory

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// graphInventory is a diamond (a requires b and c, both require d, which has
// a requirement of its own), a cross-host entry (pg@h2), role-level entries
// (a@web, backup@db) and a disabled service (backup).
const graphInventory = `version: 1
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

func parseGraph(t *testing.T) *Graph {
	t.Helper()
	inv, err := Parse("inventory.yaml", []byte(graphInventory))
	if err != nil {
		t.Fatal(err)
	}
	return NewGraph(inv)
}

func TestGraphWhole(t *testing.T) {
	g := parseGraph(t)
	if got, want := g.Roots(), []string{"web-ui"}; !reflect.DeepEqual(got, want) {
		t.Errorf("roots = %v, want %v", got, want)
	}
	if got, want := g.RequiredBy("d"), []string{"b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("required by d = %v, want %v", got, want)
	}
	if got, want := g.RequiredBy("pg"), []string{"c", "backup"}; !reflect.DeepEqual(got, want) {
		t.Errorf("required by pg = %v, want %v", got, want)
	}
	if got, want := g.Requires("c"), []Requirement{{Service: "d", Reach: ReachSpec{Mode: ReachOff}}, {Service: "pg", Host: "h2", At: "h2", Reach: ReachSpec{Mode: ReachOff}}}; !reflect.DeepEqual(got, want) {
		t.Errorf("c requires %#v, want %#v", got, want)
	}
	want := `web-ui (disabled)
├── a@web (any host with role web)
│   ├── b
│   │   └── d
│   │       └── e
│   └── c
│       ├── d (see above)
│       └── pg@h2
└── backup@db (any host with role db) (disabled)
    └── pg
`
	if got := g.Text(); got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
	wantDOT := `digraph omni {
  rankdir=LR;
  node [shape=box];
  "a";
  "b";
  "c";
  "d";
  "e";
  "pg";
  "backup" [style="dashed"];
  "web-ui" [style="dashed"];
  "a" -> "b";
  "a" -> "c";
  "b" -> "d";
  "c" -> "d";
  "c" -> "pg" [label="@h2"];
  "d" -> "e";
  "backup" -> "pg";
  "web-ui" -> "a" [label="@web"];
  "web-ui" -> "backup" [label="@db"];
}
`
	if got := g.DOT(); got != wantDOT {
		t.Errorf("dot:\n%s\nwant:\n%s", got, wantDOT)
	}
}

func TestGraphPart(t *testing.T) {
	g := parseGraph(t)
	p, err := g.Part("c")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range p.Services() {
		names = append(names, s.Name)
	}
	// b is a's other branch: neither needed by c nor needing it.
	if want := []string{"a", "c", "d", "e", "pg", "web-ui"}; !reflect.DeepEqual(names, want) {
		t.Errorf("part of c = %v, want %v", names, want)
	}
	if got := p.Requires("a"); len(got) != 1 || got[0].Service != "c" {
		t.Errorf("a requires %+v in the part, want only c", got)
	}
	if got := p.RequiredBy("pg"); !reflect.DeepEqual(got, []string{"c"}) {
		t.Errorf("pg required by %v in the part, want [c]", got)
	}
	want := `c
├── d
│   └── e
└── pg@h2

Required by:
c
└── a
    └── web-ui (requires a@web) (disabled)
`
	if got := p.Text(); got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
	if dot := p.DOT(); !strings.Contains(dot, `"c" [style="bold"];`) || strings.Contains(dot, `"b"`) {
		t.Errorf("dot of the part:\n%s", dot)
	}

	p, _ = g.Part("backup")
	want = `backup (disabled)
└── pg

Required by:
backup (disabled)
└── web-ui (requires backup@db) (disabled)
`
	if got := p.Text(); got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
	if dot := p.DOT(); !strings.Contains(dot, `"backup" [style="bold,dashed"];`) {
		t.Errorf("dot of a disabled focus:\n%s", dot)
	}

	p, _ = g.Part("web-ui")
	if got := p.Text(); !strings.HasSuffix(got, "\nRequired by: none\n") {
		t.Errorf("text:\n%s", got)
	}
}

func TestGraphUnknownService(t *testing.T) {
	_, err := parseGraph(t).Part("bakup")
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Kind != "service" || nf.Suggestion != "backup" {
		t.Fatalf("err = %v", err)
	}
	if got, want := err.Error(), `unknown service "bakup" (did you mean "backup"?)`; got != want {
		t.Errorf("%s, want %s", got, want)
	}
}

func TestGraphExample(t *testing.T) {
	g := NewGraph(loadExample(t))
	if got, want := g.Roots(), []string{"api-gateway", "backup-manager", "container-runtime", "alert-manager"}; !reflect.DeepEqual(got, want) {
		t.Errorf("roots = %v, want %v", got, want)
	}
	if got, want := g.RequiredBy("network-agent"), []string{"orchestrator-core", "container-runtime", "storage-agent", "metrics-collector"}; !reflect.DeepEqual(got, want) {
		t.Errorf("network-agent required by %v, want %v", got, want)
	}
	if got := g.RequiredBy("container-runtime"); len(got) != 0 {
		t.Errorf("container-runtime required by %v", got)
	}
	if got := g.Requires("alert-manager"); len(got) != 2 || got[1].Role != "bastion" || got[1].Host != "" {
		t.Errorf("alert-manager requires %+v", got)
	}
}

// TestGraphByHand: an inventory built without Load (no validation): the
// qualifier is told host from role by the inventory, names are quoted for
// DOT, a requirement naming no service is left out, and a cycle neither
// hangs nor hides services.
func TestGraphByHand(t *testing.T) {
	inv := &Inventory{
		Hosts: []*Host{{Name: "h1"}},
		Services: []*Service{
			{Name: `we"ird\one`, Enabled: true, Requires: []string{"x@h1", "x@r", "ghost"}},
			{Name: "x", Enabled: true},
			{Name: "p", Enabled: true, Requires: []string{"q"}},
			{Name: "q", Enabled: true, Requires: []string{"p"}},
		},
	}
	g := NewGraph(inv)
	if got := g.Requires(`we"ird\one`); len(got) != 2 || got[0].Host != "h1" || got[1].Role != "r" {
		t.Errorf("requires %+v", got)
	}
	dot := g.DOT()
	for _, want := range []string{`"we\"ird\\one" -> "x" [label="@h1"];`, `"we\"ird\\one" -> "x" [label="@r"];`} {
		if !strings.Contains(dot, want) {
			t.Errorf("dot lacks %s:\n%s", want, dot)
		}
	}
	text := g.Text()
	want := `we"ird\one
├── x@h1
└── x@r (any host with role r)

p
└── q
    └── p (see above)
`
	if text != want {
		t.Errorf("text:\n%s\nwant:\n%s", text, want)
	}
	if got := dotQuote("a\nb"); got != `"a\nb"` {
		t.Errorf("dotQuote = %s", got)
	}
}
