package transport

import "io"

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

// SwapSSHRandom makes r every new connection's ssh.Config.Rand and returns
// what restores the one before.
func SwapSSHRandom(r io.Reader) (restore func()) {
	old := sshRandom
	sshRandom = r
	return func() { sshRandom = old }
}

// SSHRandom returns the reader new connections use as ssh.Config.Rand.
func SSHRandom() io.Reader { return sshRandom }
