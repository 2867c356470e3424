package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/omni-fleet/omni/internal/yamlbound"
	"gopkg.in/yaml.v3"
)

// Built-in defaults, used when the inventory does not say otherwise.
const (
	DefaultPort           = 22
	DefaultKnownHosts     = "~/.ssh/known_hosts"
	DefaultManager        = "systemd"
	DefaultConnectTimeout = 10 * time.Second
	DefaultStopGrace      = 30 * time.Second
	DefaultStartTimeout   = 60 * time.Second
	// DefaultCommandTimeout bounds each remote command that has no bound of
	// its own (status, logs without -f, the check and record steps).
	DefaultCommandTimeout = 30 * time.Second
	DefaultServiceAddress = "127.0.0.1"
	// Keepalives: one every 10 s, the connection declared lost after 3 go
	// unanswered (30 s). OpenSSH sends none by default; omni does, so that
	// a host whose link dies does not hold a run until the kernel's TCP
	// timeout. (The same values as transport's defaults.)
	DefaultServerAliveInterval = 10 * time.Second
	DefaultServerAliveCountMax = 3
	// MinServerAliveInterval is the shortest interval accepted, 0 aside.
	MinServerAliveInterval = time.Second
	// MaxServerAliveCountMax is the largest server_alive_count_max.
	MaxServerAliveCountMax = 100

	DefaultHealthTimeout  = 2 * time.Second
	DefaultHealthRetries  = 10
	DefaultHealthInterval = 500 * time.Millisecond
	DefaultHTTPPath       = "/"
	DefaultHTTPExpect     = 200
)

// Managers are the supported values of `manager`.
var Managers = []string{"systemd", "command"}

// Keys of each mapping, in documentation order.
var (
	topKeys      = []string{"version", "defaults", "registry", "hosts", "roles", "services"}
	defaultsKeys = []string{"user", "port", "identity_file", "known_hosts", "ssh_config", "sudo", "manager", "connect_timeout", "stop_grace", "start_timeout", "command_timeout", "server_alive_interval", "server_alive_count_max", "control_persist"}
	registryKeys = []string{"path", "etcd"}
	etcdKeys     = []string{"endpoints", "prefix"}
	hostKeys     = []string{"address", "port", "user", "identity_file", "roles", "via", "sudo", "service_address", "server_alive_interval", "server_alive_count_max", "config"}
	serviceKeys  = []string{"enabled", "manager", "unit", "commands", "critical", "impact", "requires", "health", "stop_grace", "start_timeout", "sudo", "drain",
		"pre_stop", "post_stop", "pre_start", "post_start", "env", "env_file", "dropin", "files"}
	commandKeys = []string{"start", "stop", "status", "logs"}
	healthKeys  = []string{"process", "port", "http", "timeout", "retries", "interval", "start_period"}
	httpKeys    = []string{"port", "path", "expect"}
)

