package cli

import (
	"strings"
	"testing"
	"time"
)

// TestPostgresStopLeavesNoBackend (found by review): an operator runs PostgreSQL
// 15 under the command manager as the docs show (start `pg_ctl -D DATA -l
// LOG start`, status the first line of postmaster.pid, no stop command:
// omni sends SIGTERM to the postmaster). A report query is running when
// they run `omni service stop web1 postgres --yes`. SIGTERM asks postgres
// for a smart shutdown, which waits for the query; after stop_grace omni
// SIGKILLs the postmaster (its process group) and reports "Service
// stopped successfully!" (exit 0, a warning that it was killed).
//
// The operator expects the service stopped: no postgres process left.
// Observed: the backend running the query (a child of the postmaster,
// which every postgres child puts in a session of its own with setsid)
// keeps running as an orphan after omni's "stopped", still attached to
// the cluster's shared memory, so the next `omni service start` fails
// with postgres's "FATAL: pre-existing shared memory block ... is still
// in use / HINT: Terminate any old server processes". The stop script
// (engine/manager/command_scripts.go stopScript) SIGKILLed the main PID
// and the process group it leads only, and verified only those; the
// postmaster's children are in groups of their own, so neither the kill
// nor the check reached them. Now the SIGKILL goes to the main process and
// every process below it (omni_kill_tree, which finds descendants by
// their parent, as for the stop command).
func TestPostgresStopLeavesNoBackend(t *testing.T) {
	user, home := reviewRealUser(t, "rvpgorph")
	reviewRemoveShm(t, user)
	addr := "127.0.53.31"
	pg := reviewInitPg(t, user, home, addr, reviewFreePort(t, addr))
	h := reviewRealInventory(t, addr, user, "", "postgres", reviewPgSvc(pg, "2s", "", ""))
	if _, _, code := h.run("service", "start", "web1", "postgres"); code != 0 {
		t.Fatalf("postgres did not start: exit %d", code)
	}
	postmaster := pg.PID()
	reviewPgSession(t, pg, "SELECT count(*) FROM generate_series(1, 5000000000);")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(strings.Join(reviewLive(user, "postgres: postgres"), "\n"), "SELECT") {
		if time.Now().After(deadline) {
			t.Fatalf("the query did not start: %q", reviewUserProcs(user))
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, _, code := h.run("service", "stop", "web1", "postgres", "--yes")
	if code != 0 {
		t.Fatalf("stop: exit %d, want 0", code)
	}
	time.Sleep(500 * time.Millisecond)
	var left []string
	for _, p := range reviewLive(user, "postgres") {
		if !strings.Contains(p, "psql") { // the client, the test's own
			left = append(left, p)
		}
	}
	if len(left) > 0 {
		t.Errorf("omni said postgres (postmaster %d) stopped, yet its processes still run:\n%s", postmaster, strings.Join(left, "\n"))
	}
	// once the killed postmaster is reaped, a start must work again
	reviewGone(postmaster, 10*time.Second)
	if _, errOut, code := h.run("service", "start", "web1", "postgres"); code != 0 {
		t.Errorf("start after omni's stop: exit %d, want 0: %s", code, errOut)
	}
}
