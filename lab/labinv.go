package lab

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/inventory"
)

// This file turns a source inventory into the lab's: the same fleet, with
// lab addresses, keys and known_hosts, and every service a real local
// process driven by the `command` manager.

// labHost is one host of the lab fleet.
type labHost struct {
	Name  string
	Roles []string
	Via   string
}

// WorkerRole is the role of the hosts --hosts adds.
const WorkerRole = "worker"

var workerName = regexp.MustCompile(`^worker([0-9]+)$`)

// planHosts returns the hosts of src, then, when n is more than their
// number, extra hosts named worker<k> (k continuing after the highest
// workerK of src) with role worker, behind the bastion src's workers use.
// n == 0 means src's hosts only.
func planHosts(src *inventory.Inventory, n int) ([]labHost, error) {
	hosts := make([]labHost, 0, max(n, len(src.Hosts)))
	taken := map[string]bool{}
	next := 1
	for _, h := range src.Hosts {
		hosts = append(hosts, labHost{Name: h.Name, Roles: slices.Clone(h.Roles), Via: h.Via})
		taken[h.Name] = true
		if m := workerName.FindStringSubmatch(h.Name); m != nil {
			if k, err := strconv.Atoi(m[1]); err == nil && k >= next {
				next = k + 1
			}
		}
	}
	if n == 0 || n == len(hosts) {
		return hosts, nil
	}
	if n < len(hosts) {
		return nil, &UsageError{fmt.Sprintf("--hosts %d is fewer than the %d hosts of %s: the lab has at least the inventory's hosts", n, len(hosts), src.Path)}
	}
	if n > MaxHosts {
		return nil, &UsageError{fmt.Sprintf("--hosts %d is more than the lab can address (%d)", n, MaxHosts)}
	}
	if _, ok := src.Role(WorkerRole); !ok {
		return nil, &UsageError{fmt.Sprintf("--hosts %d: %s has no role %q to give the extra hosts", n, src.Path, WorkerRole)}
	}
	via := ""
	for _, h := range src.HostsWithRole(WorkerRole) {
		via = h.Via
		break
	}
	for len(hosts) < n {
		name := "worker" + strconv.Itoa(next)
		next++
		if taken[name] {
			continue
		}
		taken[name] = true
		hosts = append(hosts, labHost{Name: name, Roles: []string{WorkerRole}, Via: via})
	}
	return hosts, nil
}

// healthPort returns the port a service's health checks use (the HTTP
// check's, else the port check's), its HTTP path and expected status; port
// 0 when it has no port to check.
func healthPort(s *inventory.Service) (port int, path string, status int) {
	if s.Health.HTTP != nil {
		return s.Health.HTTP.Port, s.Health.HTTP.Path, s.Health.HTTP.Expect
	}
	return s.Health.Port, "/healthz", http.StatusOK
}

// invParams are the lab-specific values of the lab inventory.
type invParams struct {
	Dir          string
	Omni         string // the omni binary the services run
	User         string
	Hosts        []labHost
	Endpoints    map[string]Endpoint // by host name
	ServicePorts map[string]int      // by service name
	From         string
}

// Service timings of the lab: like a real service, it takes a moment to
// start and to stop.
const (
	serviceReadyAfter = "1s"
	serviceStopDelay  = "500ms"
)

// startCommand is the lab's start command of a service listening on port.
func startCommand(p invParams, port int, healthPath string, healthStatus int) string {
	var b strings.Builder
	b.WriteString("setsid nohup " + shell.Quote(p.Omni) + ` lab service --name "$OMNI_SERVICE"`)
	b.WriteString(` --listen "$OMNI_ADDRESS:` + strconv.Itoa(port) + `" --health-path ` + quoteArg(healthPath))
	if healthStatus != http.StatusOK {
		b.WriteString(" --health-status " + strconv.Itoa(healthStatus))
	}
	b.WriteString(" --pidfile " + serviceFile(p.Dir, runDir, "pid"))
	b.WriteString(" --log " + serviceFile(p.Dir, logsDir, "log"))
	b.WriteString(" --ready-after " + serviceReadyAfter + " --stop-delay " + serviceStopDelay)
	b.WriteString(" >/dev/null 2>&1 </dev/null &")
	return b.String()
}

