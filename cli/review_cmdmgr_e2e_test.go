package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// TestReviewRestartPassesOnTheOldWorker (found by review): over real
// sshd, a service started without setsid (`nohup app &`, the way the
// inventory's start is often written) whose main process exits at
// SIGTERM without waiting for its worker: the stop step says stopped and
// leaves the worker holding the port; the new main process (it writes
// its pidfile first) cannot bind it and retries, as servers do; the
// process check passes on it, the port check on the old
// worker and the restart says "Health Check: Passed", exit 0, while the
// old worker (which no longer answers) serves the port.
func TestReviewRestartPassesOnTheOldWorker(t *testing.T) {
	t.Parallel()
	const addr = "127.0.97.21"
	port := closedPort(t, "127.0.0.1")
	perl := fmt.Sprintf(`use IO::Socket::INET; open F,">@RUN@/w.pid"; print F "$$\n"; close F; for (1..40) { $s=IO::Socket::INET->new(LocalAddr=>"127.0.0.1:%d",Listen=>5,ReuseAddr=>1) and last; select(undef,undef,undef,0.5) } exit 1 unless $s; if (!fork) { $0="zzreviewworker"; sleep 1 while 1 } sleep 1 while 1`, port)
	start := "nohup perl -e '" + perl + "' >/dev/null 2>&1 </dev/null &"
	inv, _, _ := reviewHost(t, addr, "", "root", "", "wsvc", fmt.Sprintf(`  wsvc:
    commands:
      start: %s
      status: 'p=$(cat @RUN@/w.pid) && kill -0 "$p" && echo "$p"'
    health: {process: true, port: %d}
`, yamlSingleQuoted(start), port))
	t.Cleanup(func() { exec.Command("pkill", "-f", "zzreviewworker").Run() })
	if out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "service", "start", "web1", "wsvc"); code != ExitOK {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	var worker int
	for i := 0; i < 100 && worker == 0; i++ {
		b, err := exec.Command("pgrep", "-x", "zzreviewworker").CombinedOutput()
		if i == 99 {
			t.Logf("pgrep: %q %v", b, err)
		}
		worker, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(20 * time.Millisecond)
	}
	if worker == 0 {
		t.Fatal("no worker")
	}
	out, errOut, code, _ := omniInv(t, 60*time.Second, inv, "service", "restart", "web1", "wsvc", "--yes")
	if proctest.Alive(worker) {
		t.Fatalf("restart: exit %d (health passed: %v), yet the old worker %d still runs and holds port %d (the new process cannot bind it); "+
			"want the stop to end the main process's worker too\n%s%s", code, strings.Contains(out, "Health Check:     Passed"), worker, port, out, errOut)
	}
}

func yamlSingleQuoted(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
