package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/engine/sshconfig"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
)

// SSHConnector reaches hosts over SSH through a transport.Pool: one
// connection per host, bastions shared.
type SSHConnector struct {
	Pool      *transport.Pool
	Inventory *inventory.Inventory
	// SSHConfig is the OpenSSH client configuration (~/.ssh/config) that
	// Endpoint consults for every host; nil means none.
	SSHConfig *sshconfig.Config
}

// Connect implements Connector.
func (c *SSHConnector) Connect(ctx context.Context, h *inventory.Host) (Conn, error) {
	ep, err := Endpoint(c.Inventory, h, c.SSHConfig)
	if err != nil {
		return nil, err
	}
	client, err := c.Pool.Client(ctx, ep)
	if err != nil {
		return nil, err
	}
	return sshConn{client: client}, nil
}

// Endpoint describes how to reach host h, bastions included, from the
// inventory and the OpenSSH client configuration cfg (nil for none).
//
// The host's address is the name looked up in cfg, as with `ssh ADDRESS`;
// its HostName, when set, is the address connected to and the one host
// keys are checked for. Each setting comes from, first found:
//
//   - the inventory, when it states the setting explicitly (on the host or
//     in its defaults section; see inventory.Explicit);
//   - for a ProxyJump hop, the user or port written in the hop;
//   - cfg: Port, User, IdentityFile, UserKnownHostsFile;
//   - omni's built-in defaults: port 22, the current user, ssh-agent and
//     ~/.ssh/id_*, ~/.ssh/known_hosts.
//
// The bastion is the host's `via` when it has one, else cfg's ProxyJump.
// A ProxyJump hop naming an inventory host (by name or address) is that
// host, with its own settings; another hop is built from cfg alone. A
// ProxyCommand in effect is an error: omni does not run proxy commands.
//
// Errors name h and, when cfg is at fault, are *sshconfig.Error with the
// file and line.
func Endpoint(inv *inventory.Inventory, h *inventory.Host, cfg *sshconfig.Config) (transport.Endpoint, error) {
	r := &resolver{inv: inv, cfg: cfg}
	ep, err := r.host(h, sshconfig.Jump{}, false, 0)
	if err != nil {
		return transport.Endpoint{}, fmt.Errorf("%s: %w", h.Name, err)
	}
	return ep, nil
}

// resolver builds the endpoint of one host and of the hosts in front of it.
type resolver struct {
	inv *inventory.Inventory
	cfg *sshconfig.Config

	// The hosts whose bastions are being resolved, outermost first, to
	// report loops: "host NAME" or "alias NAME" each.
	keys  []string
	names []string

	local *sshconfig.Tokens // LocalUser and Home, found on first use
}

// enter records that the bastions of the host named key are being resolved,
// reached through the directive at line; it fails when that makes a loop.
func (r *resolver) enter(key, name string, line int) error {
	for _, k := range r.keys {
		if k != key {
			continue
		}
		chain := strings.Join(append(append([]string{}, r.names...), name), " -> ")
		if r.cfg == nil {
			return fmt.Errorf("via loop: %s", chain)
		}
		return &sshconfig.Error{File: r.cfg.Path, Line: line, Msg: "ProxyJump loop: " + chain}
	}
	r.keys = append(r.keys, key)
	r.names = append(r.names, name)
	return nil
}

func (r *resolver) leave() {
	r.keys = r.keys[:len(r.keys)-1]
	r.names = r.names[:len(r.names)-1]
}

