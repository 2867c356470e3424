package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestApplyFailedAfterWritingRecordsWhatItWrote: config.Apply's
// script renames the written files first and fixes the attributes of the
// unchanged ones after; when such a later command fails (here a chown to
// an owner that host does not have yet; equally a daemon-reload that
// fails or outlasts the timeout), the files already renamed are on the
// host, but the apply reports "failed: nothing written" and records the
// host as untouched (recordFailure): no event naming the written file,
// no blob, no pending restart. Once the owner is fixed, the next apply
// finds the file equal and restarts nothing: the service keeps running
// the old configuration although the new file is on disk
// (docs/config.md: "a failed run is not forgotten", ansible#10498).
func TestApplyFailedAfterWritingRecordsWhatItWrote(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"h", "src"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a, b := filepath.Join(dir, "src", "a.conf"), filepath.Join(dir, "src", "b.conf")
	ha, hb := filepath.Join(dir, "h", "a.conf"), filepath.Join(dir, "h", "b.conf")
	writeFile(t, a, "workers 4\n")
	writeFile(t, b, "log info\n")
	keys := "files:\n" +
		"      - {path: " + ha + ", source: " + a + "}\n" +
		"      - {path: " + hb + ", source: " + b + "}"
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.233.27", WorkerAddr: "127.0.233.28",
		Extra: []testfleet.Service{{Name: "app", Role: "worker", Keys: keys}}})
	mustRun(t, f, "service", "start", "worker1", "app")
	pid := f.PID("worker1", "app")

	// One commit: a.conf changes, b.conf gets an owner this host lacks.
	writeFile(t, a, "workers 16\n")
	replaceInInventory(t, f, "source: "+b+"}", "source: "+b+", owner: omni-nosuchuser}")
	out, errOut, code := omni(t, f, "config", "apply", "worker1", "app")
	t.Logf("apply: exit %d\n%s%s", code, out, errOut)
	if code != ExitFailed {
		t.Fatalf("apply with an unknown owner: exit %d, want 1", code)
	}
	if readFile(t, ha) != "workers 16\n" {
		t.Fatal("premise: a.conf is replaced before the chown of b.conf fails")
	}
	if strings.Contains(out, "nothing written") {
		t.Errorf("the apply says \"nothing written\" on worker1, yet %s was replaced", ha)
	}

	// The owner fixed: the apply must restart app, which still runs with
	// the old a.conf.
	replaceInInventory(t, f, ", owner: omni-nosuchuser}", "}")
	out, errOut, code = omni(t, f, "config", "apply", "worker1", "app")
	if code != 0 {
		t.Fatalf("second apply: exit %d\n%s%s", code, out, errOut)
	}
	if after := f.PID("worker1", "app"); after == pid {
		t.Errorf("app (pid %d) was never restarted with the new %s: the second apply says\n%s", pid, filepath.Base(ha), out)
	}
}
