package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// storeKit is one fresh, empty store of one implementation.
type storeKit struct {
	// open returns a new handle on the kit's store, closed at cleanup.
	// Separate handles stand for separate omni runs.
	open func(t *testing.T) Store
	// spec tells a helper process how to open the same store (helperStore).
	spec string
	// reclaim bounds how long the locks of a SIGKILLed process outlive it.
	reclaim time.Duration
	// check, when set, checks the store's internal consistency.
	check func(t *testing.T)
}

// runStoreTests is the conformance suite every Store passes.
func runStoreTests(t *testing.T, newKit func(t *testing.T) storeKit) {
	tests := []struct {
		name string
		fn   func(t *testing.T, k storeKit)
	}{
		{"Records", testRecords},
		{"Events", testEvents},
		{"EventsOfRunHosts", testEventsOfRunHosts},
		{"EventsSameNanosecond", testEventsSameNanosecond},
		{"LockRefused", testLockRefused},
		{"LockAllOrNothing", testLockAllOrNothing},
		{"LockManyKeys", testLockManyKeys},
		{"LockWait", testLockWait},
		{"LockUnlockIdempotent", testLockUnlockIdempotent},
		{"LockRaceOneWinner", testLockRaceOneWinner},
		{"LockMutualExclusion", testLockMutualExclusion},
		{"LockOfKilledProcess", testLockOfKilledProcess},
		{"KilledWriter", testKilledWriter},
		{"Close", testClose},
		{"ConfigRecord", testConfigRecord},
		{"UpdateConcurrent", testUpdateConcurrent},
		{"Blobs", testBlobs},
		{"BlobDamaged", testBlobDamaged},
		{"ConfigEvents", testConfigEvents},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newKit(t))
		})
	}
}

var t0 = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

