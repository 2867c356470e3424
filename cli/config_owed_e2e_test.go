package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
	"github.com/omni-fleet/omni/registry"
)

// appFleet is a fleet whose command-manager service app (on worker1)
// declares an env file with GREETING and returns a function that changes
// GREETING in the inventory.
func appFleet(t *testing.T, bastion, worker string) (f *testfleet.Fleet, envFile string, setGreeting func(string)) {
	t.Helper()
	dir := t.TempDir()
	envFile = filepath.Join(dir, "env", "app.env")
	f = testfleet.Start(t, testfleet.Options{BastionAddr: bastion, WorkerAddr: worker,
		Extra: []testfleet.Service{{Name: "app", Role: "worker", Keys: "env: {GREETING: hello}\n    env_file: " + envFile}}})
	current := "hello"
	setGreeting = func(g string) {
		t.Helper()
		b, err := os.ReadFile(f.Inventory)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.Inventory, []byte(strings.Replace(string(b), "GREETING: "+current, "GREETING: "+g, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		current = g
	}
	return f, envFile, setGreeting
}

// TestConfigApplyDoesTheOwedRestart (ansible#10498): an apply whose
// restart was skipped (--restart none) leaves the service pending; the
// next apply, with nothing left to write, still restarts it, says why,
// and clears pending; `config diff` then exits 0. `omni service restart`
// clears pending the same way. An apply after that restarts nothing.
func TestConfigApplyDoesTheOwedRestart(t *testing.T) {
	f, envFile, setGreeting := appFleet(t, "127.0.181.1", "127.0.181.2")
	mustRun(t, f, "service", "start", "worker1", "app")
	pid := f.PID("worker1", "app")

	setGreeting("bonjour")
	out := mustRun(t, f, "config", "apply", "worker1", "app", "--restart", "none")
	if !strings.Contains(out, "pending a restart: app@worker1") {
		t.Fatalf("apply --restart none does not say the service is pending:\n%s", out)
	}
	if f.PID("worker1", "app") != pid {
		t.Fatal("apply --restart none restarted the service")
	}
	if rec := recordOf(t, f, "worker1", "app"); rec.Config == nil || !rec.Config.Pending {
		t.Fatalf("after --restart none: config %+v, want pending", rec.Config)
	}
	if out, errOut, code := omni(t, f, "config", "diff", "worker1", "app"); code != ExitDiffers || !strings.Contains(out, "restart skipped") {
		t.Fatalf("diff while pending: exit %d, want 6 naming the skipped restart\n%s%s", code, out, errOut)
	}
	st1, _ := os.Stat(envFile)

	// The second apply writes nothing, but does what is owed.
	out = mustRun(t, f, "-o", "json", "config", "apply", "worker1", "app")
	var doc applyDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Hosts) != 1 || len(doc.Hosts[0].Services) != 1 {
		t.Fatalf("apply -o json: %v\n%s", err, out)
	}
	sd := doc.Hosts[0].Services[0]
	if !strings.HasPrefix(sd.Restart, "restarted") || !strings.Contains(sd.RestartReason, "pending from an earlier apply") || sd.Pending {
		t.Fatalf("second apply: restart %q, reason %q, pending %v; want restarted, pending from an earlier apply, not pending\n%s",
			sd.Restart, sd.RestartReason, sd.Pending, out)
	}
	for _, fd := range sd.Files {
		if fd.Action != "unchanged" {
			t.Fatalf("second apply wrote %s (%s)", fd.Path, fd.Action)
		}
	}
	if st2, _ := os.Stat(envFile); !st1.ModTime().Equal(st2.ModTime()) {
		t.Fatal("the second apply rewrote the env file")
	}
	newPID := f.PID("worker1", "app")
	if newPID == pid || !testfleet.Alive(newPID) {
		t.Fatalf("the second apply did not restart the service: pid %d → %d", pid, newPID)
	}
	if rec := recordOf(t, f, "worker1", "app"); rec.Config == nil || rec.Config.Pending || rec.Config.RunningWith != rec.Config.Applied {
		t.Fatalf("after the owed restart: config %+v, want not pending, running with applied", rec.Config)
	}
	if out, errOut, code := omni(t, f, "config", "diff", "worker1", "app"); code != 0 {
		t.Fatalf("diff after the owed restart: exit %d, want 0\n%s%s", code, out, errOut)
	}

	// The text table says why too; here via service restart instead.
	setGreeting("salut")
	mustRun(t, f, "config", "apply", "worker1", "app", "--restart", "none")
	pid = f.PID("worker1", "app")
	mustRun(t, f, "service", "restart", "worker1", "app")
	if after := f.PID("worker1", "app"); after == pid || !testfleet.Alive(after) {
		t.Fatalf("service restart did not restart: pid %d → %d", pid, after)
	}
	if rec := recordOf(t, f, "worker1", "app"); rec.Config == nil || rec.Config.Pending || rec.Config.RunningWith != rec.Config.Applied {
		t.Fatalf("after service restart: config %+v, want not pending", rec.Config)
	}
	// Nothing owed now: an apply restarts nothing.
	pid = f.PID("worker1", "app")
	out = mustRun(t, f, "config", "apply", "worker1", "app")
	if f.PID("worker1", "app") != pid || strings.Contains(out, "restarted") {
		t.Fatalf("an apply with nothing owed restarted the service:\n%s", out)
	}
	if out, errOut, code := omni(t, f, "config", "diff", "worker1", "app"); code != 0 {
		t.Fatalf("final diff: exit %d, want 0\n%s%s", code, out, errOut)
	}
}

// recordOf is the registry's record of service on host.
func recordOf(t *testing.T, f *testfleet.Fleet, host, service string) registry.Record {
	t.Helper()
	for _, r := range registryRecords(t, f) {
		if r.Host == host && r.Service == service {
			return r
		}
	}
	t.Fatalf("no record of %s on %s", service, host)
	return registry.Record{}
}

// TestConfigApplyFailedRestartIsDoneLater: phase 2's restart fails (the
// service comes back unhealthy): the files are written, the service is
// pending ("its restart failed"), diff exits 6. Once the cause is fixed,
// the same apply, writing nothing, restarts it and clears pending; after a
// second failure, `omni service restart worker1 app --resume` does.
func TestConfigApplyFailedRestartIsDoneLater(t *testing.T) {
	f, _, setGreeting := appFleet(t, "127.0.181.9", "127.0.181.10")
	mustRun(t, f, "service", "start", "worker1", "app")
	fail := func(greeting string) {
		t.Helper()
		setGreeting(greeting)
		f.SetFlags("worker1", "app", "--unhealthy")
		out, errOut, code := omni(t, f, "config", "apply", "worker1", "app")
		if code != ExitFailed || !strings.Contains(out, "(pending)") {
			t.Fatalf("apply whose restart fails: exit %d, want 1 and the service pending\n%s%s", code, out, errOut)
		}
		if rec := recordOf(t, f, "worker1", "app"); rec.Config == nil || !rec.Config.Pending || rec.Config.PendingReason != "written, its restart failed" {
			t.Fatalf("after the failed restart: config %+v", rec.Config)
		}
		if out, errOut, code := omni(t, f, "config", "diff", "worker1", "app"); code != ExitDiffers || !strings.Contains(out, "its restart failed") {
			t.Fatalf("diff after the failed restart: exit %d, want 6 saying why\n%s%s", code, out, errOut)
		}
		f.SetFlags("worker1", "app", "")
	}
	cleared := func(what string) {
		t.Helper()
		if rec := recordOf(t, f, "worker1", "app"); rec.Config == nil || rec.Config.Pending || rec.Config.RunningWith != rec.Config.Applied {
			t.Fatalf("after %s: config %+v, want not pending", what, rec.Config)
		}
		if out, errOut, code := omni(t, f, "config", "diff", "worker1", "app"); code != 0 {
			t.Fatalf("diff after %s: exit %d, want 0\n%s%s", what, code, out, errOut)
		}
	}

	fail("bonjour")
	out := mustRun(t, f, "config", "apply", "worker1", "app")
	if !strings.Contains(out, "restarted (pending from an earlier apply (written, its restart failed))") || !strings.Contains(out, "1 unchanged") {
		t.Fatalf("the apply after the fix does not say it does the owed restart:\n%s", out)
	}
	cleared("the owed restart")

	fail("salut")
	out = mustRun(t, f, "service", "restart", "worker1", "app", "--resume")
	if !strings.Contains(out, "restarted") && !strings.Contains(out, "done") {
		t.Fatalf("--resume:\n%s", out)
	}
	cleared("--resume")
}

// TestConfigOnChangeNoneOwesNothing: a file declared on_change: none is
// written without a restart, and is not taken later for a restart owed
// (running with another configuration): the next apply restarts nothing
// and diff exits 0.
func TestConfigOnChangeNoneOwesNothing(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "motd")
	writeFile(t, src, "one\n")
	keys := "env: {GREETING: hello}\n    env_file: " + filepath.Join(dir, "app.env") + "\n" +
		"    files: [{path: " + filepath.Join(dir, "etc", "motd") + ", source: " + src + ", on_change: none}]"
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.181.11", WorkerAddr: "127.0.181.12",
		Extra: []testfleet.Service{{Name: "app", Role: "worker", Keys: keys}}})
	mustRun(t, f, "service", "start", "worker1", "app")
	pid := f.PID("worker1", "app")
	writeFile(t, src, "two\n")
	out := mustRun(t, f, "config", "apply", "worker1", "app")
	if f.PID("worker1", "app") != pid || strings.Contains(out, "restarted") {
		t.Fatalf("an on_change: none file restarted the service:\n%s", out)
	}
	out = mustRun(t, f, "config", "apply", "worker1", "app")
	if f.PID("worker1", "app") != pid || strings.Contains(out, "restarted") {
		t.Fatalf("the apply after an on_change: none write restarted the service:\n%s", out)
	}
	if out, errOut, code := omni(t, f, "config", "diff", "worker1", "app"); code != 0 {
		t.Fatalf("diff after an on_change: none write: exit %d, want 0\n%s%s", code, out, errOut)
	}
}