// nameRE is the alphabet and the ends of a name; validName bounds its
// length. A counted repetition ({0,61}) in the expression would be
// compiled into 61 copies at every start of omni (a millisecond of CPU).
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`)

const nameRule = `names use lowercase letters a-z, digits 0-9, ".", "_" and "-", start and end with a letter or digit, and have at most 63 characters`

func validName(s string) bool { return len(s) <= maxNameLen && nameRE.MatchString(s) }

// Load reads, decodes and validates the inventory at path. On any problem it
// returns a nil inventory and an ErrorList holding every problem found, each
// as "PATH:LINE: message" with PATH as given. A file that cannot be read gives
// the os error, wrapped.
func Load(path string) (*Inventory, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse is Load for content already in memory; path names it in messages
// and anchors its relative paths. Content larger than MaxBytes is refused.
func Parse(path string, data []byte) (*Inventory, error) {
	if len(data) > MaxBytes {
		return nil, tooLarge(path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", path, err)
	}
	l := &loader{
		file:     path,
		dir:      filepath.Dir(abs),
		hostRefs: map[*Host]*hostRefs{},
		roleRefs: map[*Role][]item{},
		requires: map[*Service][]item{},
		explicit: map[*Host]Explicit{},
	}
	inv := l.load(data)
	if len(l.errs) > 0 {
		sort.SliceStable(l.errs, func(i, j int) bool { return l.errs[i].Line < l.errs[j].Line })
		if l.dropped > 0 {
			l.errs = append(l.errs, &Error{File: l.file, Msg: fmt.Sprintf("%d more problems not shown (omni shows the first %d it finds)", l.dropped, maxErrors)})
		}
		return nil, l.errs
	}
	return inv, nil
}

// nulBytes reports every key and value that holds a NUL byte (YAML's
// "\0" or "\x00"), and says whether there was one. No value of an
// inventory can hold one: a remote command with a NUL is refused by sshd,
// which drops the whole connection (every service of the host would then
// fail as unreachable), and no file name, unit or address holds one.
func (l *loader) nulBytes(n *yaml.Node) bool {
	found := false
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && strings.IndexByte(n.Value, 0) >= 0 {
			l.errorf(n.Line, "%s: a NUL byte (\\0) cannot be in an inventory: no remote command, path or name can hold one", quoteNUL(n.Value))
			found = true
		}
		if n.Kind != yaml.AliasNode {
			for _, c := range n.Content {
				walk(c)
			}
		}
	}
	walk(n)
	return found
}

// quoteNUL is s quoted for a message, cut short.
func quoteNUL(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strconv.Quote(s)
}

// syntaxError reports a yaml.v3 parse error as FILE:LINE: message.
func (l *loader) syntaxError(err error, data []byte) {
	line, msg := yamlbound.SyntaxError(data, err)
	l.errorf(line, "invalid YAML: %s", msg)
}

func (l *loader) load(data []byte) *Inventory {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.errorf(1, "inventory is empty")
		} else {
			l.syntaxError(err, data)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.errorf(extra.Line, "unexpected second YAML document: an inventory is one document")
		return nil
	} else if !errors.Is(err, io.EOF) {
		l.syntaxError(err, data)
		return nil
	}
	if line, msg := yamlbound.Check(&doc, MaxAliasNodes, "the inventory"); msg != "" {
		l.errorf(line, "%s", msg)
		return nil
	}
	if l.nulBytes(&doc) {
		return nil
	}
	root := resolve(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = resolve(root.Content[0])
	}
	if isImplicitNull(root) {
		// Only "---" (and comments): yaml.v3 puts the empty document's
		// null after the last line; the "---" is where it is.
		l.errorf(max(doc.Line, 1), "inventory is empty")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		l.errorf(max(root.Line, 1), "the inventory must be a mapping with keys %s; got %s", strings.Join(topKeys, ", "), describe(root))
		return nil
	}
	top, _ := l.fields(root, root.Line, "inventory", topKeys...)

	inv := &Inventory{Path: l.file}
	if e, ok := top["version"]; !ok {
		l.errorf(root.Line, `missing required key "version" in inventory (use "version: 1")`)
	} else if v, ok := l.integer(e, "in inventory"); ok {
		if v != 1 {
			l.errorf(e.line(), "unsupported version %d: this omni reads version 1", v)
		}
		inv.Version = v
	}
	inv.Defaults = l.defaults(top["defaults"])
	inv.Registry = l.registry(top["registry"])
	if e, ok := top["hosts"]; ok {
		inv.Hosts = l.hosts(e, &inv.Defaults)
	}
	if e, ok := top["roles"]; ok {
		inv.Roles = l.roles(e)
	}
	if e, ok := top["services"]; ok {
		inv.Services = l.services(e, &inv.Defaults)
	}
	inv.index()
	explicitDefaults := l.explicitDefaults
	inv.explicitDefaults = &explicitDefaults
	inv.explicit = make(map[string]Explicit, len(inv.Hosts))
	for _, h := range inv.Hosts {
		if _, ok := inv.explicit[h.Name]; !ok {
			inv.explicit[h.Name] = l.explicit[h]
		}
	}
	l.check(inv)
	return inv
}

// index builds the lookup maps; the first definition of a name wins.
func (inv *Inventory) index() {
	inv.hosts = make(map[string]*Host, len(inv.Hosts))
	for _, h := range inv.Hosts {
		if _, ok := inv.hosts[h.Name]; !ok {
			inv.hosts[h.Name] = h
		}
	}
	inv.roles = make(map[string]*Role, len(inv.Roles))
	for _, r := range inv.Roles {
		if _, ok := inv.roles[r.Name]; !ok {
			inv.roles[r.Name] = r
		}
	}
	inv.services = make(map[string]*Service, len(inv.Services))
	for _, s := range inv.Services {
		if _, ok := inv.services[s.Name]; !ok {
			inv.services[s.Name] = s
		}
	}
}

func (l *loader) defaults(e entry) Defaults {
	d := Defaults{
		User:                currentUser(),
		Port:                DefaultPort,
		Manager:             DefaultManager,
		ConnectTimeout:      DefaultConnectTimeout,
		StopGrace:           DefaultStopGrace,
		StartTimeout:        DefaultStartTimeout,
		ServerAliveInterval: DefaultServerAliveInterval,
		ServerAliveCountMax: DefaultServerAliveCountMax,
		CommandTimeout:      DefaultCommandTimeout,
	}
	var f map[string]entry
	if e.key != nil {
		f, _ = l.fields(e.val, e.line(), "defaults", defaultsKeys...)
	}
	const where = "in defaults"
	if x, ok := f["user"]; ok {
		l.explicitDefaults.User = true
		if v, ok := l.str(x, where); ok {
			d.User = v
		}
	}
	if x, ok := f["port"]; ok {
		l.explicitDefaults.Port = true
		if v, ok := l.port(x, where); ok {
			d.Port = v
		}
	}
	if x, ok := f["identity_file"]; ok {
		l.explicitDefaults.IdentityFile = true
		d.IdentityFile = l.path(x, where)
	}
	if x, ok := f["known_hosts"]; ok {
		l.explicitDefaults.KnownHosts = true
		d.KnownHosts = l.path(x, where)
	} else {
		home, err := os.UserHomeDir()
		if err != nil {
			l.errorf(0, "cannot find the default known_hosts %s: %v; set defaults.known_hosts", DefaultKnownHosts, err)
		} else {
			d.KnownHosts = filepath.Join(home, ".ssh", "known_hosts")
		}
	}
	if x, ok := f["ssh_config"]; ok {
		if v, ok := l.str(x, where); ok && v == "none" {
			d.SSHConfig = "none"
		} else if ok {
			d.SSHConfig = l.path(x, where)
		}
	}
	if x, ok := f["sudo"]; ok {
		d.Sudo, _ = l.boolean(x, where)
	}
	if x, ok := f["manager"]; ok {
		if v, ok := l.manager(x, where); ok {
			d.Manager = v
		}
	}
	if x, ok := f["connect_timeout"]; ok {
		if v, ok := l.duration(x, where, true); ok {
			d.ConnectTimeout = v
		}
	}
	if x, ok := f["stop_grace"]; ok {
		if v, ok := l.duration(x, where, false); ok {
			d.StopGrace = v
		}
	}
	if x, ok := f["start_timeout"]; ok {
		if v, ok := l.duration(x, where, true); ok {
			d.StartTimeout = v
		}
	}
	if x, ok := f["server_alive_interval"]; ok {
		l.explicitDefaults.ServerAliveInterval = true
		if v, ok := l.aliveInterval(x, where); ok {
			d.ServerAliveInterval = v
		}
	}
	if x, ok := f["server_alive_count_max"]; ok {
		l.explicitDefaults.ServerAliveCountMax = true
		if v, ok := l.intRange(x, where, 1, MaxServerAliveCountMax); ok {
			d.ServerAliveCountMax = v
		}
	}
	if x, ok := f["command_timeout"]; ok {
		if v, ok := l.duration(x, where, true); ok {
			d.CommandTimeout = v
		}
	}
	if x, ok := f["control_persist"]; ok {
		if v, ok := l.duration(x, where, false); ok {
			d.ControlPersist = v
		}
	}
	return d
}

// aliveInterval decodes server_alive_interval: 0 (no keepalives), or a
// duration of at least MinServerAliveInterval.
func (l *loader) aliveInterval(e entry, where string) (time.Duration, bool) {
	v, ok := l.duration(e, where, false)
	if ok && v > 0 && v < MinServerAliveInterval {
		l.invalid(e, where, "%s is too short: use 0 (no keepalives) or at least %s", v, MinServerAliveInterval)
		return 0, false
	}
	return v, ok
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

func (l *loader) manager(e entry, where string) (string, bool) {
	v, ok := l.str(e, where)
	if ok && !slices.Contains(Managers, v) {
		l.invalid(e, where, "%q is not a manager (use %q or %q)", v, Managers[0], Managers[1])
		return "", false
	}
	return v, ok
}

// path decodes a file path: "~/" is the home directory, a relative path is
// relative to the inventory's directory. The result is absolute.
func (l *loader) path(e entry, where string) string {
	p, ok := l.str(e, where)
	if !ok {
		return ""
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			l.invalid(e, where, "cannot expand %q: %v", p, err)
			return ""
		}
		return filepath.Join(home, p[1:])
	}
	if strings.HasPrefix(p, "~") {
		l.invalid(e, where, "%q: only \"~/\" (your home directory) is expanded", p)
		return ""
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(l.dir, p)
}

// etcdPrefix is registry.etcd.prefix as given, its repeated slashes
// collapsed and a trailing one removed: "/" (or "//") stays "/", the root
// of the keyspace, which is not the default /omni.
func etcdPrefix(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	if p != "/" {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

func (l *loader) registry(e entry) RegistryConfig {
	var r RegistryConfig
	if e.key == nil {
		return r
	}
	f, _ := l.fields(e.val, e.line(), "registry", registryKeys...)
	if x, ok := f["path"]; ok {
		r.Path = l.path(x, "in registry")
	}
	if x, ok := f["etcd"]; ok {
		ef, _ := l.fields(x.val, x.line(), "registry.etcd", etcdKeys...)
		etcd := &EtcdConfig{Prefix: "/omni", Line: x.line()}
		if y, ok := ef["endpoints"]; ok {
			items, _ := l.list(y.val, y.line(), "registry.etcd.endpoints")
			for _, it := range l.uniq(items, "registry.etcd.endpoints") {
				if why := etcdEndpointProblem(it.value); why != "" {
					l.errorf(it.line, "registry.etcd.endpoints: %q: %s", it.value, why)
				}
				etcd.Endpoints = append(etcd.Endpoints, it.value)
			}
		}
		if len(etcd.Endpoints) == 0 {
			l.errorf(x.line(), "registry.etcd needs endpoints, e.g. [\"https://10.20.0.5:2379\"]")
		}
		if y, ok := ef["prefix"]; ok {
			if v, ok := l.str(y, "in registry.etcd"); ok {
				if !strings.HasPrefix(v, "/") {
					l.errorf(y.line(), "registry.etcd.prefix %q must start with /", v)
				}
				etcd.Prefix = etcdPrefix(v)
			}
		}
		if r.Path != "" {
			l.errorf(x.line(), "registry: give path (embedded store) or etcd, not both")
		}
		r.Etcd = etcd
	}
	return r
}
