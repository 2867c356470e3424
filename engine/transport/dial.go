package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// connect dials ep, through its bastion when it has one, and completes the
// SSH handshake.
//
// Each phase has its deadline, ep.ConnectTimeout: the TCP connect (or the
// bastion's opening of the channel), then the handshake. The connection
// then sends keepalives (see keepAlive), and a host reached through a
// bastion is declared lost with it.
func (p *Pool) connect(ctx context.Context, ep Endpoint) (*Client, error) {
	persist := p.opts.ControlPersist > 0
	if persist {
		if c := p.viaMaster(ctx, ep); c != nil {
			return c, nil
		}
	}
	c, err := p.connectHost(ctx, ep)
	if err == nil && persist {
		p.startMaster(ep) // for the next runs
	}
	return c, err
}

// connectHost connects to ep itself (not through a master).
func (p *Pool) connectHost(ctx context.Context, ep Endpoint) (*Client, error) {
	conn, bastion, err := p.dialTCP(ctx, ep)
	if err != nil {
		return nil, err
	}
	var wire *batchConn
	if bastion == nil {
		wire = newBatchConn(conn)
		conn = wire
	}
	sshClient, config, key, err := p.handshakeKeyed(ctx, ep, conn)
	if err != nil {
		return nil, err
	}
	c := newClient(ep, sshClient, config, bastion)
	c.warm = p.warm
	c.wire = wire
	c.hostKey = key
	return c, nil
}

// dialTCP opens the byte stream the SSH connection runs over: a TCP
// connection, or a direct-tcpip channel opened by the bastion, which it
// returns too.
func (p *Pool) dialTCP(ctx context.Context, ep Endpoint) (net.Conn, *Client, error) {
	if ep.Via == nil {
		dialer := net.Dialer{Timeout: ep.ConnectTimeout}
		conn, err := dialer.DialContext(ctx, "tcp", ep.hostPort())
		if err != nil {
			return nil, nil, dialError(ctx, ep, "", err)
		}
		return conn, nil, nil
	}
	bastion, err := p.Client(ctx, *ep.Via)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: via %s: %w", ep.Name, ep.Via.Name, err)
	}
	p.throughBastion(bastion)
	dialCtx, cancel := context.WithTimeout(ctx, ep.ConnectTimeout)
	defer cancel()
	conn, err := bastion.dial(dialCtx, "tcp", ep.hostPort())
	if err != nil {
		return nil, nil, dialError(ctx, ep, ep.Via.Name, err)
	}
	return conn, bastion, nil
}

func dialError(ctx context.Context, ep Endpoint, via string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s (%s): connect: %w", ep.Name, ep.hostPort(), ctx.Err())
	}
	reason := dialReason(err, ep.ConnectTimeout)
	if via != "" {
		reason = "via " + via + ": " + reason
	}
	return &UnreachableError{Host: ep.Name, Address: ep.hostPort(), Reason: reason, Err: err}
}

func dialReason(err error, timeout time.Duration) string {
	var dnsErr *net.DNSError
	var openErr *ssh.OpenChannelError
	switch {
	case isTimeout(err):
		return fmt.Sprintf("timed out after %s connecting", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network is unreachable"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve %q: %s", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &openErr) && openErr.Reason == ssh.ConnectionFailed:
		return strings.ToLower(openErr.Message) // OpenSSH says "Connection refused"
	case errors.As(err, &openErr) && openErr.Reason == ssh.Prohibited:
		return "forwarding refused by the bastion (AllowTcpForwarding?): " + openErr.Message
	default:
		return err.Error()
	}
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &netErr) && netErr.Timeout())
}

// keyExchanges are the key exchange methods offered, in order of
// preference: ecdh-sha2-nistp256 first, then curve25519-sha256, then
// x/crypto's other defaults (the hybrid mlkem768x25519-sha256, the larger
// NIST curves, DH group 14; not SHA-1), all in OpenSSH's default
// KexAlgorithms. The key exchange is the largest cost of a connection,
// and the hosts of a fleet are connected to at once: at 1,000 hosts it was
// a fifth of omni's CPU (docs/benchmarks.md, "Status of 1,000 hosts").
// Go's P-256 (constant-time, with assembly on amd64 and arm64) costs a
// quarter less per exchange than its X25519, at the same 128-bit security
// level; the hybrid's ML-KEM half would double it. The price: a recorded
// session is not protected against a future quantum computer, as OpenSSH
// 10's default (the hybrid) would be, which matters for secrets sent to
// the hosts; and P-256 rather than curve25519 where a server offers both.
// Host keys are verified the same whichever is negotiated.
var keyExchanges = []string{
	ssh.KeyExchangeECDHP256, ssh.KeyExchangeCurve25519, ssh.KeyExchangeMLKEM768X25519,
	ssh.KeyExchangeECDHP384, ssh.KeyExchangeECDHP521,
	ssh.KeyExchangeDH14SHA256,
}