// host builds the endpoint of inventory host h. hop holds the user and port
// written in a ProxyJump hop that names h (zero otherwise); noVia leaves
// the bastion out, for a hop whose bastion is the previous hop of its list.
// line is the line of that ProxyJump, for errors.
func (r *resolver) host(h *inventory.Host, hop sshconfig.Jump, noVia bool, line int) (transport.Endpoint, error) {
	if !noVia {
		if err := r.enter("host "+h.Name, h.Name, line); err != nil {
			return transport.Endpoint{}, err
		}
		defer r.leave()
	}
	sc, err := r.cfg.Lookup(h.Address)
	if err != nil {
		return transport.Endpoint{}, err
	}
	explicit := r.inv.Explicit(h)
	ep := transport.Endpoint{
		Name:           h.Name,
		Address:        h.Address,
		ConnectTimeout: r.inv.Defaults.ConnectTimeout,
		KnownHosts:     r.inv.Defaults.KnownHosts,
	}
	if sc.HostName != "" {
		ep.Address = sc.HostName
	}

	// Without the hop's user and port first, to tell whether they change
	// anything: the pool knows connections by name.
	port := pick(explicit.Port, h.Port, sc.Port, h.Port)
	ep.Port = pick(explicit.Port, h.Port, hop.Port, port)
	user := pick(explicit.User, h.User, sc.User, h.User)
	ep.User = pick(explicit.User, h.User, hop.User, user)
	if ep.Port != port || ep.User != user {
		ep.Name = hop.String()
	}

	ep.IdentitiesOnly = sc.IdentitiesOnly
	if explicit.IdentityFile && h.IdentityFile != "" {
		ep.IdentityFiles = []string{h.IdentityFile}
	} else if len(sc.IdentityFiles) > 0 {
		if ep.IdentityFiles, err = r.identityFiles(sc, ep); err != nil {
			return transport.Endpoint{}, err
		}
	} else if h.IdentityFile != "" {
		ep.IdentityFiles = []string{h.IdentityFile}
	} // else the transport offers ssh-agent and ~/.ssh/id_* like OpenSSH
	if !explicit.KnownHosts && sc.KnownHostsFile != "" {
		if ep.KnownHosts, ep.MoreKnownHosts, err = r.knownHostsFiles(sc, ep); err != nil {
			return transport.Endpoint{}, err
		}
	}
	ep.ServerAliveInterval, ep.ServerAliveCountMax = keepalive(explicit, h.ServerAliveInterval, h.ServerAliveCountMax, sc)

	switch {
	case noVia:
	case h.Via != "":
		via, err := r.inv.Host(h.Via)
		if err != nil {
			return transport.Endpoint{}, fmt.Errorf("via: %w", err)
		}
		bastion, err := r.host(via, sshconfig.Jump{}, false, 0)
		if err != nil {
			return transport.Endpoint{}, err
		}
		ep.Via = &bastion
	default:
		if ep.Via, err = r.proxy(sc); err != nil {
			return transport.Endpoint{}, err
		}
	}
	return ep, nil
}

// alias builds the endpoint of a ProxyJump hop that is not an inventory
// host, from the configuration alone.
func (r *resolver) alias(hop sshconfig.Jump, noVia bool, line int) (transport.Endpoint, error) {
	name := hop.String()
	if !noVia {
		if err := r.enter("alias "+hop.Host, name, line); err != nil {
			return transport.Endpoint{}, err
		}
		defer r.leave()
	}
	sc, err := r.cfg.Lookup(hop.Host)
	if err != nil {
		return transport.Endpoint{}, err
	}
	ep := transport.Endpoint{
		Name:           name,
		Address:        hop.Host,
		Port:           pick(hop.Port != 0, hop.Port, sc.Port, 0),
		User:           pick(hop.User != "", hop.User, sc.User, ""),
		ConnectTimeout: r.inv.Defaults.ConnectTimeout,
	}
	ep.ServerAliveInterval, ep.ServerAliveCountMax = keepalive(r.inv.ExplicitDefaults(),
		r.inv.Defaults.ServerAliveInterval, r.inv.Defaults.ServerAliveCountMax, sc)
	if sc.HostName != "" {
		ep.Address = sc.HostName
	}
	ep.IdentitiesOnly = sc.IdentitiesOnly
	if ep.IdentityFiles, err = r.identityFiles(sc, ep); err != nil {
		return transport.Endpoint{}, err
	}
	if sc.KnownHostsFile != "" {
		if ep.KnownHosts, ep.MoreKnownHosts, err = r.knownHostsFiles(sc, ep); err != nil {
			return transport.Endpoint{}, err
		}
	} // else the transport's default, ~/.ssh/known_hosts
	if !noVia {
		if ep.Via, err = r.proxy(sc); err != nil {
			return transport.Endpoint{}, err
		}
	}
	return ep, nil
}

// proxy returns the bastion the configuration puts in front of sc's host.
func (r *resolver) proxy(sc sshconfig.Host) (*transport.Endpoint, error) {
	if sc.ProxyCommand != "" {
		return nil, &sshconfig.Error{File: r.cfg.Path, Line: sc.ProxyLine, Msg: fmt.Sprintf(
			"ProxyCommand applies to %s: omni does not run proxy commands; use ProxyJump, or via in the inventory", sc.Alias)}
	}
	// ProxyJump a,b,c: a is reached as configured, b through a, c through
	// b, and the host through c.
	var prev *transport.Endpoint
	for i, hop := range sc.ProxyJump {
		ep, err := r.hop(hop, i > 0, sc.ProxyLine)
		if err != nil {
			return nil, err
		}
		if prev != nil {
			ep.Via = prev
			// Not the hop's own connection, which may go elsewhere: a name
			// of its own for the pool, the list so far.
			ep.Name = prev.Name + "," + ep.Name
		}
		prev = &ep
	}
	return prev, nil
}

// hop resolves one ProxyJump hop: the inventory host it names, by name or
// else by address (preferring one on the hop's port), or an alias.
func (r *resolver) hop(hop sshconfig.Jump, noVia bool, line int) (transport.Endpoint, error) {
	if h, err := r.inv.Host(hop.Host); err == nil {
		return r.host(h, hop, noVia, line)
	}
	var found *inventory.Host
	for _, h := range r.inv.Hosts {
		if h.Address == hop.Host && (found == nil || (hop.Port != 0 && h.Port == hop.Port && found.Port != hop.Port)) {
			found = h
		}
	}
	if found != nil {
		return r.host(found, hop, noVia, line)
	}
	return r.alias(hop, noVia, line)
}

