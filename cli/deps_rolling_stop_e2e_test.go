package cli

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestRollingStopIsNotACrashLoop (found by review): docs/fleet.md says `--rolling` makes any
// fleet command rolling. `service stop worker container-runtime --rolling
// --yes --min-ready 1s` on two healthy workers should stop worker1, then
// worker2: exit 0, both stopped.
//
// omni stops worker1, then runs the restart's --min-ready watch on it
// ("worker1: healthy; watching for --min-ready 1s", false: it was just
// stopped), finds it not running, calls the stop it just did a crash loop
// ("min-ready: crash loop: stopped within --min-ready 1s of its restart"),
// fails the host, records that failure in the history, aborts the roll
// (--max-failures 0) and leaves worker2 untouched: exit 1 for a stop that
// did exactly what was asked.
func TestRollingStopIsNotACrashLoop(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.7.10", WorkerAddr: "127.0.7.11", MoreWorkers: []string{"127.0.7.12"}})
	mustRun(t, f, "service", "start", "worker", "container-runtime")

	out, errOut, code := omni(t, f, "service", "stop", "worker", "container-runtime", "--rolling", "--yes", "--min-ready", "1s")
	if code != ExitOK {
		t.Errorf("rolling stop of two healthy workers: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "crash loop") {
		t.Errorf("a service omni itself stopped is called a crash loop:\n%s\n%s", out, errOut)
	}
	for _, w := range []string{"worker1", "worker2"} {
		if testfleet.Alive(f.PID(w, "container-runtime")) {
			t.Errorf("container-runtime on %s still runs after the rolling stop", w)
		}
	}
	hist, _, _ := omni(t, f, "service", "history", "worker1", "container-runtime")
	if first := strings.SplitN(hist, "\n", 3); len(first) > 1 && strings.Contains(first[1], "failed") {
		t.Errorf("the history records worker1's successful stop as failed:\n%s", hist)
	}
}
