package testfleet

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/demosvctest"
	"github.com/omni-fleet/omni/internal/testkit/proctest"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// Options choose the fleet's loopback addresses; tests running at the same
// time must use different ones. Packages keep to their own range: the cli
// tests use 127.0.1.x, the transport and sshtest tests 127.0.0.x.
type Options struct {
	BastionAddr string // e.g. 127.0.1.41
	WorkerAddr  string // e.g. 127.0.0.42
	// MoreWorkers are the addresses of worker2, worker3, ...: hosts of role
	// worker behind the bastion, each a real sshd of its own.
	MoreWorkers []string
	// Extra services, run by the role each names.
	Extra []Service
}

// Service is an extra demo service of the fleet.
type Service struct {
	Name  string
	Role  string // all, bastion or worker
	Keys  string // extra YAML keys of the service, e.g. "requires: [network-agent]"
	Flags string // extra omni-demo-svc flags, e.g. "--unhealthy"
	Raw   string // when set, the whole service body (indented 4 spaces) instead of a demo service
}

// Fleet is a running test fleet.
type Fleet struct {
	Dir        string // everything the fleet writes
	RunDir     string // pid and log files of the services
	Inventory  string // path of the inventory file
	KnownHosts string
	Demo       string // path of the omni-demo-svc binary
	Bastion    *sshtest.Server
	Worker     *sshtest.Server
	Workers    []*sshtest.Server // worker2, worker3, ... (Options.MoreWorkers)
	Ports      map[string]int    // service name -> port
	t          testing.TB
}

// Services of the fleet: name -> role. Each listens on its own port.
var baseServices = []struct{ name, role string }{
	{"network-agent", "all"},
	{"api-gateway", "bastion"},
	{"container-runtime", "worker"},
}

