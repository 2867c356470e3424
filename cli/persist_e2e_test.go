package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestRestartThroughPersistentConnection: with OMNI_CONTROL_PERSIST, the
// first restart connects and leaves a master behind; the second goes
// through it, waits for the same round trips after authentication (every
// channel and request still crosses to the host), and -v says so.
func TestRestartThroughPersistentConnection(t *testing.T) {
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.95", WorkerAddr: "127.0.1.96", Extra: []testfleet.Service{
		{Name: "web", Role: "bastion"},
	}})
	inv, err := os.ReadFile(f.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	plain := f.ServiceYAML("web", "")
	inv = []byte(strings.Replace(string(inv), plain, readyOnStart(f, "web"), 1))
	if err := os.WriteFile(f.Inventory, inv, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, f, "service", "start", "primary-bastion", "web")

	runtime := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", runtime)
	t.Setenv(transport.ControlPersistEnv, "1m")
	dir := filepath.Join(runtime, "omni")
	t.Cleanup(func() { killTestMasters(t, dir) })

	fresh := fmt.Sprintf("primary-bastion: %d round trips after authentication\n", restartRoundTrips)
	_, errOut, code := omni(t, f, "service", "restart", "-v", "primary-bastion", "web")
	if code != 0 || !strings.HasSuffix(errOut, fresh) {
		t.Fatalf("first restart -v: exit %d, stderr does not end with %q:\n%s", code, fresh, errOut)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if socks, _ := filepath.Glob(filepath.Join(dir, "*.sock")); len(socks) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no master socket after the first run")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("control directory: %v %v, want mode 0700", info.Mode(), err)
	}
	// Through the master, the session's open crosses to the host on its
	// own: the login that carried it was the master's.
	warm := fmt.Sprintf("primary-bastion: %d round trips after authentication (via the persistent connection)\n", restartRoundTrips+1)
	_, errOut, code = omni(t, f, "service", "restart", "-v", "primary-bastion", "web")
	if code != 0 || !strings.HasSuffix(errOut, warm) {
		t.Fatalf("second restart -v: exit %d, stderr does not end with %q:\n%s", code, warm, errOut)
	}
	out := mustRun(t, f, "service", "status", "primary-bastion", "web")
	if !strings.Contains(out, "running") {
		t.Fatalf("status through the master:\n%s", out)
	}
}

// killTestMasters ends the masters whose lock files are in dir, by PID,
// when their command line shows them to be this test's masters.
func killTestMasters(t *testing.T, dir string) {
	locks, _ := filepath.Glob(filepath.Join(dir, "*.lock"))
	for _, lock := range locks {
		data, _ := os.ReadFile(lock)
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 1 {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(cmdline), transport.MasterArg) && strings.Contains(string(cmdline), dir) {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		socks, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
		if len(socks) == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
