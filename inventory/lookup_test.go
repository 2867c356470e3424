package inventory

import (
	"errors"
	"reflect"
	"testing"
)

func loadExample(t *testing.T) *Inventory {
	t.Helper()
	inv, err := Load("../examples/inventory.yaml")
	if err != nil {
		t.Fatalf("examples/inventory.yaml: %v", err)
	}
	return inv
}

func TestExampleInventory(t *testing.T) {
	inv := loadExample(t)
	if got, want := inv.HostNames(), []string{"primary-bastion", "secondary-bastion", "worker1", "worker2", "worker3", "monitor1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("hosts = %v, want %v", got, want)
	}
	cr, err := inv.Service("container-runtime")
	if err != nil {
		t.Fatal(err)
	}
	if !cr.Critical || cr.Impact != "This will affect all running containers on this host." || cr.Unit != "omni-container-runtime.service" {
		t.Errorf("container-runtime = %+v", *cr)
	}
	for _, s := range inv.Services {
		if s.Unit != "omni-"+s.Name+".service" {
			t.Errorf("service %s: unit %q", s.Name, s.Unit)
		}
		if s.Critical && s.Impact == "" {
			t.Errorf("critical service %s has no impact", s.Name)
		}
	}
	w1, _ := inv.Host("worker1")
	if w1.User != "omni" || !w1.Sudo || w1.Via != "primary-bastion" {
		t.Errorf("worker1 = %+v", *w1)
	}
}

func TestLookups(t *testing.T) {
	inv := loadExample(t)
	tests := []struct {
		lookup func(string) error
		name   string
		want   string // "" when found
	}{
		{hostErr(inv), "worker1", ""},
		{hostErr(inv), "workr1", `unknown host "workr1" (did you mean "worker1"?)`},
		{hostErr(inv), "Worker1", `unknown host "Worker1" (did you mean "worker1"?)`},
		{hostErr(inv), "db9", `unknown host "db9"`},
		{serviceErr(inv), "api-gatway", `unknown service "api-gatway" (did you mean "api-gateway"?)`},
		{serviceErr(inv), "storage", `unknown service "storage"`},
		{roleErr(inv), "bastoin", `unknown role "bastoin" (did you mean "bastion"?)`},
		{roleErr(inv), "all", ""},
	}
	for _, tt := range tests {
		err := tt.lookup(tt.name)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("%s: error %v, want %s", tt.name, err, tt.want)
		case tt.want != "":
			var nf *NotFoundError
			if !errors.As(err, &nf) || nf.Name != tt.name {
				t.Errorf("%s: error %T is not a *NotFoundError", tt.name, err)
			}
		}
	}
	if _, ok := inv.Role("bastion"); !ok {
		t.Error(`Role("bastion") not found`)
	}
	if _, ok := inv.Role("bastoin"); ok {
		t.Error(`Role("bastoin") found`)
	}
}

func hostErr(inv *Inventory) func(string) error {
	return func(n string) error { _, err := inv.Host(n); return err }
}
func serviceErr(inv *Inventory) func(string) error {
	return func(n string) error { _, err := inv.Service(n); return err }
}
func roleErr(inv *Inventory) func(string) error {
	return func(n string) error { _, err := inv.RoleError(n); return err }
}

func TestHostServices(t *testing.T) {
	inv := loadExample(t)
	tests := []struct {
		host string
		want []string
	}{
		// backup-manager is disabled: listed by the role, not run.
		{"primary-bastion", []string{"orchestrator-core", "network-agent", "api-gateway", "auth-service"}},
		{"worker2", []string{"orchestrator-core", "network-agent", "container-runtime", "storage-agent"}},
		{"monitor1", []string{"orchestrator-core", "network-agent", "metrics-collector", "alert-manager"}},
	}
	for _, tt := range tests {
		h, _ := inv.Host(tt.host)
		if got := inv.HostServices(h); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("HostServices(%s) = %v, want %v", tt.host, got, tt.want)
		}
	}
	w1, _ := inv.Host("worker1")
	pb, _ := inv.Host("primary-bastion")
	if !inv.Runs(w1, "network-agent") || !inv.Runs(w1, "container-runtime") || inv.Runs(w1, "api-gateway") {
		t.Error("Runs(worker1, ...) is wrong")
	}
	if inv.Runs(pb, "backup-manager") {
		t.Error("a disabled service runs")
	}
	if inv.Bastion(w1) != pb || inv.Bastion(pb) != nil {
		t.Error("Bastion is wrong")
	}
	names := func(hosts []*Host) (out []string) {
		for _, h := range hosts {
			out = append(out, h.Name)
		}
		return out
	}
	if got := names(inv.HostsWithRole("worker")); !reflect.DeepEqual(got, []string{"worker1", "worker2", "worker3"}) {
		t.Errorf("HostsWithRole(worker) = %v", got)
	}
	if got := inv.HostsWithRole("all"); len(got) != len(inv.Hosts) {
		t.Errorf("HostsWithRole(all) = %d hosts", len(got))
	}
	if got := inv.HostsWithRole("nope"); got != nil {
		t.Errorf("HostsWithRole(nope) = %v", names(got))
	}
}

// A host naming a role twice (through "all" and explicitly) or two roles
// sharing a service still runs each service once, in first-seen order.
func TestHostServicesNoDuplicates(t *testing.T) {
	inv := &Inventory{
		Roles: []*Role{
			{Name: "web", Services: []string{"nginx", "app"}},
			{Name: "all", Services: []string{"agent"}},
			{Name: "api", Services: []string{"app", "agent", "cache"}},
		},
		Services: []*Service{
			{Name: "nginx", Enabled: true}, {Name: "app", Enabled: true},
			{Name: "agent", Enabled: true}, {Name: "cache", Enabled: true},
		},
	}
	h := &Host{Name: "h", Roles: []string{"api", "all", "web"}}
	want := []string{"agent", "app", "cache", "nginx"}
	if got := inv.HostServices(h); !reflect.DeepEqual(got, want) {
		t.Errorf("HostServices = %v, want %v", got, want)
	}
}

func TestRequirements(t *testing.T) {
	for in, want := range map[string]Requirement{
		"db":         {Service: "db"},
		"db@worker1": {Service: "db", At: "worker1"},
	} {
		if got := ParseRequirement(in); got != want || got.String() != in {
			t.Errorf("ParseRequirement(%q) = %+v", in, got)
		}
	}
	inv := loadExample(t)
	am, _ := inv.Service("alert-manager")
	want := []Requirement{{Service: "metrics-collector", Reach: ReachSpec{Mode: ReachOff}},
		{Service: "auth-service", Role: "bastion", At: "bastion", Reach: ReachSpec{Mode: ReachOptional, Port: 7430}}}
	if got := am.Requirements(); !reflect.DeepEqual(got, want) {
		t.Errorf("alert-manager requirements = %#v, want %#v", got, want)
	}
	if !want[0].SameHost() || want[1].SameHost() {
		t.Error("SameHost is wrong")
	}
}

func TestSuggest(t *testing.T) {
	candidates := []string{"address", "port", "user", "roles", "via"}
	for name, want := range map[string]string{
		"adress":  "address",
		"addres":  "address",
		"Address": "address",
		"prot":    "port",
		"rols":    "roles",
		"vai":     "via", // a swap is one edit
		"vx":      "",    // two edits on a short name is not a typo
		"x":       "",
		"colour":  "",
	} {
		if got := Suggest(name, candidates); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", name, got, want)
		}
	}
}
