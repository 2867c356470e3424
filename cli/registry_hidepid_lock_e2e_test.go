package cli

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestRunLockNotTakenOverUnderHidepid (found by review): the run lock on a hardened ops box
// whose /proc is mounted hidepid=2 (each user sees only its own processes
// in /proc, a common hardening). Two operators share the team's registry
// file (registry.path in the inventory, as docs/cron.md advises): root's
// restart of worker1/container-runtime is in its stop step, and a second
// operator (another user, here uid 65534) runs the same restart.
//
// The operator expects what docs/registry.md promises for a lock held by
// a live run on the same machine: the second run exits 5 at once, naming
// the holder ("worker1/container-runtime is locked by ... (pid N on ...)"),
// and the service is restarted once.
//
// omni used to treat the lock as stale and take it over: the first
// run's process is invisible in the second user's /proc, and
// registry.processAlive (registry/proc.go) read a missing /proc/PID
// while /proc/self/stat exists as "there is no such process", without
// asking kill(pid, 0) (which answers EPERM: alive). The second run
// restarted the service while the first was still restarting it: two
// runs on the same service at once, exit 0 for both.
func TestRunLockNotTakenOverUnderHidepid(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a mount namespace with /proc hidepid=2, and a second user")
	}
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.50.21", WorkerAddr: "127.0.50.22"})
	inv := []string{"-i", f.Inventory, "--ssh-config", "none"}
	// The running instance takes 4 s to stop: the first run's stop step.
	f.SetFlags("worker1", "container-runtime", "--stop-delay 4s")
	if out, err := exec.Command(bin, append(inv, "service", "start", "worker1", "container-runtime")...).CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	f.SetFlags("worker1", "container-runtime", "")
	starts := countStarts(t, f, "worker1", "container-runtime")

	// The second operator's copy of what it needs: the team's inventory
	// (same registry file, same hosts), its own copy of the deploy key.
	const uid = 65534
	other := filepath.Join(f.Dir, "other")
	os.MkdirAll(other, 0o755)
	key, err := os.ReadFile(f.Bastion.IdentityFile)
	if err != nil {
		t.Fatal(err)
	}
	otherBin := filepath.Join(other, "omni") // omni as installed: any user may run it
	if data, err := os.ReadFile(bin); err != nil || os.WriteFile(otherBin, data, 0o755) != nil {
		t.Fatalf("copying omni: %v", err)
	}
	otherKey := filepath.Join(other, "id")
	os.WriteFile(otherKey, key, 0o600)
	os.Chown(otherKey, uid, uid)
	invText, _ := os.ReadFile(f.Inventory)
	otherInv := filepath.Join(other, "inventory.yaml")
	os.WriteFile(otherInv, []byte(strings.Replace(string(invText), "identity_file: "+f.Bastion.IdentityFile, "identity_file: "+otherKey, 1)), 0o644)
	for d := f.Dir; d != "/" && strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	os.Chmod(f.Dir, 0o777)
	os.Chmod(f.KnownHosts, 0o644)
	regFile := filepath.Join(f.Dir, "state.json") // the fleet's registry (a bbolt file)
	if err := os.Chmod(regFile, 0o666); err != nil {
		t.Fatal(err)
	}

	// Run A (root): the restart, held in its 4 s stop.
	a := exec.Command(bin, append(inv, "service", "restart", "worker1", "container-runtime", "-v")...)
	pipe, _ := a.StderrPipe()
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Process.Kill() })
	var aErr bytes.Buffer
	inStop := make(chan struct{})
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		sc := bufio.NewScanner(pipe)
		once := false
		for sc.Scan() {
			aErr.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), "ensure") {
				once = true
				close(inStop)
			}
		}
	}()
	select {
	case <-inStop:
	case <-time.After(20 * time.Second):
		t.Fatalf("run A did not reach its stop:\n%s", aErr.String())
	}
	time.Sleep(500 * time.Millisecond)

	// Run B: the other operator, on the same box, where /proc is hidepid=2.
	b := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount -t proc -o hidepid=2 proc /proc && exec setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=`+other+` "$@"`,
		"sh", otherBin, "-i", otherInv, "--ssh-config", "none", "service", "restart", "worker1", "container-runtime")
	var bOut bytes.Buffer
	b.Stdout, b.Stderr = &bOut, &bOut
	b.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	bStart := time.Now()
	err = b.Run()
	bCode := b.ProcessState.ExitCode()
	bTook := time.Since(bStart)
	<-aDone
	a.Wait()
	restarts := countStarts(t, f, "worker1", "container-runtime") - starts

	if bCode != ExitRefused || !strings.Contains(bOut.String(), "worker1/container-runtime is locked by ") || restarts != 1 {
		t.Errorf("a second operator's restart while root's held the lock (same box, /proc hidepid=2): exit %d after %s (want 5, naming the holder); container-runtime started %d times (want 1)\nsecond run:\n%s\nfirst run (exit %d):\n%s",
			bCode, bTook.Round(time.Millisecond), restarts, bOut.String(), a.ProcessState.ExitCode(), aErr.String())
	}
}
