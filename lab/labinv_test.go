package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

const exampleInventory = "../examples/inventory.yaml"

func loadExample(t *testing.T) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Load(exampleInventory)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// fakeEndpoints gives host i the address it would get in block 0.
func fakeEndpoints(hosts []labHost) map[string]Endpoint {
	eps := map[string]Endpoint{}
	for i, h := range hosts {
		eps[h.Name] = Endpoint{Name: h.Name, Address: hostAddress(0, i), Port: DefaultPort, Via: h.Via}
	}
	return eps
}

// writeLabInventory writes the lab inventory of src and loads it, strictly.
func writeLabInventory(t *testing.T, src *inventory.Inventory, dir string, n int) (*inventory.Inventory, invParams) {
	t.Helper()
	hosts, err := planHosts(src, n)
	if err != nil {
		t.Fatal(err)
	}
	eps := fakeEndpoints(hosts)
	ports, err := servicePorts(src, hosts, eps, DefaultPort)
	if err != nil {
		t.Fatal(err)
	}
	p := invParams{Dir: dir, Omni: "/opt/omni bin/omni", User: "tester", Hosts: hosts, Endpoints: eps, ServicePorts: ports, From: src.Path}
	data, err := labInventory(src, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, inventoryFile)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(path)
	if err != nil {
		t.Fatalf("the lab inventory does not load:\n%v\n%s", err, data)
	}
	return inv, p
}

// TestLabInventoryIsTheSameFleet: the lab inventory loads strictly and has
// the source's hosts, roles and services, with lab addresses, keys and
// command managers.
func TestLabInventoryIsTheSameFleet(t *testing.T) {
	src := loadExample(t)
	dir := filepath.Join(t.TempDir(), "it's a lab") // paths that need quoting
	inv, _ := writeLabInventory(t, src, dir, 0)

	if !slices.Equal(inv.HostNames(), src.HostNames()) || !slices.Equal(inv.RoleNames(), src.RoleNames()) ||
		!slices.Equal(inv.ServiceNames(), src.ServiceNames()) {
		t.Fatalf("names differ: hosts %v roles %v services %v", inv.HostNames(), inv.RoleNames(), inv.ServiceNames())
	}
	d := inv.Defaults
	if d.User != "tester" || d.IdentityFile != filepath.Join(dir, clientKeyFile) || d.KnownHosts != filepath.Join(dir, knownHostsFile) ||
		d.Sudo || d.Manager != "command" || inv.Registry.Path != filepath.Join(dir, registryFile) {
		t.Errorf("defaults: %+v, registry %q", d, inv.Registry.Path)
	}
	for i, h := range inv.Hosts {
		s := src.Hosts[i]
		if h.Address != hostAddress(0, i) || h.Port != DefaultPort || h.ServiceAddress != h.Address ||
			h.Via != s.Via || !slices.Equal(h.Roles, s.Roles) || h.Sudo || h.User != "tester" {
			t.Errorf("host %s: %+v", h.Name, h)
		}
		if !slices.Equal(inv.HostServices(h), src.HostServices(s)) {
			t.Errorf("host %s runs %v, want %v", h.Name, inv.HostServices(h), src.HostServices(s))
		}
	}
	for i, s := range inv.Services {
		o := src.Services[i]
		wantHooks := o.Hooks
		if labDrained[s.Name] {
			wantHooks = drainHooks(t, s.Hooks, o.Hooks, s.Health.Port)
		}
		if s.Enabled != o.Enabled || s.Critical != o.Critical || s.Impact != o.Impact || !slices.Equal(s.Requires, o.Requires) ||
			s.StopGrace != o.StopGrace || s.StartTimeout != o.StartTimeout || s.Manager != "command" || s.Sudo ||
			!reflect.DeepEqual(s.Hooks, withLines(wantHooks, s.Hooks)) {
			t.Errorf("service %s: %+v, want like %+v", s.Name, s, o)
		}
		sh, oh := s.Health, o.Health
		if *sh.HTTP != *oh.HTTP {
			t.Errorf("service %s http check: %+v, want %+v", s.Name, *sh.HTTP, *oh.HTTP)
		}
		sh.HTTP, oh.HTTP = nil, nil
		if sh != oh {
			t.Errorf("service %s health: %+v, want %+v", s.Name, s.Health, o.Health)
		}
		port := o.Health.HTTP.Port
		c := s.Commands
		for _, want := range []string{
			`setsid nohup '/opt/omni bin/omni' lab service --name "$OMNI_SERVICE"`,
			fmt.Sprintf(`--listen "$OMNI_ADDRESS:%d" --health-path %s`, port, o.Health.HTTP.Path),
			`--pidfile '` + strings.ReplaceAll(dir, "'", `'\''`) + `/run/'"$OMNI_HOST.$OMNI_SERVICE".pid`,
			`--log '` + strings.ReplaceAll(dir, "'", `'\''`) + `/logs/'"$OMNI_HOST.$OMNI_SERVICE".log`,
			`--ready-after 1s --stop-delay 500ms >/dev/null 2>&1 </dev/null &`,
		} {
			if !strings.Contains(c.Start, want) {
				t.Errorf("service %s: start command lacks %s:\n%s", s.Name, want, c.Start)
			}
		}
		if !strings.HasPrefix(c.Status, "cat ") || !strings.Contains(c.Logs, "tail -n") || c.Stop != "" {
			t.Errorf("service %s: commands %+v", s.Name, c)
		}
	}
}

