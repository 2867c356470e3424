package transport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"

	"github.com/omni-fleet/omni/internal/fanout"
	"github.com/omni-fleet/omni/internal/warm"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// ErrPoolClosed is returned by Pool.Client after Pool.Close.
var ErrPoolClosed = errors.New("transport: pool is closed")

// Pool holds one SSH connection per host name, dialled on first use and
// kept until Close, or until every caller that got it has released it
// (Release). Concurrent callers asking for the same host share one dial. A
// failed dial is remembered, so every later call for the host fails the
// same way at once, unless it failed because its caller's context ended. A
// connection that drops is dialled again on the next call.
type Pool struct {
	opts Options

	mu     sync.Mutex
	closed bool
	conns  map[string]*poolEntry // by Endpoint.Name
	dials  map[string]int        // dials started, by host name (tests)
	// releasing counts the connections Release is closing: Close waits
	// for them.
	releasing sync.WaitGroup

	knownHosts *knownHostsCache // parsed known_hosts files, and their appends

	authMu     sync.Mutex
	agentConn  net.Conn
	agent      agent.ExtendedAgent
	agentErr   error
	identities map[string]identityFile
	certs      map[string]ssh.Signer // identity file path -> its user certificate's signer (nil: none)

	controlWarnOnce sync.Once // the control directory's refusal, said once

	// warm runs the handshakes and the closing of released connections
	// on goroutines that did such work before (see package warm).
	warm *warm.Pool
}

type poolEntry struct {
	ready  chan struct{} // closed once client or err is set
	client *Client
	err    error
	// abandoned: the dial failed because its caller's context ended.
	abandoned bool
	depth     int // bastions in front: Close closes deeper hosts first
	// users counts the Client calls that returned client and were not
	// released yet. bastion is set once a connection has been dialled
	// through this one: it then stays open until Close. released is set
	// once Release has taken it out of the pool to close it.
	users    int
	bastion  bool
	released bool
}

// NewPool returns an empty pool.
func NewPool(opts Options) *Pool {
	return &Pool{
		opts:       opts,
		conns:      make(map[string]*poolEntry),
		dials:      make(map[string]int),
		identities: make(map[string]identityFile),
		certs:      make(map[string]ssh.Signer),
		knownHosts: newKnownHostsCache(),
		warm:       warm.New(),
	}
}

// Client returns the connection to ep.Name, dialling it (and its bastions)
// if the pool has none yet. Errors are *UnreachableError, *AuthError,
// *HostKeyError, or wrap ctx.Err(); for a host behind a bastion that could
// not be reached they read "host: via bastion: ...".
func (p *Pool) Client(ctx context.Context, ep Endpoint) (*Client, error) {
	ep, err := ep.withDefaults()
	if err != nil {
		return nil, err
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrPoolClosed
		}
		entry := p.conns[ep.Name]
		if entry != nil && entry.settled() && entry.client != nil && entry.client.isLost() {
			delete(p.conns, ep.Name)
			entry = nil
		}
		if entry == nil {
			entry = &poolEntry{ready: make(chan struct{}), depth: ep.depth()}
			p.conns[ep.Name] = entry
			p.dials[ep.Name]++
			p.mu.Unlock()
			p.dial(ctx, ep, entry)
		} else {
			p.mu.Unlock()
			select {
			case <-entry.ready:
			case <-ctx.Done():
				return nil, fmt.Errorf("%s: connect: %w", ep.Name, ctx.Err())
			}
		}
		if entry.abandoned && ctx.Err() == nil {
			continue // the caller that dialled gave up; this one has not
		}
		if entry.err != nil {
			return nil, entry.err
		}
		p.mu.Lock()
		released := entry.released
		if !released {
			entry.users++
		}
		p.mu.Unlock()
		if released {
			continue // released while this caller waited: dial again
		}
		return entry.client, nil
	}
}

// Release tells the pool that the caller is done with c, which Client
// returned. Once every caller that got c has released it, the pool closes
// the connection (in the background; Close waits for it), and the next
// Client call for the host dials again. A connection through which another
// host has been reached (a bastion) is not closed before Close. Callers that
// never release a connection keep it until Close, as do the others that got
// the same one. Using c after releasing it is an error.
//
// Releasing each host's connection as soon as it is done keeps the number of
// open connections, and their memory (buffers, goroutines), at the number of
// hosts worked on at once instead of the number of hosts worked on in all.
func (p *Pool) Release(c *Client) {
	if c == nil || c.entry == nil {
		return
	}
	entry := c.entry
	p.mu.Lock()
	if entry.users > 0 {
		entry.users--
	}
	if entry.users > 0 || entry.bastion || entry.released || p.closed {
		p.mu.Unlock()
		return
	}
	entry.released = true
	if p.conns[c.name] == entry {
		delete(p.conns, c.name)
	}
	p.releasing.Add(1)
	p.mu.Unlock()
	p.warm.Go(func() {
		defer p.releasing.Done()
		c.endShell()
		_ = c.close()
	})
}

// throughBastion marks c as a bastion: a connection goes through it, so
// Release must not close it, and its writes are grouped (batchConn).
func (p *Pool) throughBastion(c *Client) {
	if c.wire != nil {
		c.wire.group() // its nested connections' packets share system calls
	}
	p.mu.Lock()
	if c.entry != nil {
		c.entry.bastion = true
	}
	p.mu.Unlock()
}

// dial connects for the first caller and publishes the outcome in entry.
func (p *Pool) dial(ctx context.Context, ep Endpoint, entry *poolEntry) {
	client, err := p.connect(ctx, ep)
	var orphan *Client // connected after Close: close it, but not under p.mu
	p.mu.Lock()
	if err == nil && p.closed {
		orphan, client, err = client, nil, ErrPoolClosed
	}
	if client != nil {
		client.entry = entry
	}
	if err != nil && ctx.Err() != nil {
		// Not the host's fault: let the next caller try again.
		entry.abandoned = true
		if p.conns[ep.Name] == entry {
			delete(p.conns, ep.Name)
		}
	}
	entry.client, entry.err = client, err
	close(entry.ready)
	p.mu.Unlock()
	if orphan != nil {
		_ = orphan.close()
	}
}

func (e *poolEntry) settled() bool {
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

// Close closes every connection, hosts before the bastions they go through,
// and the ssh-agent connection, and waits for the connections Release is
// closing. Later calls to Client fail.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var open []*poolEntry
	for _, entry := range p.conns {
		if entry.settled() && entry.client != nil {
			open = append(open, entry)
		}
	}
	p.mu.Unlock()

	// The hosts' shells first, all at once (no limit: each waits for its
	// host's answer, so all together cost one round trip in all).
	fanout.Each(len(open), 0, func(i int) { open[i].client.endShell() })
	slices.SortFunc(open, func(a, b *poolEntry) int { return cmp.Compare(b.depth, a.depth) })
	var errs []error
	for _, entry := range open {
		if err := entry.client.close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: close: %w", entry.client.name, err))
		}
	}
	p.releasing.Wait()
	p.warm.Close()
	p.authMu.Lock()
	if p.agentConn != nil {
		p.agentConn.Close()
	}
	p.authMu.Unlock()
	return errors.Join(errs...)
}
