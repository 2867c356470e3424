package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/proctest"
)

// TestReviewRestartStatusCannotRunStartsAnother (found by review): over
// real sshd, a restart of a command-managed service whose status command
// cannot run on the host (exit 127: a tool not installed or not in the
// non-login PATH) says of its stop step "not running: nothing to stop",
// of verify-stopped "the process is gone", and runs the start command:
// with the service running, a second instance beside the first, one more
// on each restart. `service start` refuses the same service at
// check-stopped; the stop step must not read "could not run" as
// "stopped" either.
func TestReviewRestartStatusCannotRunStartsAnother(t *testing.T) {
	t.Parallel()
	const addr = "127.0.97.20"
	inv, _, run := reviewHost(t, addr, "", "root", "", "appsvc", `  appsvc:
    commands:
      start: 'echo x >> @RUN@/starts; setsid sleep 3021 >/dev/null 2>&1 </dev/null &'
      status: '/opt/appsvc/bin/appctl status'
`)
	t.Cleanup(func() { proctest.Kill("sleep", "3021") })
	for i := 0; i < 2; i++ {
		out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "service", "restart", "web1", "appsvc", "--yes", "-o", "json")
		b, _ := os.ReadFile(filepath.Join(run, "starts"))
		if n := strings.Count(string(b), "x"); n > 0 || strings.Contains(out, "not running: nothing to stop") {
			t.Fatalf("restart %d with a status command that cannot run (exit 127): exit %d, the start command ran %d time(s), %d instance(s) run now; "+
				"want the stop step to fail (the status command could not run) and no start\n%s%s",
				i+1, code, n, len(proctest.WithArgs("sleep", "3021")), out, errOut)
		}
	}
}
