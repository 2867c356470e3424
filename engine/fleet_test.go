package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
)

// sim is a fleet whose hosts are simulated: the scheduler's decisions
// (batches, budgets, aborts) are what these tests check; the end-to-end
// tests in package cli run the same scheduler over real sshd hosts.
type sim struct {
	mu      sync.Mutex
	down    map[string]bool   // not running before the run
	fail    map[string]error  // the plan fails with this
	pidFlip map[string]bool   // the PID changes after the restart (crash loop)
	unread  map[string]error  // the host answers, but its status fails with this
	order   []string          // hosts in the order their plans started
	active  int               // plans running now
	peak    int               // most plans running at once
	events  []FleetEvent      // what the runner reported
	onStart func(host string) // called as a plan starts
	hosts   []string          // every host of the fleet
	// The availability bound: a plan that starts on a healthy host while
	// budget or more instances are down is a violation; peakDown is the
	// most instances down at once (down before the run included).
	budget     int
	peakDown   int
	violations []string
}

func newSim() *sim {
	return &sim{down: map[string]bool{}, fail: map[string]error{}, pidFlip: map[string]bool{}, unread: map[string]error{}}
}

func (s *sim) runner(n int, opts FleetOptions) *fleetRunner {
	svc := &inventory.Service{Name: "app"}
	var targets []Target
	for i := 1; i <= n; i++ {
		h := fmt.Sprintf("h%d", i)
		targets = append(targets, Target{Host: h, Plan: &Plan{Host: &inventory.Host{Name: h}, Service: svc}})
		s.hosts = append(s.hosts, h)
	}
	s.budget = opts.MaxUnavailable
	return &fleetRunner{Targets: targets, Opts: opts, Exec: s.exec, Status: s.status,
		OnEvent: func(ev FleetEvent) { s.events = append(s.events, ev) }}
}

func (s *sim) exec(ctx context.Context, t Target, onStep func(StepResult)) *Outcome {
	s.mu.Lock()
	s.order = append(s.order, t.Host)
	if !s.down[t.Host] {
		if n := s.downCount(); n >= s.budget {
			s.violations = append(s.violations, fmt.Sprintf("%s taken down while %d of budget %d were down", t.Host, n, s.budget))
		}
		s.down[t.Host] = true
	}
	s.peakDown = max(s.peakDown, s.downCount())
	s.active++
	s.peak = max(s.peak, s.active)
	hook := s.onStart
	s.mu.Unlock()
	if hook != nil {
		hook(t.Host)
	}
	time.Sleep(20 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	onStep(StepResult{Task: Task{Step: "restart", Host: t.Host}})
	if err := s.fail[t.Host]; err != nil {
		return &Outcome{Host: t.Host, Err: simError(t.Host, err)}
	}
	s.down[t.Host] = false
	return &Outcome{Host: t.Host, State: manager.State{Running: true, Status: "running", PID: 100}}
}

// downCount counts the instances down now; s.mu held.
func (s *sim) downCount() int {
	n := 0
	for _, h := range s.hosts {
		if s.down[h] || errors.Is(s.fail[h], errUnreachable) {
			n++
		}
	}
	return n
}

func (s *sim) status(ctx context.Context, instances []Instance) []InstanceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]InstanceStatus, len(instances))
	for i, inst := range instances {
		out[i].Instance = inst
		switch {
		case errors.Is(s.fail[inst.Host], errUnreachable):
			out[i].Err = simError(inst.Host, s.fail[inst.Host])
		case s.unread[inst.Host] != nil:
			out[i].Err = s.unread[inst.Host]
		case s.down[inst.Host]:
			out[i].State = manager.State{Status: "stopped"}
		case s.pidFlip[inst.Host]:
			out[i].State = manager.State{Running: true, Status: "running", PID: 101, NRestarts: 1}
		default:
			out[i].State = manager.State{Running: true, Status: "running", PID: 100}
		}
	}
	return out
}

var errUnreachable = &transport.UnreachableError{Host: "h", Err: errors.New("connection refused")}

