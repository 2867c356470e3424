package inventory

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Bounds every hostile inventory must be rejected within: the issue's
// "2 s and 300 MiB", with memory held to a third of that.
const (
	hostileTime  = 2 * time.Second
	hostileAlloc = 100 << 20
)

// exponential returns an inventory whose anchor n is built from two
// copies of anchor n-1, written with the line pattern (%d: this level,
// %[2]d: the previous one), under an unknown key, then used by key use.
func exponential(levels int, first, pattern, use string) string {
	var b strings.Builder
	b.WriteString("version: 1\nx:\n" + first + "\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, pattern+"\n", i, i-1)
	}
	fmt.Fprintf(&b, use+"\n", levels)
	return b.String()
}

// bounded runs f and fails the test if it takes longer than hostileTime
// or allocates more than hostileAlloc.
func bounded(t *testing.T, f func()) {
	t.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if took > hostileTime {
		t.Errorf("took %v, want under %v", took, hostileTime)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > hostileAlloc {
		t.Errorf("allocated %d MiB, want under %d MiB", alloc>>20, hostileAlloc>>20)
	}
}

// TestHostileAliasesRejected: merges and aliases that include themselves
// or expand exponentially are refused within the bounds, at the line of
// the offending alias. Before the bounds, the first two overflowed the Go
// stack after taking 1 GiB and the exponential ones ran for minutes.
func TestHostileAliasesRejected(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		line          int
		want          string
	}{
		{"merge of the mapping it is in", "version: 1\ndefaults: &d\n  sudo: true\n  <<: *d\n", 4,
			"merge (<<) of *d refers to a mapping that contains it (&d at line 2): a merge or alias cannot include itself"},
		{"merge of a list that contains it", "version: 1\nx: &l\n  - <<: *l\nservices: {}\n", 3,
			"merge (<<) of *l refers to a list that contains it (&l at line 2)"},
		{"merge through a list of merges", "version: 1\nhosts:\n  h: &h\n    address: a\n    roles: [r]\n    more: {<<: [{x: 1}, *h]}\n", 6,
			"merge (<<) of *h refers to a mapping that contains it (&h at line 3)"},
		{"list containing itself", "version: 1\nroles:\n  r: &r [a, *r]\n", 3,
			"alias *r refers to a list that contains it (&r at line 3)"},
		{"indirect, through another mapping", "version: 1\nservices: &s\n  a:\n    health: {<<: *s}\n", 4,
			"merge (<<) of *s refers to a mapping that contains it (&s at line 2)"},
		{"exponential merges", exponential(40, "  a0: &a0 {user: u}", "  a%d: &a%[1]d {<<: [*a%[2]d, *a%[2]d]}", "defaults: *a%d"), 17,
			"merge (<<) of *a13 makes the inventory too large: with its aliases and merges expanded it would have more than 200000 nodes (the limit)"},
		{"exponential lists", exponential(40, "  - &l0 [a, b]", "  - &l%d [*l%[2]d, *l%[2]d]", "roles: {r: *l%d}"), 18,
			"alias *l14 makes the inventory too large"},
		{"exponential mappings", exponential(60, "  a0: &a0 {k: v}", "  a%d: &a%[1]d {x: *a%[2]d, y: *a%[2]d, z: *a%[2]d}", "services: {s: {health: *a%d}}"), 13,
			"alias *a9 makes the inventory too large"},
		{"exponential merge keys in a block mapping", exponential(30, "  m0: &m0\n    port: 22", "  m%d: &m%[1]d\n    <<: [*m%[2]d, *m%[2]d, *m%[2]d, *m%[2]d]", "defaults: {<<: *m%d}"), 20,
			"merge (<<) of *m7 makes the inventory too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeInventory(t, tc.content)
			var err error
			bounded(t, func() { _, err = Load(path) })
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("want an ErrorList, got %v", err)
			}
			prefix := fmt.Sprintf("%s:%d: %s", path, tc.line, tc.want)
			if len(list) != 1 || !strings.HasPrefix(list[0].Error(), prefix) {
				t.Fatalf("got:\n%v\nwant one error starting:\n%s", err, prefix)
			}
		})
	}
}

