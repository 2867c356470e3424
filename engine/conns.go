package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// connSet holds the connections one run (or one host's look) opened, one
// per host, each opened on first use, or ahead of it (prefetch): a caller
// that wants a host being dialled waits for that dial instead of starting
// another. It is safe for concurrent use: the dependency checks of a
// health check connect side by side.
type connSet struct {
	open func(ctx context.Context, host string) (Conn, error)

	mu     sync.Mutex
	slots  map[string]*connSlot
	cancel context.CancelFunc // ends the dials prefetch started
}

// connSlot is one host's connection: c or err once done is closed.
type connSlot struct {
	done chan struct{}
	c    Conn
	err  error
}

func newConnSet(open func(ctx context.Context, host string) (Conn, error)) *connSet {
	return &connSet{open: open, slots: map[string]*connSlot{}}
}

// get returns host's connection, opening it unless it is open or being
// opened. A failed open is not kept: the next get tries again.
func (s *connSet) get(ctx context.Context, host string) (Conn, error) {
	s.mu.Lock()
	slot, ok := s.slots[host]
	if !ok {
		slot = s.start(host)
	}
	s.mu.Unlock()
	if !ok {
		s.dial(ctx, host, slot)
	}
	select {
	case <-slot.done:
		return slot.c, slot.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: connect: %w", host, ctx.Err())
	}
}

// start adds host's slot; s.mu is held.
func (s *connSet) start(host string) *connSlot {
	slot := &connSlot{done: make(chan struct{})}
	s.slots[host] = slot
	return slot
}

func (s *connSet) dial(ctx context.Context, host string, slot *connSlot) {
	slot.c, slot.err = s.open(ctx, host)
	if slot.err != nil {
		s.mu.Lock()
		if s.slots[host] == slot {
			delete(s.slots, host)
		}
		s.mu.Unlock()
	}
	close(slot.done)
}

// prefetch starts dialling, in the background, each of hosts not open or
// being opened yet, so that the step that needs one later finds it
// ready. The dials still running when the set is released are cancelled.
func (s *connSet) prefetch(ctx context.Context, hosts []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel == nil {
		ctx, s.cancel = context.WithCancel(ctx)
	}
	for _, host := range hosts {
		if _, ok := s.slots[host]; ok {
			continue
		}
		slot := s.start(host)
		go s.dial(ctx, host, slot)
	}
}

// opened reports whether host's connection is open (without waiting).
func (s *connSet) opened(host string) bool {
	s.mu.Lock()
	slot, ok := s.slots[host]
	s.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case <-slot.done:
		return slot.err == nil
	default:
		return false
	}
}

// each calls fn with every connection that is open now (without
// waiting for dials still running).
func (s *connSet) each(fn func(host string, c Conn)) {
	s.mu.Lock()
	open := map[string]Conn{}
	for host, slot := range s.slots {
		select {
		case <-slot.done:
			if slot.err == nil {
				open[host] = slot.c
			}
		default:
		}
	}
	s.mu.Unlock()
	for host, c := range open {
		fn(host, c)
	}
}

// release cancels the dials still running, waits for them, and hands
// every connection the set opened to rel (nil: keeps them), once each.
func (s *connSet) release(rel Releaser) {
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	slots := s.slots
	s.slots = map[string]*connSlot{}
	s.mu.Unlock()
	for _, slot := range slots {
		<-slot.done
		if slot.err == nil && rel != nil {
			rel.Release(unwrapConn(slot.c))
		}
	}
}

// prefetchHosts lists the hosts other than the target's that a run of plan
// will connect to: the hosts of its tasks (dependencies, dependents), of
// the dependents the confirm step reads, and of the requirements its
// health or dependency check reads.
func prefetchHosts(plan *Plan, g *graph) []string {
	target := Instance{Host: plan.Host.Name, Service: plan.Service.Name}
	var hosts []string
	add := func(h string) {
		if h != "" && h != target.Host && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	for _, t := range plan.Tasks {
		add(t.Host)
		switch {
		case t.Step == StepConfirm || t.Step == StepFindDependents:
			for _, d := range plan.Dependents {
				add(d.Host)
			}
		case t.Step == StepCheckDeps:
			for _, it := range g.ensureClosure(target) {
				if it.group == "" { // a role fallback's needs are read only if it is
					add(it.need.inst.Host)
				}
			}
		case t.Step == StepHealth && t.Host == target.Host && t.Service == target.Service:
			for _, n := range g.needs(target) {
				add(n.inst.Host)
			}
		}
	}
	return hosts
}