// simError is err as host's plan or read meets it: errUnreachable is
// host's own connection refused (a fleet host is unreachable only when
// its own host could not be reached), still errors.Is errUnreachable.
func simError(host string, err error) error {
	if err == errUnreachable {
		return &transport.UnreachableError{Host: host, Reason: "connection refused", Err: errUnreachable}
	}
	return err
}

func (s *sim) batches() [][]string {
	var out [][]string
	for _, ev := range s.events {
		if ev.Kind == EventBatch {
			out = append(out, ev.Hosts)
		}
	}
	return out
}

func results(rep *FleetReport) string {
	var parts []string
	for _, h := range rep.Hosts {
		parts = append(parts, h.Host+"="+string(h.Result))
	}
	return strings.Join(parts, " ")
}

func TestRollingBatchesInOrder(t *testing.T) {
	s := newSim()
	rep := s.runner(5, FleetOptions{Forks: 10, Rolling: true, Batch: 2, MaxUnavailable: 2}).Run(context.Background(), context.Background())
	if got := fmt.Sprint(s.batches()); got != "[[h1 h2] [h3 h4] [h5]]" {
		t.Fatalf("batches %s", got)
	}
	if s.peak > 2 {
		t.Fatalf("%d plans ran at once, batch is 2", s.peak)
	}
	if results(rep) != "h1=done h2=done h3=done h4=done h5=done" || rep.Aborted != "" || rep.Batches != 3 {
		t.Fatalf("report: %s, aborted %q", results(rep), rep.Aborted)
	}
}

// Instances already down count against --max-unavailable: with h2 down
// and a budget of 1, h2 goes first alone (it costs nothing more), then the
// others one at a time, never two down at once.
func TestMaxUnavailableCountsHostsAlreadyDown(t *testing.T) {
	s := newSim()
	s.down["h2"] = true
	rep := s.runner(4, FleetOptions{Forks: 10, Rolling: true, Batch: 2, MaxUnavailable: 1}).Run(context.Background(), context.Background())
	if got := fmt.Sprint(s.batches()); got != "[[h2] [h1] [h3] [h4]]" {
		t.Fatalf("batches %s", got)
	}
	if results(rep) != "h1=done h2=done h3=done h4=done" {
		t.Fatalf("report: %s", results(rep))
	}
	if pre := s.events[0]; pre.Kind != EventPreflight || !strings.Contains(pre.Msg, "1 of 4 instances already unavailable (h2 stopped)") {
		t.Fatalf("preflight event: %+v", pre)
	}
}

