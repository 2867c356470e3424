package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestRestartKeepsTheStartsReasonAfterAStopThatFloodedStderr (found by review) (review of
// 9e5e24e): a command-managed service whose stop command prints 40 MB on
// stderr (as the fix's own "loudstop" does) and does its job; its start
// then prints 3 MB of warnings on stderr (more than the 1 to 2 MiB of a
// stream's end that omni keeps) and fails with
// "fatal: /etc/chatty.conf line 3: bad key", exit 1. Neither part alone
// passes omni's 32 MiB bound by much; `service stop` and `service start`
// on their own each keep what they need.
//
// An operator expects `service restart` to fail (exit 1) naming the
// start's last words, as `service start` does and as the fix promises
// ("the service's own last words are still the end of what it printed").
// The restart script's stderr is kept at its ends (its first MiB, its
// last 1 to 2 MiB):
// the stop part's stderr end line ("\n<mark> end stop\n") falls in the
// middle that is left out, readRestart then gives the stop all of the
// stderr and the start none, and the failure reads
// "start: start command: exit 1" with no reason at all.
func TestRestartKeepsTheStartsReasonAfterAStopThatFloodedStderr(t *testing.T) {
	t.Parallel()
	run := t.TempDir()
	pid := filepath.Join(run, "chatty.pid")
	marker := filepath.Join(run, "broken")
	const reason = "fatal: /etc/chatty.conf line 3: bad key"
	// The first start works; once `broken` exists the start floods 3 MB
	// of warnings on stderr and fails.
	start := `if [ -e ` + marker + ` ]; then head -c 3000000 /dev/zero | tr '\0' w >&2; echo >&2; echo '` + reason + `' >&2; exit 1; fi; ` +
		`setsid sleep 300 >/dev/null 2>&1 </dev/null & echo $! > ` + pid
	stop := `head -c 40000000 /dev/zero | tr '\0' x >&2; kill "$(cat ` + pid + `)"`
	status := `p=$(cat ` + pid + ` 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"`
	raw := "    commands:\n      start: '" + yq(start) + "'\n      stop: '" + yq(stop) + "'\n      status: '" + yq(status) + "'\n" +
		"    stop_grace: 60s\n" + // the flood always ends before the stop's kill, however loaded the machine
		"    health: {process: true, retries: 20, interval: 100ms}"
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.211.1", WorkerAddr: "127.0.211.2",
		Extra: []testfleet.Service{{Name: "chatty", Role: "worker", Raw: raw}}})
	t.Cleanup(func() { omni(t, f, "service", "stop", "worker1", "chatty") })

	mustRun(t, f, "service", "start", "worker1", "chatty")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := omni(t, f, "service", "restart", "worker1", "chatty")
	if code != ExitFailed || !strings.Contains(errOut, "Failed to restart chatty on worker1: start: ") || !strings.Contains(errOut, reason) {
		t.Errorf("restart whose stop flooded stderr and whose start failed: exit %d, want 1 naming the start's reason %q\nstdout:\n%s\nstderr:\n%s",
			code, reason, limit(out), limit(errOut))
	}
}
