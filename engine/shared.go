package engine

import (
	"context"
	"sync"
	"time"
)

// sharedWork coordinates, within one fleet run, the plans of several hosts
// that act on the same other instance: a dependency they all require
// (db@primary-bastion, ensured by each worker's plan), a dependent a
// --cascade reaches from several targets (reporter, which needs db on two
// workers). Left alone, each plan would act on it at the same time: two
// starts of one service (the second's process loses the port and exits),
// two interleaved restarts.
//
//   - An ensure or a cascade stop runs one plan at a time: a plan that
//     reaches the group while another runs it waits, then runs its own,
//     which finds the work done ("already running", "not running").
//   - A cascade restart is done once, by the last of the plans in flight
//     that will reach it, after every one of their targets: the others
//     wait for it and note who restarted it. A plan that waits does not
//     make another wait for it (it counts as arrived), so that no two
//     plans can wait for each other; plans of later batches (a rolling
//     run) restart it again, after their own targets.
//
// A plan that ends early (failed, interrupted) no longer counts.
type sharedWork struct {
	mu      sync.Mutex
	changed *sync.Cond
	plans   map[string]*sharedPlan // in flight, by host
	groups  map[string]*sharedGroup
	// targets are the run's targets: a restart's find-dependents counts
	// another target on a role as meeting a requirement there (the run's
	// impact names what loses it when every instance on the role is a
	// target; engine.FleetRoleLoss what loses it when the others outside
	// the run are down), not read host by host, mid-run.
	targets map[Instance]bool
}

// sharedPlan is a plan in flight: the cascade restart groups it has yet to
// reach, and whether it is waiting for another plan.
type sharedPlan struct {
	ahead   map[string]bool
	waiting bool
}

// sharedGroup is the state of one group across the run's plans.
type sharedGroup struct {
	running bool
	// The last cascade restart of it that succeeded: when it ended, and
	// the host whose plan ran it.
	restarted bool
	ended     time.Time
	by        string
}

func newSharedWork() *sharedWork {
	s := &sharedWork{plans: map[string]*sharedPlan{}, groups: map[string]*sharedGroup{}}
	s.changed = sync.NewCond(&s.mu)
	return s
}

// begin registers a plan in flight; end removes it.
func (s *sharedWork) begin(host string, plan *Plan) {
	p := &sharedPlan{ahead: map[string]bool{}}
	for _, t := range plan.Tasks {
		if restarts(t) {
			p.ahead[t.Group] = true
		}
	}
	s.mu.Lock()
	s.plans[host] = p
	s.mu.Unlock()
}

func (s *sharedWork) end(host string) {
	s.mu.Lock()
	delete(s.plans, host)
	s.changed.Broadcast()
	s.mu.Unlock()
}

func (s *sharedWork) group(key string) *sharedGroup {
	g := s.groups[key]
	if g == nil {
		g = &sharedGroup{}
		s.groups[key] = g
	}
	return g
}

// restarts says whether t is the start of a --cascade restart: the task
// by which a segment of a group's tasks is its restart (a group may also
// have a segment before the target's stop, its configuration written
// ahead, which restarts nothing).
func restarts(t Task) bool {
	return t.Cascade == CascadeRestart && t.Group != "" && t.Step == StepStart
}

// enter is a plan reaching group key (its first task); restart: the
// segment it starts is the group's cascade restart (see restarts). It returns once
// the plan may run the group (held: it must call leave after the group's
// last task), or when another plan did the work for it (doneBy: that
// plan's host). When ctx ends first it returns neither: the plan runs the
// group without holding it, and fails on its own context.
func (s *sharedWork) enter(ctx context.Context, host, key string, restart bool) (held bool, doneBy string) {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.changed.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	me := s.plans[host]
	if me != nil && restart {
		delete(me.ahead, key)
	}
	arrived := time.Now()
	g := s.group(key)
	for ctx.Err() == nil {
		if restart && !g.running && g.restarted && g.ended.After(arrived) {
			return false, g.by // restarted after this plan's target: once is enough
		}
		if !g.running && !(restart && s.othersAhead(host, key)) {
			g.running = true
			return true, ""
		}
		if me != nil {
			me.waiting = true
			s.changed.Broadcast()
		}
		s.changed.Wait()
		if me != nil {
			me.waiting = false
		}
	}
	return false, ""
}

// othersAhead says whether another plan in flight, not itself waiting,
// has yet to reach group key.
func (s *sharedWork) othersAhead(host, key string) bool {
	for h, p := range s.plans {
		if h != host && p.ahead[key] && !p.waiting {
			return true
		}
	}
	return false
}

// leave ends a plan's run of group key; restarted: it was a cascade
// restart, and it succeeded.
func (s *sharedWork) leave(host, key string, restarted bool) {
	s.mu.Lock()
	g := s.group(key)
	g.running = false
	if restarted {
		g.restarted, g.by, g.ended = true, host, time.Now()
	}
	s.changed.Broadcast()
	s.mu.Unlock()
}

// skipped is a plan passing group key without running it (skipGroup): it
// no longer has it ahead.
func (s *sharedWork) skipped(host, key string) {
	s.mu.Lock()
	if p := s.plans[host]; p != nil && p.ahead[key] {
		delete(p.ahead, key)
		s.changed.Broadcast()
	}
	s.mu.Unlock()
}