// handshake runs the SSH handshake over conn within ep.ConnectTimeout,
// closing conn if that passes or ctx ends first.
func (p *Pool) handshake(ctx context.Context, ep Endpoint, conn net.Conn) (*ssh.Client, *ssh.ClientConfig, error) {
	client, config, _, err := p.handshakeKeyed(ctx, ep, conn)
	return client, config, err
}

// seenHostKey is the host key a handshake verified, with the names it was
// verified for: a master checks it again, against known_hosts as it is
// then, before serving each client.
type seenHostKey struct {
	hostname string
	remote   net.Addr
	key      ssh.PublicKey
}

// handshakeKeyed is handshake, also returning the host key it verified.
func (p *Pool) handshakeKeyed(ctx context.Context, ep Endpoint, conn net.Conn) (*ssh.Client, *ssh.ClientConfig, *seenHostKey, error) {
	check, err := newHostKeyCheck(ep, p.opts, p.knownHosts)
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	var seen *seenHostKey
	creds := p.credentials(ep)
	config := &ssh.ClientConfig{
		User: ep.User,
		Auth: creds.methods(),
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			err := check.callback(hostname, remote, key)
			if err == nil {
				seen = &seenHostKey{check.verifiedAs, remote, check.verified}
			}
			return err
		},
		HostKeyAlgorithms: check.algorithms(),
		// One round trip for authentication instead of four, and the
		// first session's open sent along with it (not by a master's
		// connections: see Options.master).
		OptimisticSigner: creds.optimistic(),
		EarlySession:     !p.opts.master,
	}
	config.KeyExchanges = keyExchanges
	config.Rand = sshRandom

	handshakeCtx, cancel := context.WithTimeout(ctx, ep.ConnectTimeout)
	defer cancel()
	// A TCP conn enforces the deadline itself. A channel through a bastion
	// does not support deadlines, and closing it only sends the bastion a
	// close, which a dead bastion never answers: the handshake runs in a
	// goroutine of its own, left to end with conn, and is abandoned when
	// the context ends (which covers cancellation of ctx too).
	_ = conn.SetDeadline(time.Now().Add(ep.ConnectTimeout))
	type handshaken struct {
		conn  ssh.Conn
		chans <-chan ssh.NewChannel
		reqs  <-chan *ssh.Request
		err   error
	}
	done := make(chan handshaken, 1)
	p.warm.Go(func() {
		clientConn, chans, reqs, err := ssh.NewClientConn(conn, ep.hostPort(), config)
		done <- handshaken{clientConn, chans, reqs, err}
	})
	var h handshaken
	select {
	case h = <-done:
		if h.err == nil && handshakeCtx.Err() != nil {
			h.conn.Close()
			h.err = handshakeCtx.Err()
		}
	case <-handshakeCtx.Done():
		conn.Close()
		go func() {
			if late := <-done; late.err == nil {
				late.conn.Close()
			}
		}()
		// Not handshakeError: the abandoned handshake may still be
		// checking the host key.
		if ctx.Err() != nil {
			return nil, nil, nil, fmt.Errorf("%s (%s): SSH handshake: %w", ep.Name, ep.hostPort(), ctx.Err())
		}
		return nil, nil, nil, &UnreachableError{Host: ep.Name, Address: ep.hostPort(), Err: handshakeCtx.Err(),
			Reason: fmt.Sprintf("timed out after %s during SSH handshake", ep.ConnectTimeout)}
	}
	if h.err != nil {
		conn.Close()
		return nil, nil, nil, handshakeError(ctx, ep, check, creds, handshakeCtx.Err() != nil, h.err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(h.conn, h.chans, h.reqs), config, seen, nil
}

func handshakeError(ctx context.Context, ep Endpoint, check *hostKeyCheck, creds *credentials, expired bool, err error) error {
	unreachable := &UnreachableError{Host: ep.Name, Address: ep.hostPort(), Err: err}
	switch {
	case check.refused != nil:
		return check.refused
	case ctx.Err() != nil:
		return fmt.Errorf("%s (%s): SSH handshake: %w", ep.Name, ep.hostPort(), ctx.Err())
	case expired || isTimeout(err):
		unreachable.Reason = fmt.Sprintf("timed out after %s during SSH handshake", ep.ConnectTimeout)
	case isAuthFailure(err):
		return &AuthError{Host: ep.Name, Address: ep.hostPort(), User: ep.User,
			Tried: creds.tried, Skipped: creds.skipped, Err: err}
	case errors.Is(err, io.EOF):
		unreachable.Reason = "connection closed by the server during SSH handshake"
	default:
		unreachable.Reason = "SSH handshake failed: " + strings.TrimPrefix(err.Error(), "ssh: handshake failed: ")
	}
	return unreachable
}

// isAuthFailure recognises x/crypto's and OpenSSH's ways of saying no:
// x/crypto has no error type for it.
func isAuthFailure(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unable to authenticate") ||
		strings.Contains(msg, "Too many authentication failures")
}