// The instances already down go first, in batches of --batch, spending none of
// --max-unavailable; then the healthy ones, each taken down only while
// fewer than the budget are down. The number down never exceeds
// max(--max-unavailable, the number down before the run).
func TestRollingWithInstancesAlreadyDown(t *testing.T) {
	for _, c := range []struct {
		name           string
		n              int
		down           []string
		batch, maxUnav int
		forks          int
		want           string // the batches
	}{
		{"2 of 4 down, max-unavailable 1", 4, []string{"h2", "h4"}, 1, 1, 10, "[[h2] [h4] [h1] [h3]]"},
		{"all 4 down, max-unavailable 1", 4, []string{"h1", "h2", "h3", "h4"}, 1, 1, 10, "[[h1] [h2] [h3] [h4]]"},
		{"1 of 4 down, max-unavailable 1", 4, []string{"h3"}, 1, 1, 10, "[[h3] [h1] [h2] [h4]]"},
		{"3 of 5 down, max-unavailable 2, batch 2", 5, []string{"h1", "h3", "h5"}, 2, 2, 10, "[[h1 h3] [h5] [h2 h4]]"},
		{"2 of 6 down, batch 3, max-unavailable 2", 6, []string{"h5", "h6"}, 3, 2, 10, "[[h5 h6] [h1 h2] [h3 h4]]"},
		{"all 4 down, batch 4, max-unavailable 1, forks 2", 4, []string{"h1", "h2", "h3", "h4"}, 4, 1, 2, "[[h1 h2 h3 h4]]"},
		{"3 down, batch 3, max-unavailable 1", 4, []string{"h1", "h2", "h4"}, 3, 1, 10, "[[h1 h2 h4] [h3]]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSim()
			for _, h := range c.down {
				s.down[h] = true
			}
			rep := s.runner(c.n, FleetOptions{Forks: c.forks, Rolling: true, Batch: c.batch, MaxUnavailable: c.maxUnav}).Run(context.Background(), context.Background())
			if got := fmt.Sprint(s.batches()); got != c.want {
				t.Errorf("batches %s, want %s", got, c.want)
			}
			if rep.Count(HostDone) != c.n || rep.Aborted != "" || rep.Batches != len(s.batches()) {
				t.Errorf("report: %s, aborted %q, %d batches", results(rep), rep.Aborted, rep.Batches)
			}
			if bound := max(c.maxUnav, len(c.down)); s.peakDown > bound || len(s.violations) > 0 {
				t.Errorf("%d instances down at once, bound %d; %v", s.peakDown, bound, s.violations)
			}
			if s.peak > c.forks {
				t.Errorf("%d plans at once, --forks %d", s.peak, c.forks)
			}
			if ev := s.events[1]; len(c.down) > 0 && (ev.Kind != EventBatch || !strings.Contains(ev.Msg, "restarted first, spending none of --max-unavailable")) {
				t.Errorf("first batch event: %+v", ev)
			}
		})
	}
}

// A down instance that fails to come back is a failure per --max-failures
// and stays down, using the budget: with 2 of 4 down, one of them failing
// and --max-failures 1, the other comes back, and no healthy instance may
// go down while the failed one is down with --max-unavailable 1.
func TestRollingDownInstanceFailsToComeBack(t *testing.T) {
	s := newSim()
	s.down["h2"], s.down["h4"] = true, true
	s.fail["h4"] = errors.New("health: port 80: connection refused")
	rep := s.runner(4, FleetOptions{Forks: 10, Rolling: true, Batch: 1, MaxUnavailable: 1, MaxFailures: 1}).Run(context.Background(), context.Background())
	if results(rep) != "h1=untouched h2=done h3=untouched h4=failed" || !strings.Contains(rep.Aborted, "--max-unavailable 1: 1 of 4 instances are unavailable (h4 failed)") {
		t.Fatalf("report: %s, aborted %q", results(rep), rep.Aborted)
	}
	// With --max-unavailable 2 the healthy ones go, one at a time.
	s = newSim()
	s.down["h2"], s.down["h4"] = true, true
	s.fail["h4"] = errors.New("boom")
	rep = s.runner(4, FleetOptions{Forks: 10, Rolling: true, Batch: 2, MaxUnavailable: 2, MaxFailures: 1}).Run(context.Background(), context.Background())
	if results(rep) != "h1=done h2=done h3=done h4=failed" || fmt.Sprint(s.batches()) != "[[h2 h4] [h1] [h3]]" || len(s.violations) > 0 {
		t.Fatalf("report: %s, batches %v, %v", results(rep), s.batches(), s.violations)
	}
	// --max-failures 0: the failure stops the run before a healthy host.
	s = newSim()
	s.down["h2"], s.down["h4"] = true, true
	s.fail["h2"] = errors.New("boom")
	rep = s.runner(4, FleetOptions{Forks: 1, Rolling: true, Batch: 1, MaxUnavailable: 1}).Run(context.Background(), context.Background())
	if results(rep) != "h1=untouched h2=failed h3=untouched h4=untouched" || !strings.Contains(rep.Aborted, "--max-failures 0") {
		t.Fatalf("report: %s, aborted %q", results(rep), rep.Aborted)
	}
}