// serviceFile is the shell word of DIR/sub/HOST.SERVICE.ext, the host and
// service coming from the environment of the command manager's scripts.
func serviceFile(dir, sub, ext string) string {
	return shell.Quote(filepath.Join(dir, sub)+"/") + `"$OMNI_HOST.$OMNI_SERVICE".` + ext
}

func statusCommand(dir string) string {
	return "cat " + serviceFile(dir, runDir, "pid") + " 2>/dev/null"
}

// logsCommand shows the last $OMNI_LINES lines (0: all), following them
// when $OMNI_FOLLOW is 1.
func logsCommand(dir string) string {
	log := serviceFile(dir, logsDir, "log")
	return `n=$OMNI_LINES; [ "$n" -gt 0 ] 2>/dev/null || n=+1; ` +
		`if [ "$OMNI_FOLLOW" = 1 ]; then exec tail -n "$n" -f ` + log + `; else exec tail -n "$n" ` + log + `; fi`
}

// YAML shapes of the lab inventory, in the order the keys are written.
type (
	yamlInventory struct {
		Version  int          `yaml:"version"`
		Defaults yamlDefaults `yaml:"defaults"`
		Registry yamlRegistry `yaml:"registry"`
		Hosts    orderedMap   `yaml:"hosts"`
		Roles    orderedMap   `yaml:"roles"`
		Services orderedMap   `yaml:"services"`
	}
	yamlDefaults struct {
		User           string `yaml:"user"`
		IdentityFile   string `yaml:"identity_file"`
		KnownHosts     string `yaml:"known_hosts"`
		SSHConfig      string `yaml:"ssh_config"`
		Sudo           bool   `yaml:"sudo"`
		Manager        string `yaml:"manager"`
		ConnectTimeout string `yaml:"connect_timeout"`
		StopGrace      string `yaml:"stop_grace"`
		StartTimeout   string `yaml:"start_timeout"`
	}
	yamlRegistry struct {
		Path string `yaml:"path"`
	}
	yamlHost struct {
		Address        string   `yaml:"address"`
		Port           int      `yaml:"port"`
		Roles          []string `yaml:"roles,flow"`
		Via            string   `yaml:"via,omitempty"`
		ServiceAddress string   `yaml:"service_address"`
	}
	yamlService struct {
		Enabled      *bool            `yaml:"enabled,omitempty"`
		Critical     bool             `yaml:"critical,omitempty"`
		Impact       string           `yaml:"impact,omitempty"`
		Requires     []string         `yaml:"requires,flow,omitempty"`
		StopGrace    string           `yaml:"stop_grace,omitempty"`
		StartTimeout string           `yaml:"start_timeout,omitempty"`
		Commands     yamlCommands     `yaml:"commands"`
		Health       *yamlHealth      `yaml:"health,omitempty"`
		yamlHooks    `yaml:",inline"` // labhooks.go
	}
	yamlCommands struct {
		Start  string `yaml:"start"`
		Status string `yaml:"status"`
		Logs   string `yaml:"logs"`
	}
	yamlHealth struct {
		Process     bool      `yaml:"process,omitempty"`
		Port        int       `yaml:"port,omitempty"`
		HTTP        *yamlHTTP `yaml:"http,omitempty,flow"`
		Timeout     string    `yaml:"timeout"`
		Retries     int       `yaml:"retries"`
		Interval    string    `yaml:"interval"`
		StartPeriod string    `yaml:"start_period,omitempty"`
	}
	yamlHTTP struct {
		Port   int    `yaml:"port"`
		Path   string `yaml:"path"`
		Expect int    `yaml:"expect"`
	}
)

// orderedMap is a YAML mapping that keeps its keys in order; flow writes
// each value on one line.
type orderedMap struct {
	keys   []string
	values []any
	flow   bool
}

func (m *orderedMap) add(key string, value any) {
	m.keys = append(m.keys, key)
	m.values = append(m.values, value)
}

