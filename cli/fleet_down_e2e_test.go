package cli

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// downProbe watches the fleet's container-runtime listeners, each on its
// worker's service address, and keeps the most found down at once.
type downProbe struct {
	stop chan struct{}
	done sync.WaitGroup
	mu   sync.Mutex
	peak int
}

func probeDown(f *testfleet.Fleet) *downProbe {
	addrs := []string{f.Worker.Addr}
	for _, w := range f.Workers {
		addrs = append(addrs, w.Addr)
	}
	port := f.Ports["container-runtime"]
	p := &downProbe{stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		for {
			n := 0
			for _, a := range addrs {
				if !testfleet.Listening(a, port) {
					n++
				}
			}
			p.mu.Lock()
			p.peak = max(p.peak, n)
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return p
}

// end stops the probe and returns the most instances it found down at once.
func (p *downProbe) end() int {
	close(p.stop)
	p.done.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// TestRollingRestartWithInstancesDown: after an incident that left 2 of 4
// instances stopped, a rolling restart with --max-unavailable 1 brings
// them back first, then restarts the other two, one at a time: exit 0,
// all 4 running, never more than 2 down at once. With all 4 down it brings
// all 4 back, --batch at a time.
func TestRollingRestartWithInstancesDown(t *testing.T) {
	t.Parallel()
	f := fourWorkers(t, 86)
	mustRun(t, f, "service", "stop", "worker2,worker4", "container-runtime", "--yes")
	before := pids(f, "container-runtime")
	if testfleet.Alive(before["worker2"]) || testfleet.Alive(before["worker4"]) {
		t.Fatalf("worker2 and worker4 still run container-runtime: %v", before)
	}
	probe := probeDown(f)
	out, errOut, code := omni(t, f, "service", "restart", "worker", "container-runtime", "--max-unavailable", "1", "--min-ready", "0")
	peak := probe.end()
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if peak > 2 {
		t.Fatalf("%d instances were down at once, want at most 2 (the 2 already down)\n%s", peak, errOut)
	}
	batches := batchLine.FindAllStringSubmatch(errOut, -1)
	var got []string
	for _, b := range batches {
		got = append(got, b[3])
	}
	note := " (already unavailable: restarted first, spending none of --max-unavailable)"
	if strings.Join(got, " | ") != "worker2"+note+" | worker4"+note+" | worker1 | worker3" || batches[0][2] != "4" {
		t.Fatalf("batches %q\n%s", got, errOut)
	}
	if !strings.Contains(errOut, "preflight: 2 of 4 instances already unavailable (worker2 stopped, worker4 stopped); they go first") {
		t.Errorf("preflight line:\n%s", errOut)
	}
	after := pids(f, "container-runtime")
	for _, w := range workers {
		if after[w] == before[w] || !testfleet.Alive(after[w]) {
			t.Fatalf("%s: pid %d -> %d, want a new live process\n%s", w, before[w], after[w], errOut)
		}
	}
	if !strings.Contains(out, "restart container-runtime on 4 hosts of worker: 4 done") {
		t.Fatalf("table:\n%s", out)
	}

	// All 4 down: all 4 back, --batch at a time (here 2).
	mustRun(t, f, "service", "stop", "worker", "container-runtime", "--yes")
	out, errOut, code = omni(t, f, "service", "restart", "worker", "container-runtime", "--max-unavailable", "1", "--batch", "2", "--min-ready", "0")
	if code != 0 {
		t.Fatalf("all down: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if b := batchLine.FindAllStringSubmatch(errOut, -1); len(b) != 2 || b[0][3] != "worker1, worker2"+note || b[1][3] != "worker3, worker4"+note {
		t.Fatalf("all down: batches %q\n%s", b, errOut)
	}
	for w, pid := range pids(f, "container-runtime") {
		if !testfleet.Alive(pid) {
			t.Fatalf("all down: %s does not run container-runtime after the restart\n%s", w, errOut)
		}
	}
}
