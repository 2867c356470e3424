package transport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultConnectTimeout bounds the TCP connect and, separately, the SSH
// handshake of an Endpoint whose ConnectTimeout is zero.
const DefaultConnectTimeout = 10 * time.Second

// Keepalive defaults, for an Endpoint whose ServerAliveInterval or
// ServerAliveCountMax is zero: a keepalive every 10 s, and the connection
// declared dead after 3 in a row go unanswered (30 s). OpenSSH sends none
// by default (ServerAliveInterval 0), which suits an interactive session
// that should survive a laptop's sleep; a run nobody watches must not wait
// for the kernel's TCP timeout (about 15 minutes) to notice a dead host.
const (
	DefaultServerAliveInterval = 10 * time.Second
	DefaultServerAliveCountMax = 3
)

// KeepalivesOff is the ServerAliveInterval of an Endpoint that sends no
// keepalives (any negative interval is taken so): what an interval of 0
// stated in the inventory or in ssh_config becomes. It is the one
// spelling of "off" between them (sshconfig.Host, engine's keepalive).
const KeepalivesOff time.Duration = -1

// Endpoint says how to reach one host.
type Endpoint struct {
	// Name is the inventory host name. It keys the Pool and appears in
	// every error about the host.
	Name string
	// Address is a host name or IP address. It is also the name looked up
	// in KnownHosts.
	Address string
	// Port defaults to 22.
	Port int
	// User defaults to the current user.
	User string
	// IdentityFiles are private keys to offer ("~/" is the home directory).
	// When empty, the usual ~/.ssh/id_ed25519, id_ecdsa and id_rsa are
	// offered if they exist.
	IdentityFiles []string
	// KnownHosts is the known_hosts file host keys are verified against,
	// ~/.ssh/known_hosts by default. MoreKnownHosts are further files read
	// with it (an ssh_config UserKnownHostsFile's second and later
	// files): a key listed in any of them is known, a key revoked in any
	// is refused. New keys are written to KnownHosts only.
	KnownHosts     string
	MoreKnownHosts []string
	// IdentitiesOnly offers only the keys of IdentityFiles (read from the
	// files, or ssh-agent's signer for the same key), not the agent's other
	// keys, as ssh_config's IdentitiesOnly yes.
	IdentitiesOnly bool
	// ConnectTimeout bounds the TCP connect and the SSH handshake, each;
	// DefaultConnectTimeout when zero.
	ConnectTimeout time.Duration
	// ServerAliveInterval is how often a keepalive (an SSH global request
	// "keepalive@openssh.com" that the server must answer) is sent, as
	// OpenSSH's ServerAliveInterval; DefaultServerAliveInterval when zero,
	// none when negative (KeepalivesOff).
	ServerAliveInterval time.Duration
	// ServerAliveCountMax is how many keepalives in a row may go
	// unanswered: the next tick declares the connection dead and closes it
	// (ServerAliveInterval × ServerAliveCountMax after the first unanswered
	// one), failing what runs on it with an *UnreachableError.
	// DefaultServerAliveCountMax when zero or negative.
	ServerAliveCountMax int
	// Via is the bastion this host is reached through, itself dialled
	// (and pooled) first. A bastion may have its own Via.
	Via *Endpoint
}

// Options are the pool-wide connection settings.
type Options struct {
	// UseAgent offers the keys of the ssh-agent at SSH_AUTH_SOCK, when set.
	UseAgent bool
	// AcceptNewHostKeys appends the key of a host absent from known_hosts
	// to that file instead of failing. A changed key still fails.
	AcceptNewHostKeys bool
	// OnNewHostKey, when set, is told of each key AcceptNewHostKeys added
	// to a known_hosts file, once per key written. It may be called from
	// several dials at once.
	OnNewHostKey func(NewHostKey)
	// ControlPersist, when positive, keeps each host's connection open
	// after the run, in a background process of its own (a master), for
	// this long without a client; the next runs use it instead of
	// connecting (persistent.go). Zero: every run connects afresh.
	ControlPersist time.Duration
	// ControlDir is the masters' directory, DefaultControlDir() when "".
	ControlDir string
	// OnControlWarning, when set, is told why a persistent connection was
	// not used or could not be started; the run then connects afresh.
	OnControlWarning func(host, msg string)
	// MasterCommand starts a master: the program and the arguments before
	// MasterArg; this very executable when nil.
	MasterCommand []string

	// master: the pool is a master's (master.go). Its connections open no
	// session with their login (see handshakeKeyed): a master forwards its
	// clients' channels and never takes that session, which would hold
	// one of the host's MaxSessions for as long as the master lives.
	master bool
}