// TestMergeKeysStillWork: a host and a service anchored where first written
// and merged into many others, a list of merges (the first mapping wins),
// explicit keys winning over merged ones, and plain aliases all load as
// before the bounds.
func TestMergeKeysStillWork(t *testing.T) {
	var b strings.Builder
	b.WriteString(`version: 1
hosts:
  edge: &host
    address: 10.0.0.1
    user: deploy
    port: 2222
    roles: &roles [web]
`)
	for i := range 300 {
		fmt.Fprintf(&b, "  w%d: {<<: *host, address: 10.0.1.%d, port: 22}\n", i, i%250)
	}
	b.WriteString(`  db1: {address: 10.0.2.1, roles: *roles}
roles:
  web: [api, worker, cron]
services:
  api: &svc
    stop_grace: 5s
    start_timeout: 20s
    health: &health {port: 8080, retries: 3}
  worker:
    <<: *svc
    stop_grace: 9s
  cron:
    <<: [{stop_grace: 1s}, *svc]
    health: *health
`)
	inv, err := Load(writeInventory(t, b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Hosts) != 302 {
		t.Fatalf("%d hosts, want 302", len(inv.Hosts))
	}
	edge, w7, db1 := inv.hosts["edge"], inv.hosts["w7"], inv.hosts["db1"]
	if edge.Port != 2222 || w7.Port != 22 || w7.User != "deploy" || w7.Address != "10.0.1.7" || w7.Roles[0] != "web" || db1.Roles[0] != "web" {
		t.Fatalf("edge %+v, w7 %+v, db1 %+v", edge, w7, db1)
	}
	api, worker, cron := inv.services["api"], inv.services["worker"], inv.services["cron"]
	if api.StopGrace != 5*time.Second || api.StartTimeout != 20*time.Second || api.Health.Port != 8080 || api.Health.Retries != 3 {
		t.Fatalf("api %+v", api)
	}
	if worker.StopGrace != 9*time.Second || worker.StartTimeout != 20*time.Second || worker.Health.Port != 8080 {
		t.Fatalf("worker %+v", worker)
	}
	if cron.StopGrace != time.Second || cron.StartTimeout != 20*time.Second || cron.Health.Retries != 3 {
		t.Fatalf("cron %+v", cron)
	}
}

// TestMergedMappingReportedOnce: a problem inside an anchor merged from
// many places is reported at its own line once where it is written and once
// for the merges, not once per merge.
func TestMergedMappingReportedOnce(t *testing.T) {
	content := "version: 1\nhosts:\n  h0: &h {[a]: 1, address: a, roles: [r]}\n"
	for i := 1; i <= 20; i++ {
		content += fmt.Sprintf("  h%d: {<<: *h}\n", i)
	}
	_, err := Load(writeInventory(t, content+"roles: {r: []}\n"))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("got %v", err)
	}
	for _, e := range list {
		if e.Line != 3 || e.Msg != "keys must be plain names, got a list" {
			t.Fatalf("got %v", err)
		}
	}
}

// TestFileSizeBounded: a file over MaxBytes, or one without end, is refused
// after reading MaxBytes+1 bytes, naming the file.
func TestFileSizeBounded(t *testing.T) {
	big := writeInventory(t, "version: 1\n# "+strings.Repeat("x", MaxBytes)+"\n")
	for _, path := range []string{big, "/dev/zero"} {
		var err error
		bounded(t, func() { _, err = Load(path) })
		var list ErrorList
		if !errors.As(err, &list) || !strings.HasPrefix(err.Error(), path+": the inventory is larger than 1048576 bytes (1 MiB)") {
			t.Fatalf("%s: got %v", path, err)
		}
	}
	if _, err := Parse("mem.yaml", make([]byte, MaxBytes+1)); err == nil || !strings.HasPrefix(err.Error(), "mem.yaml: the inventory is larger") {
		t.Fatalf("Parse: got %v", err)
	}
}

// TestProblemsCapped: a file with thousands of problems reports the first
// maxErrors and how many more there are.
func TestProblemsCapped(t *testing.T) {
	content := "version: 1\nhosts:\n"
	for i := range 500 {
		content += fmt.Sprintf("  h%d: {address: a, roles: [nope%d]}\n", i, i)
	}
	_, err := Load(writeInventory(t, content))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != maxErrors+1 {
		t.Fatalf("got %d problems: %v", len(list), err)
	}
	if last := list[len(list)-1].Error(); !strings.HasSuffix(last, ": 400 more problems not shown (omni shows the first 100 it finds)") {
		t.Fatalf("last line %q", last)
	}
}

// TestSuggestLongNames: did-you-mean on names far longer than any valid
// name costs nothing (the edit distance table was their product).
func TestSuggestLongNames(t *testing.T) {
	long := strings.Repeat("x", 200_000)
	bounded(t, func() {
		if got := Suggest(long+"y", []string{long, long + "z"}); got != "" {
			t.Errorf("got a suggestion of %d bytes", len(got))
		}
	})
	if got := Suggest("nginks", []string{"app", "nginx", strings.Repeat("n", 100)}); got != "nginx" {
		t.Errorf("Suggest(nginks) = %q", got)
	}
}

// TestSameHostCheckScales: thousands of hosts, each with roles of its own,
// and thousands of services with a same-host requirement are checked in
// bounded time (it was hosts × requirements: 4 s for 1 MiB, 16 s when the
// role lists were shared).
func TestSameHostCheckScales(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nhosts:\n")
	const n = 6000
	for i := range n {
		fmt.Fprintf(&b, "  h%d: {address: a, roles: [r, q%d]}\n", i, i)
	}
	b.WriteString("roles:\n  r: [t]\n")
	for i := range n {
		fmt.Fprintf(&b, "  q%d: []\n", i)
	}
	b.WriteString("services:\n  t: {}\n")
	for i := range n {
		fmt.Fprintf(&b, "  s%d: {requires: [t]}\n", i)
	}
	path := writeInventory(t, b.String())
	start := time.Now()
	inv, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > hostileTime {
		t.Errorf("took %v for %d hosts and services, want under %v", took, n, hostileTime)
	}
	if len(inv.Hosts) != n {
		t.Fatalf("%d hosts", len(inv.Hosts))
	}
}