// Start brings the fleet up (sshd servers only; services start stopped).
func Start(t testing.TB, opts Options) *Fleet {
	t.Helper()
	f := &Fleet{Dir: t.TempDir(), Demo: demosvctest.Binary(t), Ports: map[string]int{}, t: t}
	f.RunDir = filepath.Join(f.Dir, "run")
	if err := os.MkdirAll(f.RunDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.Bastion = sshtest.Start(t, sshtest.Options{Addr: opts.BastionAddr})
	f.Worker = sshtest.Start(t, sshtest.Options{Addr: opts.WorkerAddr})
	f.KnownHosts = filepath.Join(f.Dir, "known_hosts")
	f.Bastion.WriteKnownHosts(f.KnownHosts)
	f.Worker.WriteKnownHosts(f.KnownHosts)
	for _, addr := range opts.MoreWorkers {
		w := sshtest.Start(t, sshtest.Options{Addr: addr})
		w.WriteKnownHosts(f.KnownHosts)
		f.Workers = append(f.Workers, w)
	}
	t.Cleanup(f.killServices)

	names := []string{}
	for _, s := range baseServices {
		names = append(names, s.name)
	}
	for _, extra := range opts.Extra {
		names = append(names, extra.Name)
	}
	for _, name := range names {
		f.Ports[name] = freePort(t, append([]string{opts.BastionAddr, opts.WorkerAddr}, opts.MoreWorkers...)...)
	}
	f.Inventory = filepath.Join(f.Dir, "inventory.yaml")
	f.writeInventory(opts)
	return f
}

const inventoryTemplate = `version: 1
defaults:
  user: {{.User}}
  identity_file: {{.Key}}
  known_hosts: {{.KnownHosts}}
  manager: command
  connect_timeout: 5s
  stop_grace: 5s
  start_timeout: 10s
registry:
  path: {{.Dir}}/state.json
hosts:
  primary-bastion:
    address: {{.Bastion.Addr}}
    port: {{.Bastion.Port}}
    roles: [bastion]
    service_address: {{.Bastion.Addr}}
  worker1:
    address: {{.Worker.Addr}}
    port: {{.Worker.Port}}
    roles: [worker]
    via: primary-bastion
    service_address: {{.Worker.Addr}}
{{range $i, $w := .Workers}}  worker{{add $i 2}}:
    address: {{$w.Addr}}
    port: {{$w.Port}}
    roles: [worker]
    via: primary-bastion
    service_address: {{$w.Addr}}
{{end}}roles:
  all: [{{join .Roles.all}}]
  bastion: [{{join .Roles.bastion}}]
  worker: [{{join .Roles.worker}}]
services:
  network-agent:
    critical: true
{{svc "network-agent" ""}}
  api-gateway:
    requires: [network-agent]
{{svc "api-gateway" ""}}
  container-runtime:
    critical: true
    impact: This will affect all running containers on this host.
    requires: [network-agent]
{{svc "container-runtime" ""}}
{{range .Extra}}  {{.Name}}:
{{if .Keys}}    {{.Keys}}
{{end}}{{if .Raw}}{{.Raw}}{{else}}{{svc .Name .Flags}}{{end}}
{{end}}`

// ServiceYAML returns the manager and health keys of a demo service
// listening on its fleet port, indented for the services: mapping. flags
// are extra omni-demo-svc flags (e.g. "--unhealthy"); SetFlags adds flags
// for one host only.
func (f *Fleet) ServiceYAML(name, flags string) string {
	files := filepath.Join(f.RunDir, `"$OMNI_HOST.$OMNI_SERVICE"`)
	port := f.Ports[name]
	start := fmt.Sprintf(`setsid nohup %s --name "$OMNI_SERVICE" --listen "$OMNI_ADDRESS:%d" --pidfile %s.pid --log %s.log --ready-after 200ms --stop-delay 100ms %s $(cat %s.flags 2>/dev/null) >/dev/null 2>&1 </dev/null &`,
		f.Demo, port, files, files, flags, files)
	logs := fmt.Sprintf(`if [ "$OMNI_FOLLOW" = 1 ]; then exec tail -n "$OMNI_LINES" -f %s.log; else tail -n "$OMNI_LINES" %s.log; fi`, files, files)
	return fmt.Sprintf(`    commands:
      start: '%s'
      status: 'cat %s.pid'
      logs: '%s'
    health:
      process: true
      port: %d
      http: {port: %d, path: /healthz, expect: 200}
      timeout: 1s
      retries: 20
      interval: 100ms`, yamlQuote(start), files, yamlQuote(logs), port, port)
}

func yamlQuote(s string) string { return strings.ReplaceAll(s, "'", "''") }

func (f *Fleet) writeInventory(opts Options) {
	roles := map[string][]string{}
	for _, s := range baseServices {
		roles[s.role] = append(roles[s.role], s.name)
	}
	for _, extra := range opts.Extra {
		roles[extra.Role] = append(roles[extra.Role], extra.Name)
	}
	tmpl := template.Must(template.New("inv").Funcs(template.FuncMap{
		"join": func(s []string) string { return strings.Join(s, ", ") },
		"svc":  f.ServiceYAML,
		"add":  func(a, b int) int { return a + b },
	}).Parse(inventoryTemplate))
	var b strings.Builder
	err := tmpl.Execute(&b, map[string]any{
		"User": f.Bastion.User, "Key": f.Bastion.IdentityFile, "KnownHosts": f.KnownHosts, "Dir": f.Dir,
		"Bastion": f.Bastion, "Worker": f.Worker, "Workers": f.Workers, "Roles": roles, "Extra": opts.Extra,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(f.Inventory, []byte(b.String()), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// Variant writes DIR/name, the fleet's inventory with the first old
// replaced by new, and returns its path. old must be in the inventory.
func (f *Fleet) Variant(name, old, new string) string {
	b, err := os.ReadFile(f.Inventory)
	if err != nil {
		f.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		f.t.Fatalf("testfleet: %q is not in the inventory", old)
	}
	path := filepath.Join(f.Dir, name)
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return path
}

// SetService rewrites the inventory: the service name, the last in it,
// gets body (its keys, indented 4 spaces) in place of its own.
func (f *Fleet) SetService(name, body string) {
	b, err := os.ReadFile(f.Inventory)
	if err != nil {
		f.t.Fatal(err)
	}
	inv := string(b)
	i := strings.Index(inv, "  "+name+":\n")
	if i < 0 {
		f.t.Fatalf("testfleet: no %s in the inventory:\n%s", name, inv)
	}
	if err := os.WriteFile(f.Inventory, []byte(inv[:i]+"  "+name+":\n"+body), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// SetFlags gives host's service extra omni-demo-svc flags from its next
// start on ("" removes them): one unhealthy host in a fleet.
func (f *Fleet) SetFlags(host, service, flags string) {
	path := filepath.Join(f.RunDir, host+"."+service+".flags")
	if flags == "" {
		os.Remove(path)
		return
	}
	if err := os.WriteFile(path, []byte(flags+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// PID returns the PID of host's service from its pidfile, 0 when there is none.
func (f *Fleet) PID(host, service string) int {
	b, err := os.ReadFile(filepath.Join(f.RunDir, host+"."+service+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Alive reports whether pid is a live (not zombie) process.
func Alive(pid int) bool { return proctest.Alive(pid) }

// Listening reports whether something accepts connections on addr:port.
func Listening(addr string, port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// killServices stops every service process the fleet started, by PID:
// those of the pidfiles, and any whose command line names the fleet's run
// directory (one may not have written its pidfile yet).
func (f *Fleet) killServices() {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && strings.Contains(string(b), f.RunDir+"/") {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	pids, _ := filepath.Glob(filepath.Join(f.RunDir, "*.pid"))
	for _, p := range pids {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// freePort finds a port free on every given address.
func freePort(t testing.TB, addrs ...string) int {
	for i := 0; i < 50; i++ {
		ln, err := net.Listen("tcp", addrs[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		ok := true
		for _, a := range addrs[1:] {
			l2, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			l2.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatal("testfleet: no free port")
	return 0
}
