package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// historyDoc is `omni -o json service history` as a test reads it.
type historyDoc struct {
	Events []map[string]any `json:"events"`
}

func readHistoryJSON(t *testing.T, f *testfleet.Fleet, args ...string) historyDoc {
	t.Helper()
	out, errOut, code := omni(t, f, append([]string{"-o", "json", "service", "history"}, args...)...)
	if code != 0 {
		t.Fatalf("history: exit %d\n%s\n%s", code, out, errOut)
	}
	var h historyDoc
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("history json: %v\n%s", err, out)
	}
	return h
}

// TestFleetRunEventNamesItsOperator: the bug: the event a fleet
// run records for the run itself (the row `service history` shows as
// "worker (2 hosts)") has no operator. omni writes it with an empty
// Operator (engine/run.go runFleet builds runEvent without
// h.owner.Operator, while every host event has it), so `service history`
// prints an empty OPERATOR cell for every fleet run and `-o json` prints
// `"operator": ""`. It should record user@machine, as it does for every
// other event: docs/registry.md, "An event (one per operation): operator
// `user@machine`", README "`omni service history` lists the recorded
// operations, newest first: who ran what", and docs/json.md "Absent
// values are omitted" (an empty string is printed instead).
func TestFleetRunEventNamesItsOperator(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.78.10", WorkerAddr: "127.0.78.11"})
	mustRun(t, f, "service", "start", "all", "network-agent")

	h := readHistoryJSON(t, f, "all", "network-agent")
	var run map[string]any
	for _, e := range h.Events {
		if _, ok := e["hosts"]; ok && e["target"] == "all" {
			run = e
		}
	}
	if run == nil {
		t.Fatalf("no event of the fleet run `start all network-agent` in the history: %v", h.Events)
	}
	if op, _ := run["operator"].(string); !strings.Contains(op, "@") {
		t.Errorf("the fleet run's own event has operator %q, want user@machine as every event has (docs/registry.md): %v", run["operator"], run)
	}

	// The text history: the fleet run's row has an operator too.
	out := mustRun(t, f, "service", "history", "all", "network-agent")
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "all (2 hosts)") && !strings.Contains(line, "@") {
			t.Errorf("the history row of the fleet run names no operator:\n%s", out)
		}
	}
}

// TestInterruptedSingleHostRecordedInterrupted: the bug: a stop of one
// host interrupted (SIGINT/SIGTERM) once it has begun changing the service
// is finished first and exits 130, with `-o json` "result":
// "interrupted"; but the registry records its event as "ok", so
// `omni service history` tells the morning after that the cron job's run
// that exited 130 went fine. (The same interrupt on a fleet of that one
// host, `worker1*`, records its run as "interrupted".) Root cause:
// engine/run.go finishedEvent classifies only out.Err, which is nil for a
// run finished first; the 130 is decided later in cli/service.go
// (finishedFirst). It should record "interrupted": docs/registry.md, an
// event's `result` "... The word is the class the exit code comes from
// (exit-codes.md)"; exit-codes.md "130 interrupted".
func TestInterruptedSingleHostRecordedInterrupted(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.78.12", WorkerAddr: "127.0.78.13"})
	// A container-runtime that ignores SIGTERM: its stop takes stop_grace
	// (5s), then SIGKILL, so the interrupt surely comes during the stop.
	f.SetFlags("worker1", "container-runtime", "--ignore-sigterm")
	mustRun(t, f, "service", "start", "worker1", "container-runtime")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logPath := filepath.Join(f.RunDir, "worker1.container-runtime.log")
	go func() { // the first interrupt, once the service got its SIGTERM
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "ignoring SIGTERM") {
				cancel()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	out, errOut, code := omniCtx(ctx, t, f, false, "", "-o", "json", "service", "stop", "worker1", "container-runtime", "--yes")
	if code != 130 || !strings.Contains(out, `"result": "interrupted"`) {
		t.Fatalf("the test's premise: an interrupted stop exits 130, result interrupted; got exit %d\n%s\n%s", code, out, errOut)
	}

	h := readHistoryJSON(t, f, "worker1", "container-runtime", "--limit", "1")
	if len(h.Events) != 1 {
		t.Fatalf("history: %v", h.Events)
	}
	ev := h.Events[0]
	if !strings.HasPrefix(ev["command"].(string), "stop") {
		t.Fatalf("newest event is not the stop: %v", ev)
	}
	if ev["result"] != "interrupted" {
		t.Errorf("the stop exited 130 (result interrupted) but its history event reads %q, want \"interrupted\" (docs/registry.md: the word is the class the exit code comes from): %v",
			ev["result"], ev)
	}
}

// runInventory runs omni in-process against another inventory file.
func runInventory(inv string, args ...string) (string, string, int) {
	s, out, errOut := TestStreams("", false)
	code := Run(context.Background(), append([]string{"-i", inv}, args...), s)
	return out.String(), errOut.String(), code
}

// TestHistoryOfHostShowsRunThatLeftItUnreachable: the bug: a rolling restart
// whose preflight finds worker2 unreachable ends with worker2
// "unreachable" (exit 4; table, JSON and the run's own event all say
// so), but `omni service history worker2 container-runtime` does not show
// that run at all: the host gets no event of its own, and the history
// filter (registry/event.go EventQuery.matches) looks at an event's host
// and its steps, never at the run event's `hosts` list. The morning after,
// the history of worker2 says nothing happened to it. It should list the
// run, saying worker2 ended unreachable: docs/fleet.md "Every host is
// accounted for. Each host ends done, unchanged, failed, unreachable,
// interrupted or untouched, in the table, the JSON and the registry
// (`omni service history`)", exit-codes.md "The table, the JSON document
// and `omni service history` say which host ended how", docs/registry.md
// "The history of a host or a service includes the events about it".
func TestHistoryOfHostShowsRunThatLeftItUnreachable(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.78.20", WorkerAddr: "127.0.78.21",
		MoreWorkers: []string{"127.0.78.22"}})
	mustRun(t, f, "service", "start", "worker", "container-runtime")
	// worker2's sshd as seen from this inventory: a closed port.
	down := f.Variant("worker2-down.yaml", "port: "+strconv.Itoa(f.Workers[0].Port)+"\n", "port: 1\n")

	out, errOut, code := runInventory(down, "service", "restart", "worker", "container-runtime", "--min-ready", "0")
	if code != 4 || !strings.Contains(out, "Unreachable: worker2") {
		t.Fatalf("the test's premise: the rolling restart ends with worker2 unreachable, exit 4; got exit %d\n%s\n%s", code, out, errOut)
	}

	out, errOut, code = runInventory(down, "-o", "json", "service", "history", "worker2", "container-runtime")
	if code != 0 {
		t.Fatalf("history: exit %d\n%s\n%s", code, out, errOut)
	}
	var h historyDoc
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("history json: %v\n%s", err, out)
	}
	found := false
	for _, e := range h.Events {
		if strings.HasPrefix(e["command"].(string), "restart") {
			found = true
		}
	}
	if !found {
		t.Errorf("`service history worker2 container-runtime` does not show the restart in which worker2 ended unreachable; events: %v", h.Events)
	}
	// The text history says what became of worker2 in that run.
	out, errOut, code = runInventory(down, "service", "history", "worker2", "container-runtime")
	if code != 0 || !regexp.MustCompile(`worker2 \(in worker, 2 hosts\)\s+container-runtime\s+unreachable`).MatchString(out) {
		t.Errorf("the text history of worker2 does not say it ended unreachable in the run: exit %d\n%s\n%s", code, out, errOut)
	}
}
