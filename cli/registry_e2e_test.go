package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

var omniBinary struct {
	once sync.Once
	path string
	err  error
}

// buildOmni builds the omni binary once per test binary: tests that must
// kill a real omni process (SIGKILL) need one.
func buildOmni(t *testing.T) string {
	t.Helper()
	omniBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "omni-cli-test-")
		if err != nil {
			omniBinary.err = err
			return
		}
		omniBinary.path = filepath.Join(dir, "omni")
		out, err := exec.Command("go", "build", "-o", omniBinary.path, "github.com/omni-fleet/omni").CombinedOutput()
		if err != nil {
			omniBinary.err = err
			t.Logf("%s", out)
		}
	})
	if omniBinary.err != nil {
		t.Fatalf("building omni: %v", omniBinary.err)
	}
	return omniBinary.path
}

// countStarts counts how many times a service's process started, from its log.
func countStarts(t *testing.T, f *testfleet.Fleet, host, service string) int {
	b, _ := os.ReadFile(filepath.Join(f.RunDir, host+"."+service+".log"))
	return strings.Count(string(b), ": started\n")
}

// TestRunLockAndHistory: two runs on the same service at once — the second
// is refused, naming the first, and the service restarts exactly once; the
// history records both, newest first; status shows live and recorded state.
func TestRunLockAndHistory(t *testing.T) {
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.57", WorkerAddr: "127.0.1.58", Extra: []testfleet.Service{
		{Name: "slow-api", Role: "bastion", Flags: "--ready-after 1500ms"},
	}})
	mustRun(t, f, "service", "start", "primary-bastion", "slow-api")
	starts := countStarts(t, f, "primary-bastion", "slow-api")

	// Run A restarts slow-api (it takes 1.5 s to be ready, within its 2 s health budget with room to spare); run B tries while A runs.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan int, 1)
	aErr := &cancelOn{marker: "ok stop ", cancel: func() {}}
	started := make(chan struct{})
	var once sync.Once
	aErr.cancel = func() { once.Do(func() { close(started) }) }
	go func() {
		s := Streams{In: strings.NewReader(""), Out: &strings.Builder{}, Err: aErr, NoColor: true}
		first <- Run(ctx, []string{"-i", f.Inventory, "service", "restart", "primary-bastion", "slow-api", "-v"}, s)
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatalf("run A did not get going: %s", aErr.String())
	}
	_, errOut, code := omni(t, f, "service", "restart", "primary-bastion", "slow-api")
	if code != ExitRefused || !strings.Contains(errOut, "primary-bastion/slow-api is locked by ") || !strings.Contains(errOut, "restart primary-bastion slow-api") {
		t.Fatalf("second run: exit %d, stderr %q", code, errOut)
	}
	if code := <-first; code != 0 {
		t.Fatalf("run A: exit %d\n%s", code, aErr.String())
	}
	if got := countStarts(t, f, "primary-bastion", "slow-api") - starts; got != 1 {
		t.Fatalf("slow-api started %d times, want exactly once", got)
	}
	// Once A is done, the lock is free again.
	mustRun(t, f, "service", "restart", "primary-bastion", "slow-api", "--lock-timeout", "5s")

	// History, newest first, as JSON.
	out := mustRun(t, f, "-o", "json", "service", "history", "primary-bastion", "slow-api")
	var hist struct {
		Events []struct {
			Command, Result string
			Complete        bool
			Steps           []struct{ Step string }
		}
	}
	if err := json.Unmarshal([]byte(out), &hist); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(hist.Events) != 3 || !hist.Events[0].Complete || hist.Events[0].Result != "ok" ||
		!strings.HasPrefix(hist.Events[2].Command, "start ") || len(hist.Events[0].Steps) == 0 {
		t.Fatalf("history: %+v", hist.Events)
	}

	// Status: live beside recorded.
	out = mustRun(t, f, "-o", "json", "service", "status", "primary-bastion", "slow-api")
	var raw struct {
		Services []map[string]any `json:"services"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil || len(raw.Services) != 1 {
		t.Fatalf("status json: %v\n%s", err, out)
	}
	row := raw.Services[0]
	if row["state"] != "running" || row["recorded_state"] != "running" || row["health"] != "passed" || row["pid"] == nil {
		t.Fatalf("status row: %v", row)
	}
	// network-agent and api-gateway are stopped: status, a check, exits 1.
	text, errText, code := omni(t, f, "service", "status", "primary-bastion")
	if code != ExitFailed || !strings.Contains(text, "slow-api") || !strings.Contains(text, "network-agent") ||
		!strings.Contains(errText, "2 of 3 services are not running and healthy") {
		t.Fatalf("status table: exit %d\n%s%s", code, text, errText)
	}
}

// TestKilledRunLeavesAConsistentRegistry: a real omni process SIGKILLed in
// the middle of a restart leaves the registry readable, its lock
// reclaimable and its event marked incomplete; history survives.
func TestKilledRunLeavesAConsistentRegistry(t *testing.T) {
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.59", WorkerAddr: "127.0.1.60", Extra: []testfleet.Service{
		{Name: "slow-api", Role: "bastion", Flags: "--ready-after 1500ms"},
	}})
	mustRun(t, f, "service", "start", "primary-bastion", "slow-api")

	cmd := exec.Command(bin, "-i", f.Inventory, "--ssh-config", "none", "service", "restart", "primary-bastion", "slow-api", "-v")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "ok start ") { // mid-restart: waiting for health
			break
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	out := mustRun(t, f, "-o", "json", "service", "history", "primary-bastion", "slow-api")
	var hist struct {
		Events []struct {
			Command, Result string
			Complete        bool
		}
	}
	if err := json.Unmarshal([]byte(out), &hist); err != nil {
		t.Fatalf("registry unreadable after SIGKILL: %v\n%s", err, out)
	}
	if len(hist.Events) != 2 || hist.Events[0].Complete || hist.Events[0].Result != "incomplete" || !hist.Events[1].Complete {
		t.Fatalf("history after SIGKILL: %+v", hist.Events)
	}
	// The dead run's lock does not block: the next run takes it and works.
	mustRun(t, f, "service", "restart", "primary-bastion", "slow-api")
}
