package cli

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// The impact tests: 127.0.1.171 and up.

// storageFleet is a bastion and worker1..worker3, each a real sshd; the
// workers run storage-agent and volume-plugin (which needs the host's
// storage-agent); the bastion runs backup-agent, which needs any
// storage-agent on a worker: it loses it only when all three stop.
func storageFleet(t *testing.T, first int) *testfleet.Fleet {
	addr := func(i int) string { return "127.0.1." + strconv.Itoa(first+i) }
	return testfleet.Start(t, testfleet.Options{BastionAddr: addr(0), WorkerAddr: addr(1),
		MoreWorkers: []string{addr(2), addr(3)},
		Extra: []testfleet.Service{
			{Name: "storage-agent", Role: "worker"},
			{Name: "volume-plugin", Role: "worker", Keys: "requires: [storage-agent]"},
			{Name: "backup-agent", Role: "bastion", Keys: "requires: [storage-agent@worker]"},
		}})
}

var threeWorkers = []string{"worker1", "worker2", "worker3"}

// TestFleetStopNamesEveryDependent: a fleet stop's confirmation names the
// dependents on every host that loses the service, not the first host's
// only, and the one that loses it only because every worker stops it;
// without a terminal it refuses (exit 5), on a terminal answered n too,
// and nothing changes. --dry-run and -o json carry the same impact;
// --cascade stops each host's dependents first.
func TestFleetStopNamesEveryDependent(t *testing.T) {
	t.Parallel()
	f := storageFleet(t, 171)
	mustRun(t, f, "service", "start", "worker", "volume-plugin") // and storage-agent, its dependency
	before := map[string]int{}
	for _, w := range threeWorkers {
		before[w] = f.PID(w, "storage-agent")
	}
	unchanged := func(what string) {
		t.Helper()
		for _, w := range threeWorkers {
			if pid := f.PID(w, "storage-agent"); pid != before[w] || !testfleet.Alive(pid) {
				t.Fatalf("%s: storage-agent on %s was touched (pid %d -> %d)", what, w, before[w], pid)
			}
		}
	}

	out, errOut, code := omni(t, f, "service", "stop", "worker", "storage-agent")
	if code != ExitRefused || out != "" {
		t.Fatalf("no terminal: exit %d, want 5\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	compareGolden(t, "fleet-stop-impact.golden", []byte(errOut))
	unchanged("no terminal")

	_, errOut, code = omniCtx(context.Background(), t, f, true, "n\n", "service", "stop", "worker", "storage-agent")
	if code != ExitRefused {
		t.Fatalf("answer n: exit %d, want 5\n%s", code, errOut)
	}
	for _, want := range []string{"Services that lose storage-agent where they run (4 instances on 4 hosts):",
		"  volume-plugin on worker1, worker2, worker3\n", "  backup-agent on primary-bastion\n", "Are you sure? [y/N]"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("prompt lacks %q:\n%s", want, errOut)
		}
	}
	unchanged("answer n")

	// One host of three: backup-agent keeps the other two.
	_, errOut, code = omni(t, f, "service", "stop", "worker2,worker3", "storage-agent")
	if code != ExitRefused || !strings.Contains(errOut, "(2 instances on 2 hosts):\n  volume-plugin on worker2, worker3\n") || strings.Contains(errOut, "backup-agent") {
		t.Fatalf("two of three: exit %d\n%s", code, errOut)
	}

	// --dry-run, text and JSON: the same impact.
	out, errOut, code = omni(t, f, "service", "stop", "worker", "storage-agent", "--dry-run")
	if code != 0 || !strings.Contains(out, "Services that lose storage-agent where they run (4 instances on 4 hosts):\n  volume-plugin on worker1, worker2, worker3\n  backup-agent on primary-bastion\n") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = omni(t, f, "-o", "json", "service", "stop", "worker", "storage-agent", "--dry-run")
	var plan struct {
		Dependents []string `json:"dependents"`
		Plans      []planDoc
	}
	want := []string{"volume-plugin@worker1", "volume-plugin@worker2", "volume-plugin@worker3", "backup-agent@primary-bastion"}
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || !sameSet(plan.Dependents, want) || len(plan.Plans) != 3 ||
		!reflect.DeepEqual(plan.Plans[2].Dependents, []string{"volume-plugin@worker3"}) {
		t.Fatalf("dry run json: exit %d\n%s\n%s", code, out, errOut)
	}
	unchanged("dry run")

	// --cascade --yes: on each host volume-plugin goes first; backup-agent,
	// which no single host's cascade stops, is named as left.
	out, errOut, code = omni(t, f, "-o", "json", "service", "stop", "worker", "storage-agent", "--cascade", "--yes")
	var doc fleetDoc
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || doc.Summary["done"] != 3 || !sameSet(doc.Dependents, want) {
		t.Fatalf("stop --cascade: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "--cascade: on each host, the running ones that depend on its storage-agent are stopped first.") ||
		!strings.Contains(errOut, "Not stopped by --cascade: they lose storage-agent only when every host of the run is without it (1 instance on 1 host):\n  backup-agent on primary-bastion\n") {
		t.Fatalf("stop --cascade: the impact:\n%s", errOut)
	}
	for i, w := range threeWorkers {
		if testfleet.Alive(f.PID(w, "storage-agent")) || testfleet.Alive(f.PID(w, "volume-plugin")) {
			t.Fatalf("%s: storage-agent or volume-plugin still running after stop --cascade", w)
		}
		var steps []string
		for _, s := range doc.Hosts[i].Steps {
			steps = append(steps, s.Step+" "+s.Service+"@"+s.Host)
		}
		if got := strings.Join(steps, ", "); !strings.Contains(got, "stop volume-plugin@"+w+", verify-stopped volume-plugin@"+w) ||
			strings.Index(got, "stop volume-plugin@"+w) > strings.Index(got, "stop storage-agent@"+w) || strings.Contains(got, "worker"+strconv.Itoa((i+1)%3+1)) {
			t.Fatalf("%s: steps %s: want its own volume-plugin stopped before its storage-agent", w, got)
		}
	}
}

// TestFleetRestartListsDependentsLeftAlone: a fleet restart without
// --cascade names, per host, the running dependents it did not restart, in
// the text report and in the JSON (not_restarted, as for one host); with
// --cascade it restarts each host's own.
func TestFleetRestartListsDependentsLeftAlone(t *testing.T) {
	t.Parallel()
	f := storageFleet(t, 176)
	mustRun(t, f, "service", "start", "worker", "volume-plugin") // and storage-agent
	pidsOf := func(svc string) map[string]int {
		out := map[string]int{}
		for _, w := range threeWorkers {
			out[w] = f.PID(w, svc)
		}
		return out
	}
	plugins := pidsOf("volume-plugin")

	out, errOut, code := omni(t, f, "service", "restart", "worker", "storage-agent")
	if code != 0 {
		t.Fatalf("restart: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "\nNot restarted (pass --cascade to restart them too) (3 instances on 3 hosts):\n  volume-plugin on worker1, worker2, worker3\n") {
		t.Fatalf("the report does not list the dependents left alone:\n%s", out)
	}
	out, errOut, code = omni(t, f, "-o", "json", "service", "restart", "worker", "storage-agent")
	var doc fleetDoc
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Hosts) != 3 {
		t.Fatalf("restart json: exit %d\n%s\n%s", code, out, errOut)
	}
	for i, w := range threeWorkers {
		if got, want := doc.Hosts[i].NotRestarted, []string{"volume-plugin@" + w}; doc.Hosts[i].Host != w || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: not_restarted %q, want %q\n%s", w, got, want, out)
		}
	}
	if got := pidsOf("volume-plugin"); !reflect.DeepEqual(got, plugins) {
		t.Fatalf("volume-plugin restarted without --cascade: %v -> %v", plugins, got)
	}

	// --cascade: each host restarts its own volume-plugin, nothing is left.
	agents := pidsOf("storage-agent")
	out, errOut, code = omni(t, f, "-o", "json", "service", "restart", "worker", "storage-agent", "--cascade")
	doc = fleetDoc{}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || strings.Contains(out, "not_restarted") {
		t.Fatalf("restart --cascade: exit %d\n%s\n%s", code, out, errOut)
	}
	now, nowAgents := pidsOf("volume-plugin"), pidsOf("storage-agent")
	for _, w := range threeWorkers {
		if now[w] == plugins[w] || !testfleet.Alive(now[w]) || nowAgents[w] == agents[w] || !testfleet.Alive(nowAgents[w]) {
			t.Fatalf("%s: restart --cascade: volume-plugin %d -> %d, storage-agent %d -> %d: want both restarted and alive",
				w, plugins[w], now[w], agents[w], nowAgents[w])
		}
	}
}

// sameSet: a and b hold the same strings (the JSON lists are in stop
// order, which the tests do not pin).
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