func testRecords(t *testing.T, k storeKit) {
	s := k.open(t)
	if _, ok, err := s.Get("worker1", "container-runtime"); ok || err != nil {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	if all, err := s.List(); len(all) != 0 || err != nil {
		t.Fatalf("empty store: %v, %v", all, err)
	}
	want := Record{Host: "worker1", Service: "container-runtime", State: "stopped", Since: t0,
		LastActive: t0.Add(-time.Hour), Health: "failed: port 7400 refused", UpdatedAt: t0}
	must(t, s.Put(want))
	// Host order is not key order: "a-b/x" < "a/x" < "a/y" bytewise.
	for _, r := range []Record{{Host: "a-b", Service: "x"}, {Host: "a", Service: "y"}, {Host: "a", Service: "x"}} {
		r.State, r.UpdatedAt = "running", t0
		must(t, s.Put(r))
	}
	other := k.open(t) // another run sees the same data
	got, ok, err := other.Get("worker1", "container-runtime")
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("Get = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	want.State, want.Since = "running", t0.Add(time.Minute)
	must(t, other.Put(want))
	if got, _, _ := s.Get("worker1", "container-runtime"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after replace: %+v", got)
	}
	all, err := s.List()
	must(t, err)
	var names []string
	for _, r := range all {
		names = append(names, r.Host+"/"+r.Service)
	}
	if w := "a/x a/y a-b/x worker1/container-runtime"; strings.Join(names, " ") != w {
		t.Fatalf("List order: %v, want %s", names, w)
	}
	if err := s.Put(Record{Host: "h"}); err == nil {
		t.Fatal("a record without service was accepted")
	}
}

func testEvents(t *testing.T, k storeKit) {
	s := k.open(t)
	if evs, err := s.Events(EventQuery{}); len(evs) != 0 || err != nil {
		t.Fatalf("empty store: %v, %v", evs, err)
	}
	steps := []EventStep{
		{Step: "stop", Host: "h1", Service: "api", Result: "ok", Duration: 1500 * time.Millisecond},
		{Step: "start", Host: "h1", Service: "api", Result: "failed", Error: "exit 1", Note: "retried", Duration: time.Second},
	}
	begin := func(ev Event) string {
		t.Helper()
		ev.Result, ev.Complete = "ok", true // BeginEvent overrides them
		id, err := s.BeginEvent(ev)
		must(t, err)
		if id == "" {
			t.Fatal("empty ID")
		}
		return id
	}
	e1 := Event{Started: t0, Operator: "alice@m1", Command: "restart", Host: "h1", Service: "api"}
	e1.ID = begin(e1)
	e2 := Event{Started: t0.Add(time.Minute), Operator: "bob@m2", Command: "stop", Host: "h2", Service: "db"}
	e2.ID = begin(e2)
	e3 := Event{Started: t0.Add(2 * time.Minute), Operator: "alice@m1", Command: "start", Host: "h1", Service: "db"}
	e3.ID = begin(e3)
	e4 := Event{Started: t0.Add(3 * time.Minute), Operator: "cron@m3", Command: "restart worker --rolling"}
	e4.ID = begin(e4)

	e1.Steps, e1.Result, e1.Error, e1.Finished = steps, "failed", "start failed", t0.Add(3*time.Second)
	must(t, s.FinishEvent(e1))
	e2.Result = "ok" // Finished unset: the store sets it
	must(t, s.FinishEvent(e2))
	e4.Steps = []EventStep{{Step: "restart", Host: "h3", Service: "api", Result: "ok"}, {Step: "restart", Host: "h1", Service: "api", Result: "ok"}}
	e4.Result, e4.Finished = "ok", t0.Add(4*time.Minute)
	must(t, s.FinishEvent(e4))
	if err := s.FinishEvent(Event{ID: "20990101T000000.000000000Z-00000000", Result: "ok"}); err == nil {
		t.Fatal("FinishEvent of an unknown ID succeeded")
	}

	all, err := k.open(t).Events(EventQuery{})
	must(t, err)
	if got := ids(all); got != ids([]Event{e4, e3, e2, e1}) {
		t.Fatalf("newest first: %s", got)
	}
	byID := map[string]Event{}
	for _, ev := range all {
		byID[ev.ID] = ev
	}
	if g := byID[e3.ID]; g.Complete || g.Result != ResultIncomplete || !g.Finished.IsZero() || g.Operator != "alice@m1" {
		t.Fatalf("unfinished event: %+v", g)
	}
	e1.Complete = true
	if g := byID[e1.ID]; !reflect.DeepEqual(g, e1) {
		t.Fatalf("finished event:\n got %+v\nwant %+v", g, e1)
	}
	if g := byID[e2.ID]; !g.Complete || g.Result != "ok" || g.Finished.IsZero() || !g.Started.Equal(e2.Started) {
		t.Fatalf("finished event without Finished: %+v", g)
	}

	for _, c := range []struct {
		q    EventQuery
		want []Event
	}{
		{EventQuery{Hosts: []string{"h1"}}, []Event{e4, e3, e1}}, // e4 through a step
		{EventQuery{Hosts: []string{"h1"}, Service: "api"}, []Event{e4, e1}},
		{EventQuery{Service: "db"}, []Event{e3, e2}},
		{EventQuery{Hosts: []string{"h2"}, Service: "api"}, nil},
		{EventQuery{Hosts: []string{"nowhere"}}, nil},
		{EventQuery{Since: t0.Add(time.Minute)}, []Event{e4, e3, e2}},
		{EventQuery{Since: t0.Add(time.Minute + 1)}, []Event{e4, e3}},
		{EventQuery{Since: t0.Add(time.Hour)}, nil},
		{EventQuery{Limit: 2}, []Event{e4, e3}},
		{EventQuery{Hosts: []string{"h1"}, Limit: 2}, []Event{e4, e3}},
		{EventQuery{Hosts: []string{"h1"}, Service: "db", Since: t0, Limit: 5}, []Event{e3}},
	} {
		got, err := s.Events(c.q)
		must(t, err)
		if ids(got) != ids(c.want) {
			t.Errorf("Events(%+v) = %s, want %s", c.q, ids(got), ids(c.want))
		}
	}
}

// testEventsSameNanosecond: events begun at the same instant, from several
// handles at once, all get distinct IDs and are all kept.
func testEventsSameNanosecond(t *testing.T, k storeKit) {
	at := t0.Add(time.Hour)
	var wg sync.WaitGroup
	idc := make(chan string, 40)
	for g := range 4 {
		s := k.open(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				id, err := s.BeginEvent(Event{Started: at, Host: "h", Service: "s", Command: fmt.Sprint(g, i)})
				if err != nil {
					t.Error(err)
					return
				}
				idc <- id
			}
		}()
	}
	wg.Wait()
	close(idc)
	seen := map[string]bool{}
	for id := range idc {
		if seen[id] {
			t.Fatalf("duplicate ID %s", id)
		}
		seen[id] = true
	}
	evs, err := k.open(t).Events(EventQuery{Since: at})
	must(t, err)
	if len(seen) != 40 || len(evs) != 40 {
		t.Fatalf("%d IDs, %d events, want 40", len(seen), len(evs))
	}
}

func owner(name string) Owner {
	return Owner{Operator: name + "@test", Command: "restart " + name, Since: time.Now()}
}

func lockedBy(t *testing.T, err error, key, operator string) *LockedError {
	t.Helper()
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want a *LockedError", err)
	}
	if le.Key != key || le.Holder.Operator != operator {
		t.Fatalf("LockedError %+v: want key %s held by %s", le, key, operator)
	}
	return le
}