// A host that was down and fails again keeps the budget used: nothing else
// may go down, so the run stops touching hosts.
func TestMaxUnavailableExhausted(t *testing.T) {
	s := newSim()
	s.down["h1"] = true
	s.fail["h1"] = errors.New("health: port 80: connection refused")
	rep := s.runner(3, FleetOptions{Forks: 10, Rolling: true, Batch: 1, MaxUnavailable: 1, MaxFailures: 1}).Run(context.Background(), context.Background())
	if results(rep) != "h1=failed h2=untouched h3=untouched" || !strings.Contains(rep.Aborted, "--max-unavailable 1: 1 of 3 instances are unavailable (h1 failed)") {
		t.Fatalf("report: %s, aborted %q", results(rep), rep.Aborted)
	}
}

func TestMaxFailures(t *testing.T) {
	for _, c := range []struct {
		max  int
		want string
	}{
		{0, "h1=done h2=failed h3=untouched h4=untouched h5=untouched"},
		{1, "h1=done h2=failed h3=done h4=failed h5=untouched"},
		{2, "h1=done h2=failed h3=done h4=failed h5=done"},
	} {
		s := newSim()
		s.fail["h2"] = errors.New("boom")
		s.fail["h4"] = errors.New("boom")
		rep := s.runner(5, FleetOptions{Forks: 1, Rolling: true, Batch: 1, MaxUnavailable: 1, MaxFailures: c.max}).Run(context.Background(), context.Background())
		// A failed host stays down, using the budget; raise it so only
		// --max-failures decides here.
		if c.max > 0 {
			s = newSim()
			s.fail["h2"] = errors.New("boom")
			s.fail["h4"] = errors.New("boom")
			rep = s.runner(5, FleetOptions{Forks: 1, Rolling: true, Batch: 1, MaxUnavailable: 3, MaxFailures: c.max}).Run(context.Background(), context.Background())
		}
		if results(rep) != c.want {
			t.Errorf("--max-failures %d: %s, want %s", c.max, results(rep), c.want)
		}
	}
}

// An unreachable host is a failure from the preflight on: with
// --max-failures 0 nothing is touched at all.
func TestUnreachableCountsAsFailure(t *testing.T) {
	s := newSim()
	s.fail["h3"] = errUnreachable
	rep := s.runner(3, FleetOptions{Forks: 10, Rolling: true, Batch: 1, MaxUnavailable: 1}).Run(context.Background(), context.Background())
	if results(rep) != "h1=untouched h2=untouched h3=unreachable" || len(s.order) != 0 {
		t.Fatalf("report: %s; plans run: %v", results(rep), s.order)
	}
	s = newSim()
	s.fail["h3"] = errUnreachable
	rep = s.runner(3, FleetOptions{Forks: 10, Rolling: true, Batch: 1, MaxUnavailable: 2, MaxFailures: 1}).Run(context.Background(), context.Background())
	if results(rep) != "h1=done h2=done h3=unreachable" {
		t.Fatalf("report: %s", results(rep))
	}
}

func TestCrashLoopWithinMinReady(t *testing.T) {
	s := newSim()
	s.pidFlip["h1"] = true
	rep := s.runner(2, FleetOptions{Forks: 10, Rolling: true, Batch: 1, MaxUnavailable: 1, MinReady: 300 * time.Millisecond}).Run(context.Background(), context.Background())
	h1 := rep.Hosts[0]
	if h1.Result != HostFailed || h1.Err == nil || !strings.Contains(h1.Err.Error(), "PID changed from 100 to 101") || rep.Hosts[1].Result != HostUntouched {
		t.Fatalf("report: %s; h1 err %v", results(rep), h1.Err)
	}
}

// TestReportShowsTheLastReading: after the min-ready watch, a host's
// outcome is what the watch last read (the new PID, the manager's
// restarts), not what its plan recorded.
func TestReportShowsTheLastReading(t *testing.T) {
	s := newSim()
	s.pidFlip["h1"] = true
	rep := s.runner(1, FleetOptions{Forks: 10, Rolling: true, Batch: 1, MaxUnavailable: 1, MinReady: 200 * time.Millisecond}).Run(context.Background(), context.Background())
	if st := rep.Hosts[0].Outcome.State; st.PID != 101 || st.NRestarts != 1 {
		t.Fatalf("h1's outcome after the watch: %+v, want the watch's pid 101 and 1 restart", st)
	}
}

