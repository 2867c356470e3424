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