func testLockRefused(t *testing.T, k storeKit) {
	ctx := context.Background()
	a, b := k.open(t), k.open(t)
	alice := owner("alice")
	unlock, err := a.Lock(ctx, []string{LockKey("h1", "api"), LockKey("h1", "db")}, alice, 0)
	must(t, err)
	start := time.Now()
	_, err = b.Lock(ctx, []string{LockKey("h1", "db")}, owner("bob"), 0)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("wait 0 took %s", d)
	}
	le := lockedBy(t, err, "h1/db", "alice@test")
	if le.Holder.PID != os.Getpid() || le.Holder.Command != "restart alice" || !le.Holder.Since.Equal(alice.Since) || le.Holder.Machine == "" {
		t.Fatalf("holder %+v", le.Holder)
	}
	if msg := err.Error(); !strings.Contains(msg, "h1/db is locked by alice@test") || !strings.Contains(msg, "restart alice") {
		t.Fatalf("message %q", msg)
	}
	// A key nobody holds is free.
	u2, err := b.Lock(ctx, []string{LockKey("h2", "db")}, owner("bob"), 0)
	must(t, err)
	must(t, u2())
	must(t, unlock())
	u3, err := b.Lock(ctx, []string{LockKey("h1", "db")}, owner("bob"), 0)
	must(t, err)
	must(t, u3())
}

func testLockAllOrNothing(t *testing.T, k storeKit) {
	ctx := context.Background()
	a, b, c := k.open(t), k.open(t), k.open(t)
	_, err := a.Lock(ctx, []string{"h/2"}, owner("alice"), 0)
	must(t, err)
	_, err = b.Lock(ctx, []string{"h/1", "h/2", "h/3"}, owner("bob"), 0)
	lockedBy(t, err, "h/2", "alice@test")
	// bob took nothing: h/1 and h/3 are free.
	u, err := c.Lock(ctx, []string{"h/1", "h/3"}, owner("carol"), 0)
	must(t, err)
	must(t, u())
}

// testLockManyKeys: a run over many services (more than etcd takes in one
// transaction) is still all or nothing.
func testLockManyKeys(t *testing.T, k storeKit) {
	ctx := context.Background()
	a, b := k.open(t), k.open(t)
	var keys []string
	for i := range 300 {
		keys = append(keys, LockKey(fmt.Sprintf("host%03d", i), "svc"))
	}
	ua, err := a.Lock(ctx, keys[250:251], owner("alice"), 0)
	must(t, err)
	_, err = b.Lock(ctx, keys, owner("bob"), 0)
	lockedBy(t, err, keys[250], "alice@test")
	u, err := b.Lock(ctx, keys[:250], owner("carol"), 0) // bob left nothing behind
	must(t, err)
	must(t, u())
	must(t, ua())
	u, err = b.Lock(ctx, keys, owner("bob"), 0)
	must(t, err)
	_, err = a.Lock(ctx, keys[299:], owner("alice"), 0)
	lockedBy(t, err, keys[299], "bob@test")
	must(t, u())
}

func testLockWait(t *testing.T, k storeKit) {
	ctx := context.Background()
	a, b := k.open(t), k.open(t)
	unlock, err := a.Lock(ctx, []string{"h/s"}, owner("alice"), 0)
	must(t, err)
	go func() {
		time.Sleep(400 * time.Millisecond)
		unlock()
	}()
	start := time.Now()
	u, err := b.Lock(ctx, []string{"h/s"}, owner("bob"), 20*time.Second)
	must(t, err)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("took the lock after %s, before its holder released it", d)
	}

	// Waiting too short.
	start = time.Now()
	_, err = a.Lock(ctx, []string{"h/s"}, owner("alice"), 500*time.Millisecond)
	lockedBy(t, err, "h/s", "bob@test")
	if d := time.Since(start); d < 500*time.Millisecond || d > 10*time.Second {
		t.Fatalf("gave up after %s, want 500ms", d)
	}

	// Interrupted while waiting: both the holder and the cause.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(300*time.Millisecond, cancel)
	start = time.Now()
	_, err = a.Lock(cctx, []string{"h/s"}, owner("alice"), time.Minute)
	lockedBy(t, err, "h/s", "bob@test")
	if !errors.Is(err, context.Canceled) || time.Since(start) > 10*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
	must(t, u())
}