// TestPreflightUnreadIsNotUnreachable: a host that answered but whose
// status failed (its unit is not installed) failed; it is not unreachable.
func TestPreflightUnreadIsNotUnreachable(t *testing.T) {
	s := newSim()
	s.unread["h2"] = errors.New("status: unit is not installed on this host")
	s.fail["h3"] = errUnreachable
	rep := s.runner(3, FleetOptions{Forks: 10, Rolling: true, Batch: 1, MaxUnavailable: 3, MaxFailures: 2}).Run(context.Background(), context.Background())
	if results(rep) != "h1=done h2=failed h3=unreachable" {
		t.Fatalf("report: %s", results(rep))
	}
	for _, ev := range s.events {
		if ev.Kind == EventPreflight && !strings.Contains(ev.Msg, "(h2 failed, h3 unreachable)") {
			t.Fatalf("preflight: %s", ev.Msg)
		}
	}
}

func TestMinReadyWaitsBeforeTheNextBatch(t *testing.T) {
	s := newSim()
	began := map[string]time.Time{}
	s.onStart = func(h string) { s.mu.Lock(); began[h] = time.Now(); s.mu.Unlock() }
	rep := s.runner(2, FleetOptions{Forks: 10, Rolling: true, Batch: 1, MaxUnavailable: 1, MinReady: 300 * time.Millisecond}).Run(context.Background(), context.Background())
	if gap := began["h2"].Sub(began["h1"]); gap < 300*time.Millisecond {
		t.Fatalf("h2 started %s after h1, want >= min-ready 300ms", gap)
	}
	if rep.Hosts[0].Ready != "stayed healthy for --min-ready 300ms" {
		t.Fatalf("ready note %q", rep.Hosts[0].Ready)
	}
}

func TestParallelRespectsForks(t *testing.T) {
	s := newSim()
	rep := s.runner(10, FleetOptions{Forks: 3}).Run(context.Background(), context.Background())
	if s.peak > 3 || s.peak < 2 || rep.Count(HostDone) != 10 || len(s.batches()) != 0 {
		t.Fatalf("peak %d, done %d", s.peak, rep.Count(HostDone))
	}
}

// Drain (the first SIGINT): no new host; the one in flight finishes.
func TestDrainTouchesNoNewHost(t *testing.T) {
	s := newSim()
	drain, stop := context.WithCancel(context.Background())
	s.onStart = func(h string) {
		if h == "h2" {
			stop()
		}
	}
	rep := s.runner(4, FleetOptions{Forks: 10, Rolling: true, Batch: 1, MaxUnavailable: 1}).Run(drain, context.Background())
	if results(rep) != "h1=done h2=done h3=untouched h4=untouched" || !rep.Interrupted {
		t.Fatalf("report: %s, interrupted %v", results(rep), rep.Interrupted)
	}
	if !slices.ContainsFunc(s.events, func(e FleetEvent) bool { return e.Kind == EventDrain }) {
		t.Fatal("no drain event")
	}
}

func TestParseCount(t *testing.T) {
	for in, want := range map[string]int{"3": 3, "0": 0, "25%": 2, "100%": 10, "5%": 0} {
		c, err := ParseCount(in)
		if err != nil || c.Of(10) != want {
			t.Errorf("ParseCount(%q).Of(10) = %d, %v; want %d", in, c.Of(10), err, want)
		}
	}
	for _, bad := range []string{"", "-1", "x", "101%", "1.5"} {
		if _, err := ParseCount(bad); err == nil {
			t.Errorf("ParseCount(%q): no error", bad)
		}
	}
}

