package engine

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
)

// The fleet of the planning benchmarks: 10,000 hosts, each running 10
// services. A few bastions run the bastion role, every other host is a
// worker; role "all" gives every host its base services.
//
//	all:     network-agent, log-shipper, metrics-agent, orchestrator-core
//	worker:  storage-agent, container-runtime, kubelet, ingress-proxy, app-sidecar, job-runner
//	bastion: vault-agent, auth-service, api-gateway, dns-cache, audit-log, session-proxy
//
// Requirements are on the same host, except orchestrator-core's
// auth-service@bastion: every host's orchestrator-core needs an
// auth-service on some bastion. So network-agent on a bastion is the most
// depended-on instance of the fleet: its vault-agent, its auth-service and,
// through the role-level requirement, every host's orchestrator-core and
// everything above it depend on it. job-runner has the deepest chain:
// job-runner -> app-sidecar -> ingress-proxy -> kubelet -> orchestrator-core
// -> auth-service@bastion -> vault-agent -> network-agent.
const (
	benchHosts    = 10000
	benchBastions = 5
)

var benchServices = []struct{ name, requires string }{
	{"network-agent", ""},
	{"log-shipper", "network-agent"},
	{"metrics-agent", "network-agent"},
	{"orchestrator-core", "network-agent, auth-service@bastion, config-store@control"},
	{"storage-agent", "network-agent"},
	{"container-runtime", "network-agent, storage-agent"},
	{"kubelet", "container-runtime, orchestrator-core"},
	{"ingress-proxy", "kubelet, metrics-agent"},
	{"app-sidecar", "ingress-proxy, log-shipper"},
	{"job-runner", "app-sidecar"},
	{"vault-agent", "network-agent"},
	{"auth-service", "vault-agent"},
	{"api-gateway", "auth-service, orchestrator-core"},
	{"dns-cache", "network-agent"},
	{"audit-log", "log-shipper"},
	{"session-proxy", "api-gateway"},
	{"config-store", "network-agent"},
}

// fleetYAML writes the benchmark inventory as YAML text.
func fleetYAML(hosts, bastions int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\ndefaults:\n  user: omni\n  known_hosts: known_hosts\nhosts:\n")
	for i := 1; i <= bastions; i++ {
		fmt.Fprintf(&b, "  bastion-%d: {address: 10.0.0.%d, roles: [bastion]}\n", i, i)
	}
	// One control host: its config-store is the only instance on its role, so
	// every orchestrator-core in the fleet depends on that very instance.
	b.WriteString("  control-1: {address: 10.0.1.1, roles: [control]}\n")
	for i := 1; i <= hosts-bastions-1; i++ {
		fmt.Fprintf(&b, "  worker-%05d: {address: 10.%d.%d.%d, roles: [worker], via: bastion-%d}\n",
			i, 1+i/65536, i/256%256, i%256, 1+i%bastions)
	}
	b.WriteString("roles:\n")
	b.WriteString("  all: [network-agent, log-shipper, metrics-agent, orchestrator-core]\n")
	b.WriteString("  worker: [storage-agent, container-runtime, kubelet, ingress-proxy, app-sidecar, job-runner]\n")
	b.WriteString("  bastion: [vault-agent, auth-service, api-gateway, dns-cache, audit-log, session-proxy]\n")
	b.WriteString("  control: [config-store]\n")
	b.WriteString("services:\n")
	for _, s := range benchServices {
		fmt.Fprintf(&b, "  %s:\n", s.name)
		if s.name == "network-agent" {
			b.WriteString("    critical: true\n    impact: This host loses its overlay network.\n")
		}
		if s.requires != "" {
			fmt.Fprintf(&b, "    requires: [%s]\n", s.requires)
		}
		b.WriteString("    health: {process: true, port: 9000, http: {port: 9000, path: /healthz}}\n")
	}
	return []byte(b.String())
}

var benchFleet struct {
	once sync.Once
	inv  *inventory.Inventory
	set  *playbooks.Set
	err  error
}

// loadBenchFleet parses the fleet once per process, outside the timed loops.
func loadBenchFleet(b *testing.B) (*inventory.Inventory, *playbooks.Set) {
	b.Helper()
	benchFleet.once.Do(func() {
		benchFleet.inv, benchFleet.err = inventory.Parse("bench-fleet.yaml", fleetYAML(benchHosts, benchBastions))
		if benchFleet.err == nil {
			benchFleet.set, benchFleet.err = playbooks.Builtin(Vocabulary())
		}
	})
	if benchFleet.err != nil {
		b.Fatal(benchFleet.err)
	}
	return benchFleet.inv, benchFleet.set
}

func benchPlan(b *testing.B, req Request) {
	inv, set := loadBenchFleet(b)
	pb, err := set.Get(req.Action)
	if err != nil {
		b.Fatal(err)
	}
	plan, err := NewPlan(inv, pb, req) // once untimed: the plan's size, for the report
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := NewPlan(inv, pb, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(plan.Dependents)), "dependents")
	b.ReportMetric(float64(len(plan.Tasks)), "tasks")
}

// BenchmarkLoadInventory10k parses and validates the 10,000-host inventory.
func BenchmarkLoadInventory10k(b *testing.B) {
	data := fleetYAML(benchHosts, benchBastions)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := inventory.Parse("bench-fleet.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// (a) stop --cascade of the most depended-on instance: network-agent on a
// bastion (the whole fleet's orchestrator-core and above depend on it).
// The fleet-wide cascades: config-store on control-1 is required, through
// config-store@control, by orchestrator-core on all 10,000 hosts, and so
// transitively by everything above it.
func BenchmarkPlanCascadeStopFleetWide(b *testing.B) {
	benchPlan(b, Request{Action: "stop", Host: "control-1", Service: "config-store", Cascade: true})
}

func BenchmarkPlanCascadeRestartFleetWide(b *testing.B) {
	benchPlan(b, Request{Action: "restart", Host: "control-1", Service: "config-store", Cascade: true})
}

func BenchmarkPlanCascadeStopBastion(b *testing.B) {
	benchPlan(b, Request{Action: "stop", Host: "bastion-1", Service: "network-agent", Cascade: true})
}

// (b) restart --cascade of the same instance.
func BenchmarkPlanCascadeRestartBastion(b *testing.B) {
	benchPlan(b, Request{Action: "restart", Host: "bastion-1", Service: "network-agent", Cascade: true})
}

// The most depended-on service of a worker, whose dependents are all on
// that worker: a cascade that stays on one host, in a 10,000-host fleet.
func BenchmarkPlanCascadeStopWorker(b *testing.B) {
	benchPlan(b, Request{Action: "stop", Host: "worker-05000", Service: "network-agent", Cascade: true})
}

func BenchmarkPlanCascadeRestartWorker(b *testing.B) {
	benchPlan(b, Request{Action: "restart", Host: "worker-05000", Service: "network-agent", Cascade: true})
}

// (c) start of the service with the deepest dependency chain.
func BenchmarkPlanStartDeepest(b *testing.B) {
	benchPlan(b, Request{Action: "start", Host: "worker-09994", Service: "job-runner"})
}
