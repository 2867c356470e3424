package cli

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// docs/cron.md's nightly rolling recipe,
//
//	omni ... service restart worker container-runtime --yes --batch 25% --min-ready 30s --max-failures 1
//
// is sold as "a quarter of them at a time ... tolerating one bad host".
// It tolerates none: --max-unavailable defaults to the batch (1 of 4), and
// the host that failed stays "down", using the whole budget, so the run
// aborts right after the first bad host ("--max-unavailable 1: 1 of 4
// instances are unavailable (worker2 failed); taking down another would
// exceed it") and every host after it is left untouched, night after
// night. --max-failures 1 can never be reached. The same happens when one
// host is unreachable at the preflight: nothing at all is restarted
// (exit 4). (--min-ready is 1s here instead of 30s, to keep the test fast.)
func TestCronRecipeToleratesOneBadHost(t *testing.T) {
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.97.30", WorkerAddr: "127.0.97.31",
		MoreWorkers: []string{"127.0.97.32", "127.0.97.33", "127.0.97.34"}})
	mustRun(t, f, "service", "start", "worker", "container-runtime")
	// worker2's next start is unhealthy: the bad host of the night.
	f.SetFlags("worker2", "container-runtime", "--unhealthy")

	out, errOut, code := omni(t, f, "-o", "json", "service", "restart", "worker", "container-runtime",
		"--yes", "--batch", "25%", "--min-ready", "1s", "--max-failures", "1")
	var doc struct {
		Result   string `json:"result"`
		ExitCode int    `json:"exit_code"`
		Aborted  string `json:"aborted"`
		Hosts    []struct {
			Host   string `json:"host"`
			Result string `json:"result"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json: %v\n%s\n%s", err, out, errOut)
	}
	got := map[string]string{}
	for _, h := range doc.Hosts {
		got[h.Host] = h.Result
	}
	if got["worker2"] != "failed" {
		t.Fatalf("premise: worker2 should fail its health check: %v\n%s", got, errOut)
	}
	var untouched []string
	for _, w := range []string{"worker1", "worker3", "worker4"} {
		if got[w] != "done" {
			untouched = append(untouched, w+"="+got[w])
		}
	}
	if len(untouched) > 0 || code != 3 {
		t.Errorf("cron.md's recipe (--batch 25%% --max-failures 1, \"tolerating one bad host\") did not tolerate one bad host: exit %d, %s; aborted: %q\nstderr:\n%s",
			code, strings.Join(untouched, ", "), doc.Aborted, errOut)
	}
}

// TestPreflightDoesNotSayUnreachableHostGoesFirst: the morning log of
// a rolling run with one host unreachable says of it "preflight: 1 of 4
// instances already unavailable (worker3 unreachable); it goes first", but
// an unreachable host is failed at the preflight and never goes at all
// (fleet.md: "a host that cannot be reached is a failure before anything
// starts"): the log says the run did something it did not. Here
// --max-unavailable 2 lets the run go on: worker1, worker2 and worker4 are
// restarted, worker3 is never attempted.
func TestPreflightDoesNotSayUnreachableHostGoesFirst(t *testing.T) {
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.97.70", WorkerAddr: "127.0.97.71",
		MoreWorkers: []string{"127.0.97.72", "127.0.97.73", "127.0.97.74"}})
	mustRun(t, f, "service", "start", "worker", "container-runtime")
	w3 := f.Workers[1]
	inv := f.Variant("w3down.yaml", "address: "+w3.Addr+"\n    port: "+strconv.Itoa(w3.Port)+"\n", "address: "+w3.Addr+"\n    port: 1\n")

	s, out, errOut := TestStreams("", false)
	code := Run(context.Background(), []string{"-i", inv, "service", "restart", "worker", "container-runtime",
		"--yes", "--min-ready", "0s", "--max-unavailable", "2", "--max-failures", "1"}, s)
	var preflight string
	for _, l := range strings.Split(errOut.String(), "\n") {
		if strings.Contains(l, "preflight:") {
			preflight = l
		}
	}
	if !strings.Contains(errOut.String(), "worker3: UNREACHABLE") || code != 3 {
		t.Fatalf("premise: worker3 unreachable, the others done, exit 3: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(errOut.String(), "worker3: Restarting") {
		t.Fatalf("premise: worker3 is never attempted\n%s", errOut)
	}
	if strings.Contains(preflight, "goes first") || strings.Contains(preflight, "go first") {
		t.Errorf("the preflight line says the unreachable host goes first, but it is never attempted:\n%s\n(whole log:\n%s)", preflight, errOut)
	}
}