func (r *resolver) identityFiles(sc sshconfig.Host, ep transport.Endpoint) ([]string, error) {
	var files []string
	for _, f := range sc.IdentityFiles {
		path, err := r.expand(sc, ep, "IdentityFile", f)
		if err != nil {
			return nil, err
		}
		files = append(files, path)
	}
	return files, nil
}

// knownHostsFiles expands the UserKnownHostsFile files of sc: the first,
// which new keys are written to, and the others, read with it.
func (r *resolver) knownHostsFiles(sc sshconfig.Host, ep transport.Endpoint) (string, []string, error) {
	first, err := r.expand(sc, ep, "UserKnownHostsFile", sc.KnownHostsFile)
	if err != nil {
		return "", nil, err
	}
	var more []string
	for _, f := range sc.MoreKnownHostsFiles {
		path, err := r.expand(sc, ep, "UserKnownHostsFile", f)
		if err != nil {
			return "", nil, err
		}
		more = append(more, path)
	}
	return first, more, nil
}

// expand expands the tokens of a path from the configuration for the
// connection ep, whose zero user and port are the transport's defaults.
func (r *resolver) expand(sc sshconfig.Host, ep transport.Endpoint, key, path string) (string, error) {
	t := r.tokens()
	t.Alias, t.Host, t.Port, t.RemoteUser = sc.Alias, ep.Address, ep.Port, ep.User
	if t.Port == 0 {
		t.Port = inventory.DefaultPort
	}
	if t.RemoteUser == "" {
		t.RemoteUser = t.LocalUser
	}
	expanded, err := sshconfig.ExpandPath(path, t)
	if err != nil {
		return "", &sshconfig.Error{File: r.cfg.Path, Msg: fmt.Sprintf("%s %q for %s: %v", key, path, sc.Alias, err)}
	}
	return expanded, nil
}

func (r *resolver) tokens() sshconfig.Tokens {
	if r.local == nil {
		r.local = &sshconfig.Tokens{}
		r.local.Home, _ = os.UserHomeDir()
		if u, err := user.Current(); err == nil && u.Username != "" {
			r.local.LocalUser = u.Username
		} else {
			r.local.LocalUser = os.Getenv("USER")
		}
	}
	return *r.local
}

// keepalive returns the keepalive settings of a connection, as
// transport.Endpoint takes them: the inventory's when it states them
// (interval 0 there means none), else ssh_config's ServerAliveInterval and
// ServerAliveCountMax, else the inventory's built-in defaults (a zero is
// the transport's default).
func keepalive(explicit inventory.Explicit, interval time.Duration, countMax int, sc sshconfig.Host) (time.Duration, int) {
	if explicit.ServerAliveInterval && interval == 0 {
		interval = transport.KeepalivesOff // stated: no keepalives
	}
	return pick(explicit.ServerAliveInterval, interval, sc.ServerAliveInterval, interval),
		pick(explicit.ServerAliveCountMax, countMax, sc.ServerAliveCountMax, countMax)
}

// pick returns the inventory's value when it is explicit, else the first
// that is set of the configuration's and the fallback.
func pick[T comparable](explicit bool, inv, config, fallback T) T {
	var zero T
	switch {
	case explicit:
		return inv
	case config != zero:
		return config
	default:
		return fallback
	}
}

// sshConn is a host's connection as a Conn. once says that its caller
// runs a single command on it (see transport.Client.RunOnce).
type sshConn struct {
	client *transport.Client
	once   bool
}

// EndShellAhead implements shellEnder.
func (s sshConn) EndShellAhead() { s.client.EndShellAhead() }

func (s sshConn) Run(ctx context.Context, cmd string) (manager.Result, error) {
	run := s.client.Run
	if s.once {
		run = s.client.RunOnce
	}
	res, err := run(ctx, cmd)
	return manager.Result{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, err
}

// RunEnds implements manager.EndsRunner.
func (s sshConn) RunEnds(ctx context.Context, cmd string) (manager.Result, error) {
	run := s.client.RunEnds
	if s.once {
		run = s.client.RunOnceEnds
	}
	res, err := run(ctx, cmd)
	return manager.Result{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, err
}

// RunInput implements config.InputRunner: the command reads stdin on its
// standard input (configuration contents never go into a command line).
func (s sshConn) RunInput(ctx context.Context, cmd string, stdin []byte) (manager.Result, error) {
	res, err := s.client.RunInput(ctx, cmd, stdin)
	return manager.Result{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, err
}

// Once implements OneCommand.
func (s sshConn) Once() Conn {
	s.once = true
	return s
}

func (s sshConn) Stream(ctx context.Context, cmd string, stdout, stderr io.Writer) (int, error) {
	return s.client.Stream(ctx, cmd, stdout, stderr)
}

func (s sshConn) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return s.client.DialContext(ctx, network, addr)
}
