package transport

// Dials reports how many connections the pool has started to the host
// called name, so tests can see bastion connections being shared.
func (p *Pool) Dials(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dials[name]
}

// KnownHostsReads reports how many times the pool has parsed a known_hosts
// file.
func (p *Pool) KnownHostsReads() int {
	p.knownHosts.mu.Lock()
	defer p.knownHosts.mu.Unlock()
	return p.knownHosts.reads
}

// WritesGrouped reports whether c's socket groups its writes (batchConn):
// once a connection goes through it.
func (c *Client) WritesGrouped() bool {
	if c.wire == nil {
		return false
	}
	c.wire.mu.Lock()
	defer c.wire.mu.Unlock()
	return c.wire.batching
}