func (m orderedMap) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i, key := range m.keys {
		var k, v yaml.Node
		if err := k.Encode(key); err != nil {
			return nil, err
		}
		if err := v.Encode(m.values[i]); err != nil {
			return nil, err
		}
		if m.flow {
			v.Style = yaml.FlowStyle
		}
		n.Content = append(n.Content, &k, &v)
	}
	return n, nil
}

// duration writes d the way people do: "1m", not "1m0s".
func duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// labInventory returns the lab inventory of src as YAML.
func labInventory(src *inventory.Inventory, p invParams) ([]byte, error) {
	d := src.Defaults
	inv := yamlInventory{
		Version: 1,
		Defaults: yamlDefaults{
			User:           p.User,
			IdentityFile:   filepath.Join(p.Dir, clientKeyFile),
			KnownHosts:     filepath.Join(p.Dir, knownHostsFile),
			SSHConfig:      "none", // the lab is self-contained: the user's ~/.ssh/config must not reroute it
			Sudo:           false,
			Manager:        "command",
			ConnectTimeout: duration(d.ConnectTimeout),
			StopGrace:      duration(d.StopGrace),
			StartTimeout:   duration(d.StartTimeout),
		},
		Registry: yamlRegistry{Path: filepath.Join(p.Dir, registryFile)},
		Hosts:    orderedMap{flow: true},
	}
	for _, h := range p.Hosts {
		ep := p.Endpoints[h.Name]
		inv.Hosts.add(h.Name, yamlHost{
			Address: ep.Address, Port: ep.Port, Roles: h.Roles, Via: h.Via, ServiceAddress: ep.Address,
		})
	}
	for _, r := range src.Roles {
		inv.Roles.add(r.Name, flowList(r.Services))
	}
	for _, s := range src.Services {
		ys := yamlService{
			Critical: s.Critical,
			Impact:   s.Impact,
			Requires: s.Requires,
		}
		ys.yamlHooks = labHooks(s.Hooks)
		if !s.Enabled {
			ys.Enabled = new(bool)
		}
		if s.StopGrace != d.StopGrace {
			ys.StopGrace = duration(s.StopGrace)
		}
		if s.StartTimeout != d.StartTimeout {
			ys.StartTimeout = duration(s.StartTimeout)
		}
		port, path, status := healthPort(s)
		if port == 0 {
			port = p.ServicePorts[s.Name]
		}
		if port == 0 {
			return nil, fmt.Errorf("lab: no port for service %s", s.Name)
		}
		if labDrained[s.Name] {
			ys.yamlHooks = withLabDrain(ys.yamlHooks, p.Omni, port)
		}
		ys.Commands = yamlCommands{
			Start:  startCommand(p, port, path, status),
			Status: statusCommand(p.Dir),
			Logs:   logsCommand(p.Dir),
		}
		h := s.Health
		if h.Process || h.Port > 0 || h.HTTP != nil {
			ys.Health = &yamlHealth{
				Process:  h.Process,
				Port:     h.Port,
				Timeout:  duration(h.Timeout),
				Retries:  h.Retries,
				Interval: duration(h.Interval),
			}
			if h.StartPeriod > 0 {
				ys.Health.StartPeriod = duration(h.StartPeriod)
			}
			if h.HTTP != nil {
				ys.Health.HTTP = &yamlHTTP{Port: h.HTTP.Port, Path: h.HTTP.Path, Expect: h.HTTP.Expect}
			}
		}
		inv.Services.add(s.Name, ys)
	}
	var body bytes.Buffer
	enc := yaml.NewEncoder(&body)
	enc.SetIndent(2)
	if err := enc.Encode(inv); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	header := fmt.Sprintf(`# The lab inventory, written by "omni lab up" from %s.
# Its hosts are SSH servers on this machine's loopback, run by "omni lab serve"
# (pid in lab.json); its services are real "omni lab service" processes.
# "omni lab up" writes it anew and "omni lab down" removes it: do not edit it.
`, strings.ReplaceAll(p.From, "\n", " "))
	return append([]byte(header), body.Bytes()...), nil
}

// flowList is a list of names written on one line: [a, b].
type flowList []string

func (l flowList) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range l {
		var v yaml.Node
		if err := v.Encode(s); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, &v)
	}
	return n, nil
}