// drainHooks checks the lab's drain hooks of a drained service (the
// source's hooks, then a pre_stop that drains it and a post_stop that takes
// it back after a failed stop, both warning on failure) and returns the
// hooks the lab inventory should have.
func drainHooks(t *testing.T, got, src inventory.Hooks, port int) inventory.Hooks {
	t.Helper()
	addr := fmt.Sprintf(`"$OMNI_ADDRESS:%d"`, port)
	want := src
	want.PreStop = append(slices.Clone(src.PreStop), inventory.Hook{Run: "'/opt/omni bin/omni' lab drain " + addr + " --timeout 20s",
		On: "self", Timeout: 30 * time.Second, OnFailure: "warn"})
	want.PostStop = append(slices.Clone(src.PostStop), inventory.Hook{Run: `[ "$OMNI_RESULT" != failed ] || '/opt/omni bin/omni' lab drain --undo ` + addr,
		On: "self", Timeout: 30 * time.Second, OnFailure: "warn"})
	return want
}

// withLines is hooks with the lines of like's (the lab file's own lines).
func withLines(hooks, like inventory.Hooks) inventory.Hooks {
	for _, kind := range inventory.HookKinds {
		src, dst := hooks.Of(kind), like.Of(kind)
		for i := range src {
			if i < len(dst) {
				src[i].Line = dst[i].Line
			}
		}
	}
	return hooks
}

// TestLabCommandsRunInAShell runs the generated status and logs commands
// with sh, as the command manager does, on a directory that needs quoting.
func TestLabCommandsRunInAShell(t *testing.T) {
	dir := filepath.Join(t.TempDir(), `a "lab" dir's $HOME`)
	for _, sub := range []string{runDir, logsDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, runDir, "w1.api.pid"), []byte("4242\n"), 0o644)
	os.WriteFile(filepath.Join(dir, logsDir, "w1.api.log"), []byte("one\ntwo\nthree\n"), 0o644)
	env := []string{"OMNI_HOST=w1", "OMNI_SERVICE=api", "OMNI_ADDRESS=127.0.0.1", "PATH=" + os.Getenv("PATH")}
	sh := func(cmd string, extra ...string) string {
		t.Helper()
		c := exec.Command("sh", "-c", cmd)
		c.Env = append(env, extra...)
		out, err := c.Output()
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		return string(out)
	}
	if got := sh(statusCommand(dir)); got != "4242\n" {
		t.Errorf("status: %q", got)
	}
	if got := sh(logsCommand(dir), "OMNI_LINES=2", "OMNI_FOLLOW=0"); got != "two\nthree\n" {
		t.Errorf("logs -n 2: %q", got)
	}
	if got := sh(logsCommand(dir), "OMNI_LINES=0", "OMNI_FOLLOW=0"); got != "one\ntwo\nthree\n" {
		t.Errorf("logs, all: %q", got)
	}
	// No pidfile: the status command fails quietly (the service is stopped).
	c := exec.Command("sh", "-c", statusCommand(dir))
	c.Env = append(env[:0:0], "OMNI_HOST=w2", "OMNI_SERVICE=api")
	if out, err := c.CombinedOutput(); err == nil || len(out) != 0 {
		t.Errorf("status without a pidfile: %q, %v", out, err)
	}
}

