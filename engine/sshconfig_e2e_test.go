package engine

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/omni-fleet/omni/engine/sshconfig"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
	"github.com/omni-fleet/omni/inventory"
)

// The ssh config of the end-to-end test: every setting of the fleet-*
// hosts is in it, none in the inventory.
var e2eConfig = template.Must(template.New("config").Parse(`# written by TestSSHConfigEndToEnd
Host fleet-a
    HostName {{.A.Addr}}
    Port {{.A.Port}}
    User {{.User}}
    IdentityFile {{.Key}}
    UserKnownHostsFile {{.KnownHosts}}

Host fleet-a-keyed-by-alias
    HostName {{.A.Addr}}
    Port {{.A.Port}}
    UserKnownHostsFile {{.AliasKnownHosts}}

Host fleet-b
    HostName {{.Target.Addr}}
    Port {{.Target.Port}}
    ProxyJump jumpbox

Host fleet-c
    HostName {{.Target.Addr}}
    Port {{.Target.Port}}
    ProxyJump bastion

Host jumpbox
    HostName {{.Jump.Addr}}
    Port {{.Jump.Port}}

Host *
    User {{.User}}
    IdentityFile {{.Key}}
    UserKnownHostsFile {{.KnownHosts}}
`))

// TestSSHConfigEndToEnd connects to real sshd servers through an ssh config
// file: an inventory host whose address is an alias with HostName, Port,
// User and IdentityFile, and hosts behind a ProxyJump, to a config-only
// jump host and to an inventory host.
func TestSSHConfigEndToEnd(t *testing.T) {
	// Nothing from the tester's environment: no ~/.ssh, and a current user
	// name the servers do not let in, so that every working setting comes
	// from the config file.
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USER", "omni-nobody")
	t.Setenv("SSH_AUTH_SOCK", "")

	a := sshtest.Start(t, sshtest.Options{Addr: "127.0.3.1"})
	// The jump host logs its logins ("Accepted publickey for ..."), to
	// show that the connections to the target went through it.
	jump := sshtest.Start(t, sshtest.Options{Addr: "127.0.3.2", ExtraConfig: "LogLevel INFO"})
	target := sshtest.Start(t, sshtest.Options{Addr: "127.0.3.3"})
	dir := t.TempDir()
	knownHosts := filepath.Join(dir, "known_hosts")
	for _, s := range []*sshtest.Server{a, jump, target} {
		s.WriteKnownHosts(knownHosts)
	}
	// A known_hosts file with fleet-a's key under the alias, not under the
	// address connected to: OpenSSH (without HostKeyAlias) does not use it.
	aliasKnownHosts := filepath.Join(dir, "alias_known_hosts")
	line := strings.Replace(a.HostKeyLine(), "["+a.Addr+"]", "[fleet-a-keyed-by-alias]", 1)
	if err := os.WriteFile(aliasKnownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	configPath := filepath.Join(dir, "ssh_config")
	f, err := os.Create(configPath)
	if err != nil {
		t.Fatal(err)
	}
	err = e2eConfig.Execute(f, map[string]any{"A": a, "Jump": jump, "Target": target, "User": a.User,
		"Key": a.IdentityFile, "KnownHosts": knownHosts, "AliasKnownHosts": aliasKnownHosts})
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sshconfig.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}

	_, closedPort := closedPort(t, "127.0.3.1")
	invPath := filepath.Join(dir, "inventory.yaml")
	invText := `version: 1
defaults: {connect_timeout: 5s}
hosts:
  web-a: {address: fleet-a, roles: [all]}
  web-a-port: {address: fleet-a, port: ` + strconv.Itoa(closedPort) + `, roles: [all]}
  web-a-alias-keyed: {address: fleet-a-keyed-by-alias, roles: [all]}
  web-b: {address: fleet-b, roles: [all]}
  web-c: {address: fleet-c, roles: [all]}
  bastion: {address: ` + jump.Addr + `, port: ` + strconv.Itoa(jump.Port) + `, roles: [all]}
`
	if err := os.WriteFile(invPath, []byte(invText), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(invPath)
	if err != nil {
		t.Fatal(err)
	}
	host := func(name string) *inventory.Host {
		h, err := inv.Host(name)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	newConnector := func() (*SSHConnector, *transport.Pool) {
		pool := transport.NewPool(transport.Options{})
		t.Cleanup(func() { pool.Close() })
		return &SSHConnector{Pool: pool, Inventory: inv, SSHConfig: cfg}, pool
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// runAt connects to the host, runs a command through the transport and
	// checks the connection ended at server.
	runAt := func(t *testing.T, c *SSHConnector, name string, server *sshtest.Server) {
		t.Helper()
		conn, err := c.Connect(ctx, host(name))
		if err != nil {
			t.Fatalf("connect %s: %v", name, err)
		}
		res, err := conn.Run(ctx, `echo "$SSH_CONNECTION"; id -un`)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("run on %s: %v, %+v", name, err, res)
		}
		lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
		if len(lines) != 2 {
			t.Fatalf("%s: output %q", name, res.Stdout)
		}
		if fields := strings.Fields(lines[0]); len(fields) != 4 || fields[2] != server.Addr || fields[3] != strconv.Itoa(server.Port) {
			t.Errorf("%s: SSH_CONNECTION = %q, want the connection to end at %s", name, lines[0], server.HostPort())
		}
		if lines[1] != server.User {
			t.Errorf("%s: remote user %q, want %q (from the config)", name, lines[1], server.User)
		}
	}

	t.Run("alias with HostName, Port, User, IdentityFile", func(t *testing.T) {
		c, _ := newConnector()
		runAt(t, c, "web-a", a)
	})

	t.Run("the inventory's port wins", func(t *testing.T) {
		c, _ := newConnector()
		_, err := c.Connect(ctx, host("web-a-port"))
		want := "web-a-port (" + net.JoinHostPort(a.Addr, strconv.Itoa(closedPort)) + "): unreachable: connection refused"
		if err == nil || err.Error() != want {
			t.Errorf("connect: %v, want %s", err, want)
		}
	})

	t.Run("host keys are checked for HostName:Port, not the alias", func(t *testing.T) {
		c, _ := newConnector()
		_, err := c.Connect(ctx, host("web-a-alias-keyed"))
		var hostKey *transport.HostKeyError
		if !errors.As(err, &hostKey) || hostKey.Address != a.HostPort() || hostKey.Changed {
			t.Errorf("connect: %v, want an unknown host key for %s", err, a.HostPort())
		}
	})

	jumpLogins := func() int {
		data, err := os.ReadFile(filepath.Join(jump.Dir, "sshd.log"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(data), "Accepted publickey for "+jump.User+" ")
	}
	for _, tc := range []struct{ test, host string }{
		{"ProxyJump to a config-only jump host", "web-b"},
		{"ProxyJump to an inventory host", "web-c"},
	} {
		t.Run(tc.test, func(t *testing.T) {
			before := jumpLogins()
			c, _ := newConnector()
			runAt(t, c, tc.host, target)
			if n := jumpLogins() - before; n != 1 {
				t.Errorf("the jump host logged %d logins, want 1: the connection did not go through it", n)
			}
		})
	}

	t.Run("jump host down", func(t *testing.T) {
		jump.Stop()
		for name, via := range map[string]string{"web-b": "jumpbox", "web-c": "bastion"} {
			c, _ := newConnector()
			_, err := c.Connect(ctx, host(name))
			var unreachable *transport.UnreachableError
			want := name + ": via " + via + ": " + via + " (" + jump.HostPort() + "): unreachable: connection refused"
			if !errors.As(err, &unreachable) || unreachable.Host != via || err.Error() != want {
				t.Errorf("connect %s: %v\nwant %s", name, err, want)
			}
		}
		// The target itself is up: only the way to it is gone.
		_, pool := newConnector()
		if _, err := pool.Client(ctx, target.Endpoint("target-direct")); err != nil {
			t.Errorf("target, directly: %v", err)
		}
	})
}

// closedPort returns a port of host where nothing listens.
func closedPort(t *testing.T, host string) (string, int) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return host, port
}
