package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/historytest"
	"github.com/omni-fleet/omni/internal/testkit/testfleet"
	"github.com/omni-fleet/omni/registry"
)

// The fleet tests run in parallel with each other, each on its own
// addresses: 127.0.1.61 and up.

// fourWorkers is a bastion and worker1..worker4, each a real sshd; the
// workers run network-agent and container-runtime (critical, so a restart
// of several is rolling by default).
func fourWorkers(t *testing.T, first int) *testfleet.Fleet {
	addr := func(i int) string { return "127.0.1." + strconv.Itoa(first+i) }
	f := testfleet.Start(t, testfleet.Options{BastionAddr: addr(0), WorkerAddr: addr(1),
		MoreWorkers: []string{addr(2), addr(3), addr(4)}})
	mustRun(t, f, "service", "start", "worker", "container-runtime") // and network-agent, its dependency
	return f
}

var workers = []string{"worker1", "worker2", "worker3", "worker4"}

func pids(f *testfleet.Fleet, service string) map[string]int {
	out := map[string]int{}
	for _, w := range workers {
		out[w] = f.PID(w, service)
	}
	return out
}

// batchLine matches a progress line of a batch, timestamped for cron.
var batchLine = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ batch (\d+)/(\d+): (.*)$`)

// TestRollingRestartInBatches: a restart of a critical service on a role
// is rolling; batches of 2 go in order, the second only after the first
// is healthy and stayed so for --min-ready.
func TestRollingRestartInBatches(t *testing.T) {
	t.Parallel()
	f := fourWorkers(t, 61)
	before := pids(f, "container-runtime")
	out, errOut, code := omni(t, f, "service", "restart", "worker", "container-runtime", "--batch", "2", "--min-ready", "1s")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	batches := batchLine.FindAllStringSubmatch(errOut, -1)
	if len(batches) != 2 || batches[0][3] != "worker1, worker2" || batches[1][3] != "worker3, worker4" || batches[0][2] != "2" {
		t.Fatalf("batches: %q\nstderr:\n%s", batches, errOut)
	}
	after := pids(f, "container-runtime")
	for _, w := range workers {
		if after[w] == before[w] || !testfleet.Alive(after[w]) {
			t.Fatalf("%s: pid %d -> %d, want a new live process", w, before[w], after[w])
		}
	}
	// Health-gated and min-ready: the second batch's processes started at
	// least --min-ready (1 s = 100 clock ticks) after the first batch's.
	first := max(procStart(after["worker1"]), procStart(after["worker2"]))
	second := min(procStart(after["worker3"]), procStart(after["worker4"]))
	if second-first < 100 {
		t.Fatalf("second batch started %d ticks after the first, want >= 100 (min-ready 1s)\n%s", second-first, errOut)
	}
	for _, want := range []string{"stayed healthy for --min-ready 1s", "Z worker4: done in"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("progress lacks %q:\n%s", want, errOut)
		}
	}
	if !regexp.MustCompile(`(?m)^2 +worker4 +container-runtime +done +Running +0m \d+s +Passed `).MatchString(out) ||
		!strings.Contains(out, "restart container-runtime on 4 hosts of worker: 4 done") {
		t.Fatalf("table:\n%s", out)
	}
}

// TestRollingRestartAbortsAndResumes: a host that fails its health check
// stops the run (max-failures 0): the hosts after it are untouched, exit
// 3. --resume retries only what is left; a crash loop within --min-ready
// is a failure too.
func TestRollingRestartAbortsAndResumes(t *testing.T) {
	t.Parallel()
	f := fourWorkers(t, 66)
	before := pids(f, "container-runtime")
	f.SetFlags("worker2", "container-runtime", "--unhealthy")
	out, errOut, code := omni(t, f, "service", "restart", "worker", "container-runtime", "--min-ready", "0")
	if code != ExitPartial {
		t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	mid := pids(f, "container-runtime")
	if mid["worker1"] == before["worker1"] || mid["worker2"] == before["worker2"] ||
		mid["worker3"] != before["worker3"] || mid["worker4"] != before["worker4"] {
		t.Fatalf("pids %v -> %v: want worker1 and worker2 restarted, worker3 and worker4 untouched", before, mid)
	}
	for _, want := range []string{"Failed: worker2", "Untouched: worker3, worker4", "1 done, 1 failed, 2 untouched",
		"health: http", "--max-failures 0", "--resume"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "Z worker2: FAILED") || !strings.Contains(errOut, "aborted: 1 host failed") {
		t.Errorf("progress:\n%s", errOut)
	}

	// Fixed; --resume does worker2, worker3, worker4 and leaves worker1 be.
	f.SetFlags("worker2", "container-runtime", "")
	out, errOut, code = omni(t, f, "service", "restart", "worker", "container-runtime", "--resume", "--min-ready", "0")
	if code != 0 {
		t.Fatalf("resume: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	end := pids(f, "container-runtime")
	if end["worker1"] != mid["worker1"] || end["worker3"] == mid["worker3"] || end["worker4"] == mid["worker4"] || end["worker2"] == mid["worker2"] {
		t.Fatalf("resume: pids %v -> %v: want worker2..4 restarted, worker1 left", mid, end)
	}
	if !strings.Contains(errOut, "left 3 of 4 hosts to do: worker2, worker3, worker4") || !strings.Contains(out, "3 done") {
		t.Fatalf("resume output:\n%s\n%s", out, errOut)
	}
	_, errOut, code = omni(t, f, "service", "restart", "worker", "container-runtime", "--resume")
	if code != 0 || !strings.Contains(errOut, "finished on every host; nothing to do") {
		t.Fatalf("second resume: exit %d\n%s", code, errOut)
	}

	// A crash loop: healthy at first, gone within --min-ready.
	f.SetFlags("worker1", "container-runtime", "--exit-after 600ms")
	out, errOut, code = omni(t, f, "-o", "json", "service", "restart", "worker", "container-runtime", "--min-ready", "2s")
	if code != ExitFailed {
		t.Fatalf("crash loop: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var doc fleetDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if doc.Result != "failed" || doc.Mode != "rolling" || len(doc.Hosts) != 4 || doc.Hosts[0].Result != "failed" ||
		!strings.Contains(doc.Hosts[0].Error, "crash loop") || doc.Hosts[1].Result != "untouched" || doc.Summary["untouched"] != 3 {
		t.Fatalf("crash loop document:\n%s", out)
	}
	if len(doc.Hosts[0].Steps) < 2 || doc.Hosts[0].Steps[0].Step != "ensure" || doc.Hosts[0].Steps[1].Step != "stop" {
		t.Fatalf("the document lacks the host's steps:\n%s", out)
	}
	for _, r := range registryRecords(t, f) {
		if r.Host == "worker1" && r.Service == "container-runtime" && !strings.Contains(r.Health, "crash loop") {
			t.Fatalf("registry after the crash loop: %+v", r)
		}
	}
}

// TestUnreachableHostIsReported: a worker whose sshd is down is a failure,
// named, never hidden: by default nothing else is touched (exit 4); with
// --max-failures 1 the others are restarted (exit 3).
func TestUnreachableHostIsReported(t *testing.T) {
	t.Parallel()
	f := fourWorkers(t, 71)
	f.Workers[2].Stop() // worker4
	before := pids(f, "container-runtime")
	out, errOut, code := omni(t, f, "service", "restart", "worker", "container-runtime", "--min-ready", "0")
	if code != ExitUnreachable {
		t.Fatalf("exit %d, want 4\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "Unreachable: worker4") || !strings.Contains(out, "Untouched: worker1, worker2, worker3") {
		t.Fatalf("report:\n%s", out)
	}
	if after := pids(f, "container-runtime"); after["worker1"] != before["worker1"] {
		t.Fatal("worker1 was restarted although a host was unreachable and --max-failures is 0")
	}
	out, errOut, code = omni(t, f, "service", "restart", "worker", "container-runtime", "--min-ready", "0", "--max-failures", "1", "--batch", "50%")
	if code != ExitPartial || !strings.Contains(out, "3 done, 1 unreachable") || !strings.Contains(out, "Unreachable: worker4") {
		t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// status says so too, and exits 4.
	out, _, code = omni(t, f, "service", "status", "worker*", "container-runtime")
	if code != ExitUnreachable || !regexp.MustCompile(`(?m)^worker4 +container-runtime +Unreachable `).MatchString(out) {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
}

// TestInterruptedRollingRestart: SIGINT during a rolling restart touches no
// new host, lets the host in flight finish, exits 130, and leaves the
// registry consistent: records true, the run's event complete, the locks
// free, and --resume able to finish.
func TestInterruptedRollingRestart(t *testing.T) {
	t.Parallel()
	f := fourWorkers(t, 76)
	before := pids(f, "container-runtime")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	errW := &cancelOn{marker: "worker2: Restarting", cancel: func() { once.Do(cancel) }}
	var outBuf strings.Builder
	s := Streams{In: strings.NewReader(""), Out: &outBuf, Err: errW, NoColor: true}
	code := Run(ctx, []string{"-i", f.Inventory, "service", "restart", "worker", "container-runtime", "--min-ready", "0"}, s)
	out, errOut := outBuf.String(), errW.String()
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want 130\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	after := pids(f, "container-runtime")
	// worker2 was in flight when the signal came: it finished its restart.
	if after["worker1"] == before["worker1"] || after["worker2"] == before["worker2"] || !testfleet.Alive(after["worker2"]) ||
		after["worker3"] != before["worker3"] || after["worker4"] != before["worker4"] {
		t.Fatalf("pids %v -> %v: want worker1, worker2 restarted, the rest untouched\n%s", before, after, errOut)
	}
	if !strings.Contains(out, "Untouched: worker3, worker4") || !strings.Contains(errOut, "interrupted: no new host") {
		t.Fatalf("report:\n%s\n%s", out, errOut)
	}
	for _, r := range registryRecords(t, f) {
		if r.Service == "container-runtime" && (r.State != "running" || r.Health != "passed") {
			t.Fatalf("registry: %+v", r)
		}
	}
	reg, err := registry.Open(context.Background(), filepath.Join(f.Dir, "state.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	events, err := reg.Events(registry.EventQuery{})
	reg.Close()
	var run *registry.Event
	for i, e := range events {
		if e.Host == "" && e.Target == "worker" && strings.HasPrefix(e.Command, "restart") {
			run = &events[i]
			break
		}
	}
	if err != nil || run == nil || !run.Complete || run.Result != "interrupted" ||
		len(run.Hosts) != 4 || run.Hosts[1].Result != "done" || run.Hosts[2].Result != "untouched" {
		t.Fatalf("the run's event: %+v (%v)", run, err)
	}
	for _, e := range events {
		if !e.Complete {
			t.Fatalf("an event left incomplete: %+v", e)
		}
	}
	out, errOut, code = omni(t, f, "service", "restart", "worker", "container-runtime", "--resume", "--min-ready", "0")
	if code != 0 || !strings.Contains(errOut, "worker3, worker4") || !strings.Contains(out, "2 done") {
		t.Fatalf("resume after the interrupt: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestFleetTargets: start, stop, status and logs over a glob, a comma list,
// a role and all; hosts that do not run the service are skipped with a
// note; a stop of a critical service on several hosts refuses without a
// terminal unless --yes.
func TestFleetTargets(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.81", WorkerAddr: "127.0.1.82", MoreWorkers: []string{"127.0.1.83"}})
	out, errOut, code := omni(t, f, "service", "start", "all", "network-agent", "--forks", "2")
	if code != 0 || !strings.Contains(out, "start network-agent on 3 hosts of all: 3 done") {
		t.Fatalf("start all: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = omni(t, f, "service", "start", "all", "container-runtime")
	if code != 0 || !strings.Contains(errOut, "skipped, they do not run container-runtime: primary-bastion") || !strings.Contains(out, "2 done") {
		t.Fatalf("start all container-runtime: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = omni(t, f, "service", "start", "worker[12]", "container-runtime")
	if code != 0 || !strings.Contains(out, "2 unchanged") {
		t.Fatalf("start again: exit %d\n%s\n%s", code, out, errOut)
	}
	// On a terminal: the live view (redrawn in place), finished hosts above it.
	out, errOut, code = omniCtx(context.Background(), t, f, true, "", "service", "start", "worker*", "container-runtime")
	if code != 0 || !strings.Contains(errOut, "\x1b[") || !strings.Contains(errOut, "Starting: ") ||
		!strings.Contains(errOut, "✓ worker1: unchanged in ") || strings.Contains(errOut, "Z worker1") {
		t.Fatalf("live view: exit %d\n%q", code, errOut)
	}
	out, errOut, code = omni(t, f, "service", "logs", "worker1,worker2", "container-runtime", "-n", "3")
	if code != 0 || !regexp.MustCompile(`(?m)^worker1 \| .*\n`).MatchString(out) || !regexp.MustCompile(`(?m)^worker2 \| `).MatchString(out) {
		t.Fatalf("logs: exit %d\n%s\n%s", code, out, errOut)
	}
	// Critical, no terminal: refused, nothing changed.
	before := f.PID("worker1", "container-runtime")
	out, errOut, code = omni(t, f, "service", "stop", "worker*", "container-runtime")
	if code != ExitRefused || !strings.Contains(errOut, "pass --yes") || f.PID("worker1", "container-runtime") != before {
		t.Fatalf("stop without --yes: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = omni(t, f, "-o", "json", "service", "stop", "worker*", "container-runtime", "--yes")
	var doc fleetDoc
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || doc.Mode != "parallel" || doc.Summary["done"] != 2 ||
		doc.Hosts[0].Status == nil || doc.Hosts[0].Status.State != "stopped" {
		t.Fatalf("stop --yes: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, w := range []string{"worker1", "worker2"} {
		if testfleet.Alive(f.PID(w, "container-runtime")) {
			t.Fatalf("%s: container-runtime still running", w)
		}
	}
	// --dry-run: how the hosts would be taken, each host's plan, no change.
	out, errOut, code = omni(t, f, "service", "restart", "worker", "container-runtime", "--dry-run", "--batch", "50%")
	if code != 0 || !strings.Contains(out, "Rolling restart of container-runtime on 2 hosts, in batches of 1 (max-unavailable 1") ||
		strings.Count(out, "Plan: restart container-runtime on worker") != 2 {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	// A typo in a target is an error with a suggestion, and changes nothing.
	_, errOut, code = omni(t, f, "service", "restart", "wroker*,wroker1", "network-agent")
	if code != ExitUsage || !strings.Contains(errOut, "glob matches no host") {
		t.Fatalf("bad target: exit %d\n%s", code, errOut)
	}
	_, errOut, code = omni(t, f, "service", "restart", "wrker", "network-agent")
	if code != ExitUsage || !strings.Contains(errOut, `did you mean "worker"`) {
		t.Fatalf("bad target: exit %d\n%s", code, errOut)
	}
}

// TestResumeWaitingForTheLockLeavesOutWhatWasDone: a --resume run that
// waits for the lock (--lock-timeout) reads its hosts again once it holds
// it. Another run of the job that finished a host meanwhile is not
// undone: that host is left out and named, and the report, the progress
// and the JSON are of the hosts it ran; when nothing is left, it runs
// nothing and exits 0.
func TestResumeWaitingForTheLockLeavesOutWhatWasDone(t *testing.T) {
	t.Parallel()
	f := fourWorkers(t, 111)
	const svc = "container-runtime"
	reg, err := registry.Open(context.Background(), filepath.Join(f.Dir, "state.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	job := func(started time.Time, results ...string) registry.Event {
		ev := registry.Event{Started: started, Finished: started, Complete: true, Command: "restart worker " + svc,
			Target: "worker", Service: svc, Result: "partial"}
		for i, r := range results {
			ev.Hosts = append(ev.Hosts, registry.HostResult{Host: workers[i], Result: r})
		}
		return ev
	}
	// resumeAround runs `--resume` while the test holds worker1's lock;
	// once the run has read its hosts, between, then the lock is let go.
	resumeAround := func(between func()) (string, string, int) {
		t.Helper()
		unlock, err := reg.Lock(context.Background(), []string{registry.LockKey("worker1", svc)},
			registry.Owner{Operator: "cron@ops", PID: os.Getpid(), Command: "restart worker " + svc}, 0)
		if err != nil {
			t.Fatal(err)
		}
		read := make(chan struct{})
		var once sync.Once
		errOut := &cancelOn{marker: "omni: --resume: the run of", cancel: func() { once.Do(func() { close(read) }) }}
		out := &strings.Builder{}
		code := make(chan int, 1)
		go func() {
			s := Streams{In: strings.NewReader(""), Out: out, Err: errOut, NoColor: true}
			code <- Run(context.Background(), []string{"-i", f.Inventory, "-o", "json", "service", "restart", "worker", svc,
				"--resume", "--min-ready", "0", "--lock-timeout", "60s"}, s)
		}()
		select {
		case <-read:
		case <-time.After(30 * time.Second):
			unlock()
			t.Fatalf("the run did not read its hosts: %s", errOut.String())
		}
		between()
		unlock()
		c := <-code
		return out.String(), errOut.String(), c
	}

	now := time.Now().UTC()
	historytest.Record(t, reg, job(now.Add(-2*time.Minute), "failed", "failed", "failed", "failed"))
	before := pids(f, svc)
	out, errOut, code := resumeAround(func() {
		// The run that held the lock finished worker1, then was stopped.
		historytest.Record(t, reg, job(now.Add(-time.Minute), "done", "untouched", "untouched", "untouched"))
	})
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	after := pids(f, svc)
	if after["worker1"] != before["worker1"] || after["worker2"] == before["worker2"] ||
		after["worker3"] == before["worker3"] || after["worker4"] == before["worker4"] {
		t.Fatalf("pids %v -> %v: want worker2..4 restarted and worker1, done meanwhile, left", before, after)
	}
	if !strings.Contains(errOut, "left 4 of 4 hosts to do") ||
		!strings.Contains(errOut, "no longer leaves worker1 to do (another run ended since): left out") ||
		!strings.Contains(errOut, "restart "+svc+" on 3 hosts of worker") {
		t.Errorf("stderr:\n%s", errOut)
	}
	var doc fleetDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if doc.Result != "ok" || len(doc.Hosts) != 3 || doc.Hosts[0].Host != "worker2" || doc.Summary["done"] != 3 {
		t.Fatalf("document:\n%s", out)
	}

	// Nothing left once the lock is held: nothing is touched or recorded.
	historytest.Record(t, reg, job(now.Add(time.Minute), "failed", "failed", "failed", "failed"))
	before = pids(f, svc)
	var events int
	out, errOut, code = resumeAround(func() {
		historytest.Record(t, reg, job(now.Add(2*time.Minute), "done", "done", "done", "done"))
		evs, err := reg.Events(registry.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		events = len(evs)
	})
	evs, err := reg.Events(registry.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || len(evs) != events || !strings.Contains(errOut, "worker1, worker2, worker3, worker4 to do") {
		t.Fatalf("nothing left: exit %d, events %d then %d\nstdout:\n%s\nstderr:\n%s", code, events, len(evs), out, errOut)
	}
	if after := pids(f, svc); after["worker1"] != before["worker1"] || after["worker4"] != before["worker4"] {
		t.Fatalf("nothing left, yet pids %v -> %v", before, after)
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Result != "unchanged" || len(doc.Hosts) != 0 {
		t.Fatalf("nothing left: document (%v):\n%s", err, out)
	}
}