func TestPlanHostsForMoreHosts(t *testing.T) {
	src := loadExample(t)
	hosts, err := planHosts(src, 10)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range hosts[6:] {
		names = append(names, h.Name)
		if !slices.Equal(h.Roles, []string{"worker"}) || h.Via != "primary-bastion" {
			t.Errorf("extra host %+v: want role worker via primary-bastion", h)
		}
	}
	if want := []string{"worker4", "worker5", "worker6", "worker7"}; !slices.Equal(names, want) {
		t.Errorf("extra hosts %v, want %v", names, want)
	}

	// The lab inventory of a bigger fleet loads too.
	inv, _ := writeLabInventory(t, src, t.TempDir(), 300)
	if len(inv.Hosts) != 300 || inv.Hosts[299].Address != "127.77.1.50" {
		t.Errorf("300 hosts: %d, the last at %s", len(inv.Hosts), inv.Hosts[len(inv.Hosts)-1].Address)
	}

	var usage *UsageError
	if _, err := planHosts(src, 3); !errors.As(err, &usage) {
		t.Errorf("--hosts 3 of 6: %v, want a usage error", err)
	}
	noWorkers, err := inventory.Parse("x.yaml", []byte(`version: 1
hosts:
  a: {address: 10.0.0.1, roles: [db]}
roles:
  db: [pg]
services:
  pg: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := planHosts(noWorkers, 3); !errors.As(err, &usage) || !strings.Contains(err.Error(), `no role "worker"`) {
		t.Errorf("no worker role: %v", err)
	}
}

// TestServiceWithoutHealthPortGetsOne: a service with no port to check
// still listens on a port of its own, and no health check is made up.
func TestServiceWithoutHealthPortGetsOne(t *testing.T) {
	src, err := inventory.Parse(filepath.Join(t.TempDir(), "src.yaml"), []byte(`version: 1
defaults: {manager: command}
hosts:
  h1: {address: 10.0.0.1, roles: [app]}
  h2: {address: 10.0.0.2, roles: [app]}
roles:
  app: [quiet, probed, root-probed]
services:
  quiet:
    commands: {start: /bin/true, status: /bin/false}
  probed:
    commands: {start: /bin/true, status: /bin/false}
    health: {process: true, port: 9001}
  root-probed:
    commands: {start: /bin/true, status: /bin/false}
    health: {http: {port: 9002, path: /, expect: 204}}
`))
	if err != nil {
		t.Fatal(err)
	}
	inv, p := writeLabInventory(t, src, t.TempDir(), 0)
	quiet, _ := inv.Service("quiet")
	port := p.ServicePorts["quiet"]
	if port == 0 || port == 9001 || port == 9002 || port == DefaultPort {
		t.Errorf("quiet got port %d", port)
	}
	if quiet.Health.Process || quiet.Health.Port != 0 || quiet.Health.HTTP != nil {
		t.Errorf("quiet has health checks: %+v", quiet.Health)
	}
	if !strings.Contains(quiet.Commands.Start, fmt.Sprintf(`:%d" --health-path /healthz`, port)) {
		t.Errorf("quiet start: %s", quiet.Commands.Start)
	}
	probed, _ := inv.Service("probed")
	if !strings.Contains(probed.Commands.Start, `:9001" --health-path /healthz`) || !probed.Health.Process || probed.Health.Port != 9001 {
		t.Errorf("probed: %s %+v", probed.Commands.Start, probed.Health)
	}
	rootProbed, _ := inv.Service("root-probed")
	if !strings.Contains(rootProbed.Commands.Start, `:9002" --health-path / --health-status 204`) {
		t.Errorf("root-probed start: %s", rootProbed.Commands.Start)
	}
}

func TestExamples(t *testing.T) {
	inv, _ := writeLabInventory(t, loadExample(t), t.TempDir(), 0)
	direct, behind, ok := Examples(inv)
	if !ok || direct != (Example{"primary-bastion", "api-gateway", false}) || behind != (Example{"worker1", "container-runtime", true}) {
		t.Errorf("examples: %+v %+v %v", direct, behind, ok)
	}
	if first, ok := StartExample(inv); !ok || first != (Example{"primary-bastion", "network-agent", true}) {
		t.Errorf("start example: %+v", first)
	}
}
