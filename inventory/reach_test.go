package inventory

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

const reachBase = `version: 1
defaults: {manager: command}
hosts:
  a: {address: 10.0.0.1, roles: [app]}
  db1: {address: 10.0.0.3, roles: [db]}
  db2: {address: 10.0.0.4, roles: [db], via: a, service_address: 192.168.5.4}
roles:
  app: [agent, web]
  db: [pg, cache]
services:
  agent: {commands: {start: 'true', status: 'true'}, health: {port: 9100}}
  pg: {commands: {start: 'true', status: 'true'}, health: {port: 5432, http: {port: 8008, path: /health}}}
  cache: {commands: {start: 'true', status: 'true'}, health: {http: {port: 6380}}}
`

// TestReachSpecsOfRequires: plain strings keep working, with an optional
// reach check to another host's service that has a port and none to the
// same host's; a mapping defaults to optional and to the dependency's
// health port (else its http port), and takes port, address, http and
// reach.
func TestReachSpecsOfRequires(t *testing.T) {
	inv, err := Parse("inventory.yaml", []byte(reachBase+`  web:
    commands: {start: 'true', status: 'true'}
    requires:
      - agent
      - pg@db1
      - {service: cache@db}
      - service: pg@db2
        port: 6432
        address: pg.internal
        http: true
        reach: required
`))
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := inv.Service("web")
	if got := strings.Join(svc.Requires, ","); got != "agent,pg@db1,cache@db,pg@db2" {
		t.Errorf("Requires %q", got)
	}
	want := []ReachSpec{
		{Mode: ReachOff},
		{Mode: ReachOptional, Port: 5432},
		{Mode: ReachOptional, Port: 6380, Explicit: true},
		{Mode: ReachRequired, Port: 6432, Address: "pg.internal", HTTP: true, Explicit: true},
	}
	reqs := svc.Requirements()
	for i, r := range reqs {
		if r.Reach != want[i] {
			t.Errorf("%s: reach %+v, want %+v", r, r.Reach, want[i])
		}
	}
	if reqs[2].Role != "db" || reqs[3].Host != "db2" {
		t.Errorf("qualifiers not resolved: %+v", reqs)
	}
	a, _ := inv.Host("a")
	db1, _ := inv.Host("db1")
	db2, _ := inv.Host("db2")
	for _, c := range []struct {
		from, to *Host
		spec     ReachSpec
		want     string
	}{
		{a, db1, ReachSpec{}, "10.0.0.3"},                          // loopback service_address: the host's address
		{a, db2, ReachSpec{}, "192.168.5.4"},                       // its service_address, behind a bastion
		{a, db2, ReachSpec{Address: "pg.internal"}, "pg.internal"}, // the edge's
		{db1, db1, ReachSpec{}, "127.0.0.1"},                       // the same host
	} {
		if got := ReachAddress(c.from, c.to, c.spec); got != c.want {
			t.Errorf("ReachAddress(%s, %s, %+v) = %q, want %q", c.from.Name, c.to.Name, c.spec, got, c.want)
		}
	}
}

// TestReachErrors: each mistake in a requires mapping is reported at its
// line.
func TestReachErrors(t *testing.T) {
	lines := strings.Count(reachBase, "\n")
	for _, c := range []struct{ body, want string }{
		{"- {service: pg@db1, reach: maybe}", `invalid reach in requires entry of service "web": "maybe" is not one of required, optional, off`},
		{"- {service: pg@db1, prot: 1}", `unknown key "prot" in requires entry of service "web" (did you mean "port"?)`},
		{"- {port: 5432}", `missing required key "service" in requires entry of service "web"`},
		{"- {service: pg@db1, port: 70000}", `invalid port in requires entry of service "web": 70000 is out of range 1-65535`},
		{"- {service: pg@db1, address: 'a b'}", `invalid address in requires entry of service "web": "a b" is not a host name or an IP address (a host name is letters, digits, '-' and '_', in labels separated by dots)`},
		{"- {service: agent@a, http: true}", `requires entry "agent@a" of service "web" sets http: true, but service "agent" has no health.http check to probe`},
		{"- {service: pgg@db1}", `service "pgg" is not defined (did you mean "pg"?)`},
		{"- [pg]", `invalid requires in service "web": items must be names or mappings {service: ..., reach: ...}, got a list`},
	} {
		_, err := Parse("inventory.yaml", []byte(reachBase+"  web:\n    commands: {start: 'true', status: 'true'}\n    requires:\n      "+c.body+"\n"))
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 {
			t.Errorf("%s: got %v, want one error", c.body, err)
			continue
		}
		if got, want := list[0].Error(), "inventory.yaml:"+strconv.Itoa(lines+4)+": "+c.want; got != want {
			t.Errorf("%s:\n got %s\nwant %s", c.body, got, want)
		}
	}
	// No port to reach: an error only for a mapping that does not say reach: off.
	noPort := strings.Replace(reachBase, "health: {port: 9100}", "health: {process: true}", 1)
	_, err := Parse("inventory.yaml", []byte(noPort+"  web:\n    commands: {start: 'true', status: 'true'}\n    requires:\n      - {service: agent@a}\n"))
	if err == nil || !strings.Contains(err.Error(), `inventory.yaml:`+strconv.Itoa(lines+4)+`: requires entry "agent@a" of service "web" has no port to reach: set port, or health.port of service "agent" (or reach: off)`) {
		t.Errorf("no port: got %v", err)
	}
	for _, ok := range []string{"- {service: agent@a, reach: off}", "- agent@a", "- {service: agent@a, port: 9100}"} {
		if _, err := Parse("inventory.yaml", []byte(noPort+"  web:\n    commands: {start: 'true', status: 'true'}\n    requires:\n      "+ok+"\n")); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestReachHTTPPort: an edge with http: true and no port of its own sends
// its GET to the dependency's health.http.port, not to its health.port
// (pg: 5432, a port that speaks no HTTP; was: the GET went there and the
// check failed against a healthy dependency).
func TestReachHTTPPort(t *testing.T) {
	inv, err := Parse("inventory.yaml", []byte(reachBase+`  web:
    commands: {start: 'true', status: 'true'}
    requires:
      - {service: pg@db1, http: true}
      - {service: cache@db2, http: true, port: 7000}
`))
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := inv.Service("web")
	want := []int{8008, 7000}
	for i, r := range svc.Requirements() {
		if r.Reach.Port != want[i] || !r.Reach.HTTP {
			t.Errorf("%s: reach %+v, want http on port %d", r, r.Reach, want[i])
		}
	}
}