// Hold keeps a host's connection from the start of its plan to the end of
// its min-ready watch, and is let go before the host is reported finished:
// in rolling and parallel runs alike, one hold per host, all released.
func TestHoldSpansPlanAndMinReady(t *testing.T) {
	for _, opts := range []FleetOptions{
		{Forks: 10, Rolling: true, Batch: 2, MaxUnavailable: 2, MinReady: 200 * time.Millisecond},
		{Forks: 3},
	} {
		s := newSim()
		r := s.runner(4, opts)
		var mu sync.Mutex
		var log []string
		held := map[string]bool{}
		r.Hold = func(_ context.Context, tg Target) func() {
			mu.Lock()
			defer mu.Unlock()
			held[tg.Host] = true
			log = append(log, "hold "+tg.Host)
			return func() {
				mu.Lock()
				defer mu.Unlock()
				held[tg.Host] = false
				log = append(log, "release "+tg.Host)
			}
		}
		status := r.Status
		r.Status = func(ctx context.Context, insts []Instance) []InstanceStatus {
			mu.Lock()
			if len(insts) == 1 && !held[insts[0].Host] {
				t.Errorf("rolling %v: the min-ready watch read %s without holding it", opts.Rolling, insts[0].Host)
			}
			mu.Unlock()
			return status(ctx, insts)
		}
		r.OnEvent = func(ev FleetEvent) {
			if ev.Kind == EventFinish {
				mu.Lock()
				if held[ev.Host] {
					t.Errorf("rolling %v: %s reported finished while still held", opts.Rolling, ev.Host)
				}
				mu.Unlock()
			}
		}
		rep := r.Run(context.Background(), context.Background())
		if rep.Count(HostDone) != 4 || len(log) != 8 {
			t.Fatalf("rolling %v: %s; holds %v", opts.Rolling, results(rep), log)
		}
		for h, on := range held {
			if on {
				t.Errorf("rolling %v: %s never released", opts.Rolling, h)
			}
		}
	}
}

// TestRollsByDefault: only a restart of a critical service on more than
// one host rolls when the operator does not say.
func TestRollsByDefault(t *testing.T) {
	critical := &inventory.Service{Name: "api", Critical: true}
	plain := &inventory.Service{Name: "agent"}
	for _, c := range []struct {
		action string
		svc    *inventory.Service
		hosts  int
		want   bool
	}{
		{"restart", critical, 2, true},
		{"restart", critical, 1, false},
		{"restart", plain, 5, false},
		{"stop", critical, 5, false},
		{"start", critical, 5, false},
	} {
		if got := RollsByDefault(c.action, c.svc, c.hosts); got != c.want {
			t.Errorf("%s %s on %d hosts: rolls %v, want %v", c.action, c.svc.Name, c.hosts, got, c.want)
		}
	}
}

// A first interrupt during a host's --min-ready watch lets the watch
// finish, as the steps in flight finish; a second cuts it short, and the
// host is interrupted, not done (--resume does it again).
func TestInterruptDuringMinReady(t *testing.T) {
	for _, second := range []bool{false, true} {
		s := newSim()
		drain, stop := context.WithCancel(context.Background())
		hard, stopHard := context.WithCancel(context.Background())
		s.onStart = func(h string) {
			if h == "h1" {
				time.AfterFunc(100*time.Millisecond, stop)
				if second {
					time.AfterFunc(200*time.Millisecond, stopHard)
				}
			}
		}
		rep := s.runner(2, FleetOptions{Forks: 10, Rolling: true, Batch: 1, MaxUnavailable: 1, MinReady: 500 * time.Millisecond}).Run(drain, hard)
		stop()
		stopHard()
		want, ready := "h1=done h2=untouched", "stayed healthy for --min-ready 500ms"
		if second {
			want, ready = "h1=interrupted h2=untouched", ""
		}
		if results(rep) != want || rep.Hosts[0].Ready != ready {
			t.Errorf("second interrupt %v: %s (ready %q, err %v), want %s", second, results(rep), rep.Hosts[0].Ready, rep.Hosts[0].Err, want)
		}
	}
}
