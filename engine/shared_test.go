package engine

import (
	"context"
	"testing"
	"time"
)

// planWith is a plan of host whose cascade restarts reach groups, in order.
func planWith(groups ...string) *Plan {
	p := &Plan{}
	for _, g := range groups {
		p.Tasks = append(p.Tasks, Task{Step: StepStart, Group: g, Cascade: CascadeRestart})
	}
	return p
}

type entered struct {
	run bool
	by  string
}

// enterAsync is enter in a goroutine of its own.
func enterAsync(s *sharedWork, host, key string, t Task) <-chan entered {
	ch := make(chan entered, 1)
	go func() {
		held, by := s.enter(context.Background(), host, key, restarts(t))
		ch <- entered{held, by}
	}()
	return ch
}

func waitFor(t *testing.T, ch <-chan entered, what string) entered {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: still waiting after 5s", what)
		return entered{}
	}
}

func notYet(t *testing.T, ch <-chan entered, what string) {
	t.Helper()
	select {
	case e := <-ch:
		t.Fatalf("%s: did not wait (%+v)", what, e)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestSharedCascadeRestartIsDoneOnceByTheLastPlan: two plans in flight
// reach the same dependent: the first waits for the second, which restarts
// it; the first notes who did.
func TestSharedCascadeRestartIsDoneOnceByTheLastPlan(t *testing.T) {
	s := newSharedWork()
	task := Task{Step: StepStart, Group: "reporter@b", Cascade: CascadeRestart}
	s.begin("w1", planWith("reporter@b"))
	s.begin("w2", planWith("reporter@b"))
	first := enterAsync(s, "w1", "reporter@b", task)
	notYet(t, first, "w1, with w2 still to reach it")
	if run, _ := s.enter(context.Background(), "w2", "reporter@b", true); !run {
		t.Fatal("w2, the last to reach it, does not run it")
	}
	notYet(t, first, "w1, while w2 restarts it")
	s.leave("w2", "reporter@b", true)
	if e := waitFor(t, first, "w1"); e.run || e.by != "w2" {
		t.Errorf("w1 after w2's restart: %+v, want not run, by w2", e)
	}
}

// TestSharedCascadeRestartOfAPlanThatEnded: a plan that ends without
// reaching the group (its target failed) no longer holds the others.
func TestSharedCascadeRestartOfAPlanThatEnded(t *testing.T) {
	s := newSharedWork()
	task := Task{Step: StepStart, Group: "x", Cascade: CascadeRestart}
	s.begin("w1", planWith("x"))
	s.begin("w2", planWith("x"))
	first := enterAsync(s, "w1", "x", task)
	notYet(t, first, "w1")
	s.end("w2")
	if e := waitFor(t, first, "w1"); !e.run {
		t.Errorf("w1 after w2 ended: %+v, want run", e)
	}
}

// TestSharedGroupsInOppositeOrdersDoNotDeadlock: w1 reaches x then y, w2 y
// then x. A waiting plan makes no other wait for it: every group is done,
// none twice at once.
func TestSharedGroupsInOppositeOrdersDoNotDeadlock(t *testing.T) {
	s := newSharedWork()
	tx := Task{Step: StepStart, Group: "x", Cascade: CascadeRestart}
	s.begin("w1", planWith("x", "y"))
	s.begin("w2", planWith("y", "x"))
	w1x := enterAsync(s, "w1", "x", tx)
	notYet(t, w1x, "w1 at x")
	// w1 waits: w2 does not wait for it at y.
	if run, _ := s.enter(context.Background(), "w2", "y", true); !run {
		t.Fatal("w2 at y waits for a plan that is itself waiting")
	}
	s.leave("w2", "y", true)
	if run, _ := s.enter(context.Background(), "w2", "x", true); !run {
		t.Fatal("w2 at x, the last to reach it, does not run it")
	}
	s.leave("w2", "x", true)
	if e := waitFor(t, w1x, "w1 at x"); e.run {
		t.Errorf("w1 at x after w2 restarted it: %+v, want not run", e)
	}
	// y was restarted before w1 reached it: w1 restarts it after its target.
	if run, _ := s.enter(context.Background(), "w1", "y", true); !run {
		t.Error("w1 at y, restarted before w1's target was done, is not restarted again")
	}
}

// TestSharedConfigAheadIsNotTheRestart: a segment of a dependent's group
// that restarts nothing (its configuration written before the target's
// stop) neither waits for the other plans nor counts as the restart: the
// plan that reaches the restart later still waits for them, then restarts
// it.
func TestSharedConfigAheadIsNotTheRestart(t *testing.T) {
	s := newSharedWork()
	s.begin("w1", planWith("r"))
	s.begin("w2", planWith("r"))
	if held, _ := s.enter(context.Background(), "w2", "r", false); !held {
		t.Fatal("w2's config segment does not get the group")
	}
	s.leave("w2", "r", false)
	w1 := enterAsync(s, "w1", "r", Task{Step: StepStart, Group: "r", Cascade: CascadeRestart})
	notYet(t, w1, "w1 at the restart, w2 still to reach it")
	if held, _ := s.enter(context.Background(), "w2", "r", true); !held {
		t.Fatal("w2, the last to reach the restart, does not run it")
	}
	s.leave("w2", "r", true)
	if e := waitFor(t, w1, "w1"); e.run || e.by != "w2" {
		t.Errorf("w1 after w2's restart: %+v, want not run, by w2", e)
	}
}

// TestSharedEnsureRunsOnePlanAtATime: an ensure of a shared dependency is
// run by one plan at a time; the next runs its own once the first is done.
func TestSharedEnsureRunsOnePlanAtATime(t *testing.T) {
	s := newSharedWork()
	task := Task{Step: StepEnsure}
	s.begin("w1", &Plan{})
	s.begin("w2", &Plan{})
	if run, _ := s.enter(context.Background(), "w1", "db@b", false); !run {
		t.Fatal("w1, first, does not run the ensure")
	}
	second := enterAsync(s, "w2", "db@b", task)
	notYet(t, second, "w2 while w1 ensures db")
	s.leave("w1", "db@b", false)
	if e := waitFor(t, second, "w2"); !e.run {
		t.Errorf("w2 after w1's ensure: %+v, want run (its ensure finds db running)", e)
	}
}

// TestSharedWaitEndsWithItsContext: a cancelled run stops waiting.
func TestSharedWaitEndsWithItsContext(t *testing.T) {
	s := newSharedWork()
	s.enter(context.Background(), "w1", "db@b", false)
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan bool, 1)
	go func() { held, by := s.enter(ctx, "w2", "db@b", false); ch <- held || by != "" }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case either := <-ch:
		if either {
			t.Error("a cancelled plan holds the group, or was told another did the work")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled plan still waits")
	}
}
