package transport

// Dials reports how many connections the pool has started to the host
// called name, so tests can see bastion connections being shared.
func (p *Pool) Dials(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dials[name]
}