func testLockUnlockIdempotent(t *testing.T, k storeKit) {
	ctx := context.Background()
	a, b, c := k.open(t), k.open(t), k.open(t)
	unlock, err := a.Lock(ctx, []string{"h/s", "h/t"}, owner("alice"), 0)
	must(t, err)
	must(t, unlock())
	must(t, unlock())
	ub, err := b.Lock(ctx, []string{"h/s"}, owner("bob"), 0)
	must(t, err)
	// alice's stale unlock does not release bob's lock.
	must(t, unlock())
	_, err = c.Lock(ctx, []string{"h/s"}, owner("carol"), 0)
	lockedBy(t, err, "h/s", "bob@test")
	must(t, ub())
	// No keys: nothing to take, nothing to release.
	u, err := c.Lock(ctx, nil, owner("carol"), 0)
	must(t, err)
	must(t, u())
	// Same owner, two Lock calls: the second waits for the first.
	o := owner("dave")
	u1, err := c.Lock(ctx, []string{"h/d"}, o, 0)
	must(t, err)
	_, err = c.Lock(ctx, []string{"h/d"}, o, 0)
	lockedBy(t, err, "h/d", "dave@test")
	must(t, u1())
}

// testLockRaceOneWinner: runs racing for a key without waiting: exactly
// one gets it.
func testLockRaceOneWinner(t *testing.T, k storeKit) {
	const n = 8
	stores := make([]Store, n)
	for i := range stores {
		stores[i] = k.open(t)
	}
	var wg sync.WaitGroup
	var won, refused atomic.Int32
	start := make(chan struct{})
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.Lock(context.Background(), []string{"race/key"}, owner(fmt.Sprint("r", i)), 0)
			var le *LockedError
			switch {
			case err == nil:
				won.Add(1)
			case errors.As(err, &le):
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if won.Load() != 1 || refused.Load() != n-1 {
		t.Fatalf("%d won, %d refused; want 1 and %d", won.Load(), refused.Load(), n-1)
	}
}

// testLockMutualExclusion: goroutines and another OS process increment a
// counter (read, then write: not atomic) under the lock. Exactly one holds
// it at a time, so no increment is lost.
func testLockMutualExclusion(t *testing.T, k storeKit) {
	const goroutines, each = 4, 5
	s0 := k.open(t)
	must(t, s0.Put(Record{Host: "counter", Service: "c", State: "0"}))
	child := startHelper(t, k, "count", "counter/c", each)
	var inside atomic.Int32
	var wg sync.WaitGroup
	for g := range goroutines {
		s := k.open(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				unlock, err := s.Lock(context.Background(), []string{"counter/c"}, owner(fmt.Sprint("g", g)), 30*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) != 1 {
					t.Error("two goroutines hold the lock")
				}
				err = increment(s, 5*time.Millisecond)
				inside.Add(-1)
				if err != nil {
					t.Error(err)
				}
				if err := unlock(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := child.wait(60 * time.Second); err != nil {
		t.Fatalf("helper: %v\n%s", err, child.stderr())
	}
	rec, _, err := s0.Get("counter", "c")
	must(t, err)
	if want := strconv.Itoa(goroutines*each + each); rec.State != want {
		t.Fatalf("counter = %s, want %s: increments were lost", rec.State, want)
	}
}

// increment adds one to the counter record, pausing between read and write.
func increment(s Store, pause time.Duration) error {
	rec, _, err := s.Get("counter", "c")
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(rec.State)
	time.Sleep(pause)
	rec.State = strconv.Itoa(n + 1)
	return s.Put(rec)
}

func testLockOfKilledProcess(t *testing.T, k storeKit) {
	s := k.open(t)
	child := startHelper(t, k, "hold", "h/s", 0)
	child.expect(t, "locked", 30*time.Second)
	_, err := s.Lock(context.Background(), []string{"h/s"}, owner("bob"), 0)
	le := lockedBy(t, err, "h/s", "helper@test")
	if le.Holder.PID != child.cmd.Process.Pid {
		t.Fatalf("holder PID %d, want %d", le.Holder.PID, child.cmd.Process.Pid)
	}
	child.kill(t) // not reaped yet: a zombie until wait
	start := time.Now()
	u, err := s.Lock(context.Background(), []string{"h/s"}, owner("bob"), k.reclaim)
	if err != nil {
		t.Fatalf("lock of a killed process not reclaimed after %s: %v", time.Since(start), err)
	}
	t.Logf("reclaimed %s after SIGKILL", time.Since(start).Round(time.Millisecond))
	must(t, u())
}

// testKilledWriter: a run killed with SIGKILL while writing leaves a
// readable store, its event incomplete, earlier history intact and its
// lock reclaimable.
func testKilledWriter(t *testing.T, k storeKit) {
	child := startHelper(t, k, "write", "w/svc", 5)
	line := child.expect(t, "holding ", 30*time.Second)
	id := strings.TrimPrefix(line, "holding ")
	time.Sleep(200 * time.Millisecond) // in the middle of its write loop
	child.kill(t)
	child.wait(10 * time.Second)
	if k.check != nil {
		k.check(t)
	}

	s := k.open(t)
	rec, ok, err := s.Get("w", "svc")
	if err != nil || !ok || rec.State == "" {
		t.Fatalf("record after kill: %+v %v %v", rec, ok, err)
	}
	if c := rec.Config; c == nil || c.AppliedBy != rec.State || c.Applied != blobHash([]byte(rec.State)) ||
		len(c.Files) != 1 || c.Files[0].Path != "/etc/"+rec.State {
		t.Fatalf("record after kill: state and config of different updates: %+v, %+v", rec, rec.Config)
	}
	if _, err := s.List(); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(EventQuery{Hosts: []string{"w"}, Service: "svc"})
	must(t, err)
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6: %s", len(evs), ids(evs))
	}
	if ev := evs[0]; ev.ID != id || ev.Complete || ev.Result != ResultIncomplete || ev.Command != "killed run" {
		t.Fatalf("killed run's event: %+v (want ID %s)", ev, id)
	}
	for _, ev := range evs[1:] {
		if !ev.Complete || ev.Result != "ok" {
			t.Fatalf("earlier event: %+v", ev)
		}
	}
	u, err := s.Lock(context.Background(), []string{"w/svc"}, owner("bob"), k.reclaim)
	must(t, err)
	must(t, u())
	// Still writable.
	id2, err := s.BeginEvent(Event{Host: "w", Service: "svc", Command: "after"})
	must(t, err)
	must(t, s.FinishEvent(Event{ID: id2, Host: "w", Service: "svc", Command: "after", Result: "ok"}))
}

// testClose: Close releases the handle's locks; the handle is unusable after.
func testClose(t *testing.T, k storeKit) {
	a, b := k.open(t), k.open(t)
	unlock, err := a.Lock(context.Background(), []string{"h/s"}, owner("alice"), 0)
	must(t, err)
	must(t, a.Close())
	must(t, a.Close())
	must(t, unlock())
	if _, err := a.List(); err == nil {
		t.Fatal("List after Close succeeded")
	}
	u, err := b.Lock(context.Background(), []string{"h/s"}, owner("bob"), 0)
	must(t, err)
	must(t, u())
}

func ids(evs []Event) string {
	var s []string
	for _, ev := range evs {
		s = append(s, ev.ID)
	}
	return strings.Join(s, " ")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A fleet run's own event is in the history of the hosts it recorded no
// event for (left untouched, unreachable before their turn): only it says
// what became of them. A host with an event of its own in the run finds
// that event, not the run's as well.
func testEventsOfRunHosts(t *testing.T, k storeKit) {
	s := k.open(t)
	run := Event{Command: "restart", Target: "worker", Service: "api", Hosts: []HostResult{
		{Host: "w1", Result: "done", Event: "x"}, {Host: "w2", Result: "unreachable"}, {Host: "w3", Result: "untouched"}}}
	id, err := s.BeginEvent(run)
	if err != nil {
		t.Fatal(err)
	}
	run.ID = id
	if err := s.FinishEvent(run); err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]int{"w1": 0, "w2": 1, "w3": 1, "w4": 0} {
		evs, err := s.Events(EventQuery{Hosts: []string{host}, Service: "api"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != want {
			t.Errorf("history of %s: %d events, want %d", host, len(evs), want)
		}
	}
	if evs, err := s.Events(EventQuery{Hosts: []string{"w1", "w3"}}); err != nil || len(evs) != 1 {
		t.Errorf("history of w1 and w3: %v, %v; want the run", evs, err)
	}
}
