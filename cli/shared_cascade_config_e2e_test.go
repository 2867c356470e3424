package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestFleetCascadeDoesNotSkipASharedDependentForAPlanThatOnlyWroteItsConfig (found by review)
// (review of f6e6c0a): db runs on worker1 and worker2; reporter on the
// bastion requires db@worker1 and db@worker2 and declares configuration
// (env:), so a `restart --cascade` writes reporter's configuration in a
// config step that comes BEFORE the target's stop (withConfig: every
// config step before anything changes), in reporter's cascade group,
// while reporter's restart comes after the target. db requires slowdep
// on its own host, which is stopped and takes 2 s to start on worker2:
// worker1's plan reaches reporter's config step first. db on worker2
// comes back unhealthy from its restart.
//
// `service restart worker db --cascade --yes`: worker1's db is restarted
// and healthy; worker2's fails its health check. An operator expects
// reporter, which depends on the db just restarted on worker1, to be
// restarted by worker1's plan after it (worker2's plan never got that
// far), and the report to say so.
//
// The shared work (engine/shared.go) treats the early config step as the
// group's cascade restart: worker1 waits there for worker2's plan (it has
// the group ahead); worker2 writes reporter's configuration and, leaving
// the group at its target's stop, records reporter as "restarted"; worker1
// then skips reporter's whole group, config and restart, as "restarted by
// worker2's plan of this run, after this host's", before worker1 has
// stopped anything. worker2 then fails at its health step and never
// restarts reporter. reporter is never restarted, and omni says it was.
func TestFleetCascadeDoesNotSkipASharedDependentForAPlanThatOnlyWroteItsConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pid := filepath.Join(dir, `"$OMNI_HOST".slowdep.pid`)
	slowStart := `[ "$OMNI_HOST" != worker2 ] || sleep 2; setsid sleep 300 >/dev/null 2>&1 </dev/null & echo $! > ` + pid
	slowStatus := `p=$(cat ` + pid + ` 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"`
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.211.9", WorkerAddr: "127.0.211.10", MoreWorkers: []string{"127.0.211.11"},
		Extra: []testfleet.Service{
			{Name: "slowdep", Role: "worker", Raw: "    commands:\n      start: '" + yq(slowStart) + "'\n      status: '" + yq(slowStatus) + "'\n" +
				"      stop: 'kill \"$(cat " + pid + ")\"'\n    health: {process: true, retries: 20, interval: 100ms}"},
			{Name: "db", Role: "worker", Keys: "requires: [slowdep]"},
			{Name: "reporter", Role: "bastion", Keys: "requires: [db@worker1, db@worker2]\n    env: {REPORT_EVERY: 10s}\n    env_file: " + filepath.Join(dir, "reporter.env")},
		}})
	t.Cleanup(func() {
		for _, h := range []string{"worker1", "worker2"} {
			omni(t, f, "service", "stop", h, "slowdep", "--yes")
		}
	})
	mustRun(t, f, "service", "start", "primary-bastion", "reporter") // and db, slowdep on both workers
	mustRun(t, f, "service", "stop", "worker2", "slowdep", "--yes")  // db keeps running
	f.SetFlags("worker2", "db", "--unhealthy")
	reporter := f.PID("primary-bastion", "reporter")

	out, errOut, code := omni(t, f, "service", "restart", "worker", "db", "--cascade", "--yes")
	if !strings.Contains(errOut+out, "worker2") || code == ExitOK {
		t.Fatalf("setup: want worker2 failed (db unhealthy), got exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got := f.PID("primary-bastion", "reporter"); got == reporter {
		t.Errorf("db@worker1 was restarted (worker1 done) but reporter, its dependent, was not (pid %d still), exit %d\nstdout:\n%s\nstderr:\n%s",
			reporter, code, out, errOut)
	}
}
