package cli

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
	bolt "go.etcd.io/bbolt"
)

// TestInterruptWhileRegistryBusyExits130 (found by review): another process keeps the
// registry file open (a `bbolt` command left running on it, a stuck omni),
// so omni waits for it (up to 5 s). The operator presses Ctrl-C (or cron's
// timeout sends SIGTERM) one second into the wait.
//
// The operator expects what docs/exit-codes.md and docs/reliability.md
// ("Interrupts") say of a first interrupt before anything has begun
// changing the service: omni stops there, exit 130 (interrupted), nothing
// changed; as it does when the same signal comes while it waits for the
// run lock (that wait ends within milliseconds, exit 130).
//
// omni used to print its interrupt note and keep waiting for the file
// for the rest of its 5 s, then exit 5 (refused: "registry FILE is busy:
// another process has kept it open for over 5s ... try again"): the
// interrupt was ignored and lost, and a cron job's log said the registry
// was busy rather than that the job was interrupted. Cause: the file wait
// did not watch the command's context: registry.Open dropped it for the
// bbolt store, so neither Bolt.init/precheck (flockShared polled until its
// deadline) nor bbolt's own open timeout saw it, nor any later
// transaction's wait. Nothing has begun changing the service, so the note
// that what has begun is finished first is not said either.
func TestInterruptWhileRegistryBusyExits130(t *testing.T) {
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.50.41", WorkerAddr: "127.0.50.42"})
	inv := []string{"-i", f.Inventory, "--ssh-config", "none"}
	if out, err := exec.Command(bin, append(inv, "service", "start", "worker1", "container-runtime")...).CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	// Another process's hold on the file, as far as omni can tell (as in
	// TestUnusableRegistryTouchesNoHost).
	holder, err := bolt.Open(filepath.Join(f.Dir, "state.json"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd := exec.Command(bin, append(inv, "service", "restart", "worker1", "container-runtime")...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		sent := time.Now()
		cmd.Process.Signal(sig)
		cmd.Wait()
		took := time.Since(sent)
		if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted || took > 2*time.Second {
			t.Errorf("%v one second into the wait for a busy registry: exit %d %s after the signal, want 130 at once\noutput:\n%s",
				sig, code, took.Round(10*time.Millisecond), out.String())
		}
		if strings.Contains(out.String(), interruptNoteText) {
			t.Errorf("%v before anything changed: omni said it finishes what has begun changing the service\noutput:\n%s", sig, out.String())
		}
	}
}
