package inventory

import "time"

// Inventory is a loaded, validated inventory. Slices keep declaration order.
type Inventory struct {
	// Path is the file the inventory was loaded from; relative paths in it
	// (known_hosts, identity files, registry) are resolved against its directory.
	Path     string
	Version  int
	Defaults Defaults
	Registry RegistryConfig
	Hosts    []*Host
	Roles    []*Role
	Services []*Service

	hosts    map[string]*Host
	roles    map[string]*Role
	services map[string]*Service
	explicit map[string]Explicit // by host name; filled by Load and Parse
	// explicitDefaults: what the defaults section states; filled by Load and Parse
	explicitDefaults *Explicit
}

// Defaults apply to every host and service that does not say otherwise.
type Defaults struct {
	User           string        // default "root"? no: current user name when empty
	Port           int           // default 22
	IdentityFile   string        // absolute after loading ("~" expanded, relative to the inventory dir)
	KnownHosts     string        // absolute after loading; default ~/.ssh/known_hosts
	SSHConfig      string        // OpenSSH client config: absolute path, "none", or "" (the user's ~/.ssh/config)
	Sudo           bool          // run manager commands with `sudo -n`
	Manager        string        // "systemd" (default) or "command"
	ConnectTimeout time.Duration // default 10s
	StopGrace      time.Duration // default 30s: SIGTERM → SIGKILL
	StartTimeout   time.Duration // default 60s
	// CommandTimeout bounds each remote command with no bound of its own:
	// a status, logs without --follow, the check and record steps. Default 30s.
	CommandTimeout time.Duration
	// ServerAliveInterval and ServerAliveCountMax are the keepalives of
	// every connection, as OpenSSH's keys of the same names: one every
	// interval (0: none), the connection declared lost after count max
	// unanswered. Defaults 10s and 3.
	ServerAliveInterval time.Duration
	ServerAliveCountMax int
	// ControlPersist, when positive, keeps each host's SSH connection open
	// in a background process for this long after its last use, for the
	// next runs (docs/ssh-config.md, "Persistent connections"). Default 0:
	// off, every run connects afresh and leaves nothing behind.
	ControlPersist time.Duration
}

// RegistryConfig says where the service registry lives.
type RegistryConfig struct {
	Path string      // embedded store: absolute after loading; empty means the default state directory
	Etcd *EtcdConfig // etcd, for teams running omni from several machines; nil: the embedded store
}

// EtcdConfig is the registry on an etcd cluster.
type EtcdConfig struct {
	Endpoints []string
	Prefix    string // key prefix, default /omni; "/" is the root of the keyspace; slashes collapsed, no trailing one
	Line      int    // of the registry.etcd key, for messages
}

// Host is one machine of the fleet.
type Host struct {
	Name           string
	Address        string
	Port           int // effective (defaults applied)
	User           string
	IdentityFile   string // absolute, may be empty
	Roles          []string
	Via            string // name of a bastion host, or ""
	Sudo           bool   // effective
	ServiceAddress string // address the host's services listen on, from the host's own view; default 127.0.0.1
	// ServerAliveInterval (0: no keepalives) and ServerAliveCountMax are
	// the host's keepalives: its own keys, else the defaults'.
	ServerAliveInterval time.Duration
	ServerAliveCountMax int
	// Config: the host's overrides of its services' configuration, by
	// service name (config.go); nil when none.
	Config map[string]*ConfigOverride
	Line   int // line of the host's key in the file
}

// Role groups services; role "all" applies to every host.
type Role struct {
	Name     string
	Services []string
	Line     int
}

// Service says how one service is driven and checked.
type Service struct {
	Name         string
	Enabled      bool   // default true; a disabled service is not run by any host
	Manager      string // "systemd" or "command" (effective)
	Unit         string // systemd unit; default NAME.service
	Commands     Commands
	Critical     bool
	Impact       string // shown before a stop
	Requires     []string
	Health       Health
	StopGrace    time.Duration // effective
	StartTimeout time.Duration // effective
	Sudo         bool          // effective: service value, else defaults
	Drain        *Drain        // taken out of its load balancer around a stop; nil: not
	Hooks        Hooks         // pre_stop, post_stop, pre_start, post_start (hooks.go)
	Config       ServiceConfig // env, env_file, dropin, files (config.go)
	Line         int

	requirements []Requirement // Requires, resolved by Load
}

// Commands are the shell snippets of the `command` manager. They run on the
// host under `sh -c` with OMNI_HOST, OMNI_SERVICE, OMNI_ADDRESS exported.
type Commands struct {
	Start  string // launches the service and returns
	Stop   string // optional; default: SIGTERM to the PID printed by Status
	Status string // exit 0 when running; first word of stdout: main PID
	Logs   string // prints the logs; OMNI_LINES and OMNI_FOLLOW exported
}

// Health lists the checks run after start and restart.
type Health struct {
	Process     bool
	Port        int
	HTTP        *HTTPCheck
	Timeout     time.Duration // per attempt, default 2s
	Retries     int           // attempts after the first, default 10
	Interval    time.Duration // between attempts, default 500ms
	StartPeriod time.Duration // grace before the first attempt, default 0
}

// HTTPCheck is a GET sent through the SSH connection.
type HTTPCheck struct {
	Port   int
	Path   string // default "/"
	Expect int    // expected status, default 200
}
