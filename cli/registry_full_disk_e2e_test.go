package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestRegistryOnFullDiskIsNamedExit2 (found by review): the registry lives on a file system
// that is full (a small /var, logs that grew overnight). The operator runs
// `omni service restart worker1 container-runtime`.
//
// docs/reliability.md ("A registry file that cannot be used") and
// docs/registry.md say a full disk is found before any host is touched and
// stops the command with `registry FILE cannot be used (...): use a
// regular file in a directory that exists, on a file system with room
// (--registry, or registry.path in the inventory)`, exit 2 (a setup to
// fix; docs/exit-codes.md: "the registry file is ... not writable (named,
// with what to do ...)").
//
// omni used to say only `omni: write FILE: no space left on device` and
// exit 1 ("failed", as if a step had failed on the host), with neither
// the registry named as such nor what to do. The file check at open
// (Bolt.init's write commits without needing a new page) passes; the
// first write that needs room (the run lock or the run's event) fails,
// and Bolt.guarded (registry/bolt.go) returned db.Update's error as it
// was: only bolt.Open's errors went through openError, which knew ENOSPC.
// (Nothing is touched on the host; that part was right.)
func TestRegistryOnFullDiskIsNamedExit2(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a mount namespace with a small tmpfs")
	}
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.50.31", WorkerAddr: "127.0.50.32"})
	inv := []string{"-i", f.Inventory, "--ssh-config", "none"}
	if out, err := exec.Command(bin, append(inv, "service", "start", "worker1", "container-runtime")...).CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	pid := f.PID("worker1", "container-runtime")
	good := filepath.Join(f.Dir, "state.json") // the fleet's registry, with its history

	// A 256 KiB file system holding the registry, filled up; omni runs
	// inside the mount namespace that has it.
	mnt := t.TempDir()
	script := fmt.Sprintf(`set -e
mount -t tmpfs -o size=256k tmpfs %[1]s
cp %[2]s %[1]s/registry.db
dd if=/dev/zero of=%[1]s/fill bs=4k 2>/dev/null || true
set +e
"$@" --registry %[1]s/registry.db service restart worker1 container-runtime
`, mnt, good)
	cmd := exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh", bin}, inv...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Run()
	code := cmd.ProcessState.ExitCode()
	reg := filepath.Join(mnt, "registry.db")
	msg := out.String()
	if f.PID("worker1", "container-runtime") != pid {
		t.Errorf("the host was touched: pid %d, then %d", pid, f.PID("worker1", "container-runtime"))
	}
	if code != ExitUsage || !strings.Contains(msg, "registry "+reg+" cannot be used (") || !strings.Contains(msg, "on a file system with room") {
		t.Errorf("restart with the registry on a full disk: exit %d, want 2 with `registry %s cannot be used (...): ... on a file system with room ...`\noutput:\n%s", code, reg, msg)
	}
}
