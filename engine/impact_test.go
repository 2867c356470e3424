package engine

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestImpactOfAFleet: the impact of stopping a service on several hosts at
// once names every dependent on every host, and an instance that needs
// "svc@role" once every instance of svc on the role goes, though no single
// host's stop takes it away.
func TestImpactOfAFleet(t *testing.T) {
	inv, set := loadExample(t)
	on := func(svc string, hosts ...string) []Instance {
		var out []Instance
		for _, h := range hosts {
			out = append(out, Instance{Host: h, Service: svc})
		}
		return out
	}
	cases := []struct {
		targets []Instance
		want    string
	}{
		{on("storage-agent", "worker1", "worker2", "worker3"), "container-runtime@worker1, container-runtime@worker2, container-runtime@worker3"},
		{on("storage-agent", "worker2"), "container-runtime@worker2"},
		// alert-manager needs auth-service@bastion: any one of the two.
		{on("auth-service", "primary-bastion"), "api-gateway@primary-bastion"},
		{on("auth-service", "secondary-bastion"), "api-gateway@secondary-bastion"},
		{on("auth-service", "primary-bastion", "secondary-bastion"), "api-gateway@primary-bastion, api-gateway@secondary-bastion, alert-manager@monitor1"},
		{on("auth-service", "secondary-bastion", "primary-bastion", "primary-bastion"), "api-gateway@primary-bastion, api-gateway@secondary-bastion, alert-manager@monitor1"},
		// Transitively, each before what it needs, and never a target itself.
		{on("network-agent", "worker1", "monitor1"), "container-runtime@worker1, orchestrator-core@worker1, storage-agent@worker1, orchestrator-core@monitor1, alert-manager@monitor1, metrics-collector@monitor1"},
		{on("network-agent", "monitor1", "worker1"), "container-runtime@worker1, orchestrator-core@worker1, storage-agent@worker1, orchestrator-core@monitor1, alert-manager@monitor1, metrics-collector@monitor1"},
		{nil, ""},
	}
	for _, c := range cases {
		if got := instanceList(Impact(inv, c.targets), 100); got != c.want {
			t.Errorf("impact of %v:\n got %s\nwant %s", c.targets, got, c.want)
		}
	}
	// One target: the impact is the plan's dependents.
	stop, _ := set.Get("stop")
	for _, h := range inv.Hosts {
		for _, svc := range inv.HostServices(h) {
			s, _ := inv.Service(svc)
			if !s.Enabled {
				continue
			}
			plan, err := NewPlan(inv, stop, Request{Action: "stop", Host: h.Name, Service: svc})
			if err != nil {
				t.Fatal(err)
			}
			if got := Impact(inv, []Instance{{Host: h.Name, Service: svc}}); !reflect.DeepEqual(got, plan.Dependents) {
				t.Errorf("%s@%s: impact %v, plan dependents %v", svc, h.Name, got, plan.Dependents)
			}
		}
	}
}

// TestDescribeInstances: grouped by service; beyond maxHosts hosts a count,
// never fewer than there are.
func TestDescribeInstances(t *testing.T) {
	var list []Instance
	for i := 1; i <= 100; i++ {
		list = append(list, Instance{Host: fmt.Sprintf("w%03d", i), Service: "container-runtime"})
	}
	list = append(list, Instance{Host: "b1", Service: "backup"}, Instance{Host: "w001", Service: "kubelet"}, Instance{Host: "w002", Service: "kubelet"})
	got := strings.Join(DescribeInstances(list, 3), "\n")
	want := "container-runtime on 100 hosts: w001, w002, w003 and 97 more\nbackup on b1\nkubelet on w001, w002"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := CountInstances(list); got != "103 instances on 101 hosts" {
		t.Fatalf("count: %s", got)
	}
	if got := CountInstances(list[:1]); got != "1 instance on 1 host" {
		t.Fatalf("count: %s", got)
	}
}

// BenchmarkImpactFleetWide: the impact of stopping auth-service on every
// bastion of the 10,000-host fleet at once: every host's orchestrator-core,
// through the role-level requirement, and everything above it.
func BenchmarkImpactFleetWide(b *testing.B) {
	inv, _ := loadBenchFleet(b)
	var targets []Instance
	for _, h := range inv.HostsWithRole("bastion") {
		targets = append(targets, Instance{Host: h.Name, Service: "auth-service"})
	}
	n := len(Impact(inv, targets))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Impact(inv, targets)
	}
	b.ReportMetric(float64(len(targets)), "targets")
	b.ReportMetric(float64(n), "dependents")
}
