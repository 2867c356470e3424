package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// oneFileFleet is a fleet whose service app (worker) declares one
// file, DIR/h/app.conf from DIR/src/app.conf, with the given extra keys
// of its entry (e.g. `mode: "0644"`). It returns the fleet, the source
// and the host's path.
func oneFileFleet(t *testing.T, bastion, worker, entryKeys string) (*testfleet.Fleet, string, string) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"h", "src"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src, dst := filepath.Join(dir, "src", "app.conf"), filepath.Join(dir, "h", "app.conf")
	keys := "files: [{path: " + dst + ", source: " + src
	if entryKeys != "" {
		keys += ", " + entryKeys
	}
	keys += "}]"
	f := testfleet.Start(t, testfleet.Options{BastionAddr: bastion, WorkerAddr: worker,
		Extra: []testfleet.Service{{Name: "app", Role: "worker", Keys: keys}}})
	return f, src, dst
}

// TestRollbackOfAttributesOnlyApplyPutsModeBack: docs/config.md: `config
// rollback` by default restores "the state before the last apply". When
// the last apply changed only a file's mode (a commit that tightened
// `mode: "0600"`, the service can no longer read it), the rollback puts
// the mode back and leaves the content alone. (It used to skip that apply
// and undo the one before it: an older content change nobody asked to
// revert, with the breaking mode kept.)
func TestRollbackOfAttributesOnlyApplyPutsModeBack(t *testing.T) {
	f, src, dst := oneFileFleet(t, "127.0.233.11", "127.0.233.12", `mode: "0644"`)
	const v1, v2 = "workers 4\n", "workers 16\n"
	writeFile(t, src, v1)
	mustRun(t, f, "config", "apply", "worker1", "app", "--restart", "none")
	writeFile(t, src, v2)
	mustRun(t, f, "config", "apply", "worker1", "app", "--restart", "none") // v1 → v2 (last week)
	replaceInInventory(t, f, `mode: "0644"`, `mode: "0600"`)
	mustRun(t, f, "config", "apply", "worker1", "app", "--restart", "none") // only the mode (today)
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o600 {
		t.Fatalf("the mode-only apply: mode %o", st.Mode().Perm())
	}

	out, errOut, code := omni(t, f, "config", "rollback", "worker1", "app", "--yes", "--restart", "none")
	st, _ := os.Stat(dst)
	if code != 0 || st.Mode().Perm() != 0o644 {
		t.Errorf("rollback of a mode-only apply: exit %d, mode %04o; want 0 and the mode before it, 0644\n%s%s", code, st.Mode().Perm(), out, errOut)
	}
	if got := readFile(t, dst); got != v2 {
		t.Errorf("rollback of the last apply (a mode change) rewrote the content: %q → %q (it undid the apply before it)", v2, got)
	}
}

// TestRollbackPutsBackModeOfLastApply: the last apply changed a file's
// content and its mode (0644 → 0600) in one commit; `config rollback`
// restores both, as they were before that apply.
func TestRollbackPutsBackModeOfLastApply(t *testing.T) {
	f, src, dst := oneFileFleet(t, "127.0.233.13", "127.0.233.14", `mode: "0644"`)
	const v1, v2 = "workers 4\n", "workers 16\n"
	writeFile(t, src, v1)
	mustRun(t, f, "config", "apply", "worker1", "app", "--restart", "none")
	writeFile(t, src, v2)
	replaceInInventory(t, f, `mode: "0644"`, `mode: "0600"`)
	mustRun(t, f, "config", "apply", "worker1", "app", "--restart", "none")

	out, errOut, code := omni(t, f, "config", "rollback", "worker1", "app", "--yes", "--restart", "none")
	if code != 0 || readFile(t, dst) != v1 {
		t.Fatalf("rollback: exit %d, content %q\n%s%s", code, readFile(t, dst), out, errOut)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o644 {
		t.Errorf("after the rollback of the last apply the file has mode %04o, it had 0644 before that apply", st.Mode().Perm())
	}
}

// TestRefusedRollbackDoesNotSayNothingToWrite: a refused rollback
// (exit 5: the registry lacks the old content) prints, on stdout, "Nothing
// to write: the host has these contents already." The host does not have
// them: the rollback was refused. An operator (or a script reading
// stdout) is told the host is already as wanted.
func TestRefusedRollbackDoesNotSayNothingToWrite(t *testing.T) {
	f, src, dst := oneFileFleet(t, "127.0.233.19", "127.0.233.20", "")
	writeFile(t, dst, "workers 24\n")
	writeFile(t, src, "workers 4\n")
	mustRun(t, f, "config", "apply", "worker1", "app", "--restart", "none")
	out, errOut, code := omni(t, f, "config", "rollback", "worker1", "app", "--yes", "--restart", "none")
	if code != ExitRefused {
		t.Fatalf("rollback without the old content: exit %d, want 5\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "the host has these contents already") {
		t.Errorf("a refused rollback says the host has the contents already (it has not):\n%s%s", out, errOut)
	}
}
