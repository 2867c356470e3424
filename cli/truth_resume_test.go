package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestNothingToResumeJSON: the bug: when `--resume` finds
// nothing left, `-o json` prints `"summary": null` (cli/fleet.go
// nothingToResume builds the fleetDoc without a Summary map, and the
// field has no omitempty), so `jq '.summary | keys'` or `.summary.done`
// in a cron job's monitoring fails on a run that went fine; and with
// `--dry-run` it prints that same run document, without `"dry_run":
// true` (a dry run's document is told apart by that field). It should
// omit absent values and say it is a dry run: docs/json.md "Absent values
// are omitted", and "`--dry-run -o json` prints {"command", "target",
// "service", "dry_run": true, ...}".
func TestNothingToResumeJSON(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.78.30", WorkerAddr: "127.0.78.31"})
	mustRun(t, f, "service", "start", "all", "network-agent")

	out, errOut, code := omni(t, f, "-o", "json", "service", "start", "all", "network-agent", "--resume")
	if code != 0 || !strings.Contains(errOut, "nothing to do") {
		t.Fatalf("the test's premise: --resume after a run done everywhere has nothing to do, exit 0; got %d\n%s\n%s", code, out, errOut)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if v, ok := doc["summary"]; ok && v == nil {
		t.Errorf("--resume with nothing to do: \"summary\": null in the document (docs/json.md: absent values are omitted):\n%s", out)
	}

	out, errOut, code = omni(t, f, "-o", "json", "service", "start", "all", "network-agent", "--resume", "--dry-run")
	if code != 0 {
		t.Fatalf("--resume --dry-run: exit %d\n%s\n%s", code, out, errOut)
	}
	doc = nil
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if doc["dry_run"] != true {
		t.Errorf("--resume --dry-run -o json: the document does not say \"dry_run\": true (docs/json.md):\n%s", out)
	}
}
