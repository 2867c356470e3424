package cli

import (
	"os"
	"strings"
	"testing"
)

// TestResumeNamesAHostNoLongerATarget (found by review): scenario: a roll aborts at
// worker2 (unhealthy, --max-failures 0), leaving worker3 and worker4
// untouched; worker4 is then removed from the inventory and the job is
// resumed. Expected: the resume says what the last run left: 3 of 4 hosts,
// worker2, worker3 and worker4, and that worker4 is no longer in the
// inventory (so will not be done), rather than silently dropping it.
// Observed: "omni: --resume: the run of ... left 2 of 4 hosts to do:
// worker2, worker3" (a wrong count: it left 3), worker4 named nowhere,
// exit 0 and "result": "ok", as if the job were finished. Likely cause:
// engine/targets.go Resume: it keeps only the planned-and-unfinished hosts
// found in the current targets, and counts/names only those; a planned
// host missing from the targets is dropped without a word.
func TestResumeNamesAHostNoLongerATarget(t *testing.T) {
	t.Parallel()
	f := rrFleet(t, 40)
	f.SetFlags("worker2", "container-runtime", "--unhealthy")
	out, errOut, code := omni(t, f, "-o", "json", "service", "restart", "worker", "container-runtime", "--yes", "--min-ready", "0s")
	_, got := rrParse(t, out, errOut)
	if code != 3 || got["worker2"] != "failed" || got["worker4"] != "untouched" {
		t.Fatalf("premise: exit %d results %v\n%s", code, got, errOut)
	}
	f.SetFlags("worker2", "container-runtime", "")
	b, _ := os.ReadFile(f.Inventory)
	inv := string(b)
	i := strings.Index(inv, "  worker4:\n")
	j := strings.Index(inv, "roles:\n  all:")
	if i < 0 || j < i {
		t.Fatalf("inventory layout:\n%s", inv)
	}
	if err := os.WriteFile(f.Inventory, []byte(inv[:i]+inv[j:]), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = omni(t, f, "-o", "json", "service", "restart", "worker", "container-runtime", "--yes", "--min-ready", "0s", "--resume")
	_, got = rrParse(t, out, errOut)
	t.Logf("resume exit %d got %v\n%s\n%s", code, got, out, errOut)
	if !strings.Contains(errOut, "worker4") && !strings.Contains(out, "worker4") {
		t.Errorf("--resume silently dropped worker4 (left untouched by the last run, now gone from the inventory): exit %d, results %v\nstderr:\n%s", code, got, errOut)
	}
}
