package transport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"

	"golang.org/x/crypto/ssh/agent"
)

// ErrPoolClosed is returned by Pool.Client after Pool.Close.
var ErrPoolClosed = errors.New("transport: pool is closed")

// Pool holds one SSH connection per host name, dialled on first use and
// kept until Close. Concurrent callers asking for the same host share one
// dial. A failed dial is remembered, so every later call for the host fails
// the same way at once, unless it failed because its caller's context
// ended. A connection that drops is dialled again on the next call.
type Pool struct {
	opts Options

	mu     sync.Mutex
	closed bool
	conns  map[string]*poolEntry // by Endpoint.Name
	dials  map[string]int        // dials started, by host name (tests)

	fileMu sync.Mutex // known_hosts reads and appends

	authMu     sync.Mutex
	agentConn  net.Conn
	agent      agent.ExtendedAgent
	agentErr   error
	identities map[string]identityFile
}

type poolEntry struct {
	ready  chan struct{} // closed once client or err is set
	client *Client
	err    error
	// abandoned: the dial failed because its caller's context ended.
	abandoned bool
	depth     int // bastions in front: Close closes deeper hosts first
}

// NewPool returns an empty pool.
func NewPool(opts Options) *Pool {
	return &Pool{
		opts:       opts,
		conns:      make(map[string]*poolEntry),
		dials:      make(map[string]int),
		identities: make(map[string]identityFile),
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
		return entry.client, nil
	}
}

// dial connects for the first caller and publishes the outcome in entry.
func (p *Pool) dial(ctx context.Context, ep Endpoint, entry *poolEntry) {
	client, err := p.connect(ctx, ep)
	var orphan *Client // connected after Close: close it, but not under p.mu
	p.mu.Lock()
	if err == nil && p.closed {
		orphan, client, err = client, nil, ErrPoolClosed
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
// and the ssh-agent connection. Later calls to Client fail.
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

	slices.SortFunc(open, func(a, b *poolEntry) int { return cmp.Compare(b.depth, a.depth) })
	var errs []error
	for _, entry := range open {
		if err := entry.client.close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: close: %w", entry.client.name, err))
		}
	}
	p.authMu.Lock()
	if p.agentConn != nil {
		p.agentConn.Close()
	}
	p.authMu.Unlock()
	return errors.Join(errs...)
}
