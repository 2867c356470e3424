package engine

import (
	"context"
	"io"
	"net"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
)

// SSHConnector reaches hosts over SSH through a transport.Pool: one
// connection per host, bastions shared.
type SSHConnector struct {
	Pool      *transport.Pool
	Inventory *inventory.Inventory
}

// Connect implements Connector.
func (c *SSHConnector) Connect(ctx context.Context, h *inventory.Host) (Conn, error) {
	client, err := c.Pool.Client(ctx, Endpoint(c.Inventory, h))
	if err != nil {
		return nil, err
	}
	return sshConn{client}, nil
}

// Endpoint describes how to reach host h, bastions included.
func Endpoint(inv *inventory.Inventory, h *inventory.Host) transport.Endpoint {
	ep := transport.Endpoint{
		Name:           h.Name,
		Address:        h.Address,
		Port:           h.Port,
		User:           h.User,
		KnownHosts:     inv.Defaults.KnownHosts,
		ConnectTimeout: inv.Defaults.ConnectTimeout,
	}
	if h.IdentityFile != "" {
		ep.IdentityFiles = []string{h.IdentityFile}
	} // else the transport offers ssh-agent and ~/.ssh/id_* like OpenSSH
	if h.Via != "" {
		if via, err := inv.Host(h.Via); err == nil {
			bastion := Endpoint(inv, via)
			ep.Via = &bastion
		}
	}
	return ep
}

type sshConn struct{ client *transport.Client }

func (s sshConn) Run(ctx context.Context, cmd string) (manager.Result, error) {
	res, err := s.client.Run(ctx, cmd)
	return manager.Result{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, err
}

func (s sshConn) Stream(ctx context.Context, cmd string, stdout, stderr io.Writer) (int, error) {
	return s.client.Stream(ctx, cmd, stdout, stderr)
}

func (s sshConn) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return s.client.DialContext(ctx, network, addr)
}