// NewHostKey is a host key omni trusted on first use and recorded.
type NewHostKey struct {
	Host        string // the inventory's name of the host
	Address     string // host:port, as recorded in known_hosts
	KeyType     string // e.g. ssh-ed25519
	Fingerprint string // SHA256:...
	KnownHosts  string // the file the key was appended to
}

// hostPort is the address dialled and looked up in known_hosts.
func (ep Endpoint) hostPort() string {
	return net.JoinHostPort(ep.Address, strconv.Itoa(ep.Port))
}

// withDefaults fills in the zero fields of ep, and of its bastions.
func (ep Endpoint) withDefaults() (Endpoint, error) {
	if ep.Address == "" {
		return ep, fmt.Errorf("transport: endpoint %q has no address", ep.Name)
	}
	if ep.Port == 0 {
		ep.Port = 22
	}
	if ep.Name == "" {
		ep.Name = ep.hostPort()
	}
	if ep.ConnectTimeout <= 0 {
		ep.ConnectTimeout = DefaultConnectTimeout
	}
	if ep.ServerAliveInterval == 0 {
		ep.ServerAliveInterval = DefaultServerAliveInterval
	}
	if ep.ServerAliveCountMax <= 0 {
		ep.ServerAliveCountMax = DefaultServerAliveCountMax
	}
	if ep.User == "" {
		name, err := currentUser()
		if err != nil {
			return ep, err
		}
		ep.User = name
	}
	home, homeErr := os.UserHomeDir()
	inHome := func(path string) (string, error) {
		if path != "~" && !strings.HasPrefix(path, "~/") {
			return path, nil
		}
		if homeErr != nil {
			return "", fmt.Errorf("%s: cannot expand %s: %w", ep.Name, path, homeErr)
		}
		return filepath.Join(home, path[1:]), nil
	}
	if ep.KnownHosts == "" {
		ep.KnownHosts = "~/.ssh/known_hosts"
	}
	var err error
	if ep.KnownHosts, err = inHome(ep.KnownHosts); err != nil {
		return ep, err
	}
	var more []string
	for _, path := range ep.MoreKnownHosts {
		expanded, err := inHome(path)
		if err != nil {
			return ep, err
		}
		more = append(more, expanded)
	}
	ep.MoreKnownHosts = more
	if len(ep.IdentityFiles) == 0 && homeErr == nil {
		ep.IdentityFiles = defaultIdentityFiles(home)
	}
	files := make([]string, len(ep.IdentityFiles))
	for i, path := range ep.IdentityFiles {
		if files[i], err = inHome(path); err != nil {
			return ep, err
		}
	}
	ep.IdentityFiles = files
	if ep.Via != nil {
		via, err := ep.Via.withDefaults()
		if err != nil {
			return ep, err
		}
		ep.Via = &via
	}
	return ep, nil
}

// defaultIdentityFiles mirrors OpenSSH: the standard key files that exist.
func defaultIdentityFiles(home string) []string {
	var files []string
	for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		path := filepath.Join(home, ".ssh", name)
		if _, err := os.Stat(path); err == nil {
			files = append(files, path)
		}
	}
	return files
}

func currentUser() (string, error) {
	u, err := user.Current()
	if err == nil && u.Username != "" {
		return u.Username, nil
	}
	if name := os.Getenv("USER"); name != "" {
		return name, nil
	}
	return "", errors.New("transport: cannot tell the current user name; set the host's user")
}

// depth is the number of bastions in front of ep.
func (ep Endpoint) depth() int {
	n := 0
	for via := ep.Via; via != nil; via = via.Via {
		n++
	}
	return n
}
