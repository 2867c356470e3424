package cli

import (
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reviewMemcachedSvc is memcached as an operator writes it for the
// command manager: `memcached -d -P PIDFILE`, status the pidfile, no stop
// command (SIGTERM), its -vv output appended to a log.
func reviewMemcachedSvc(home, addr string, port int) string {
	pidf := home + "/mc.pid"
	return fmt.Sprintf(`  memcached:
    stop_grace: 3s
    commands:
      start: '/usr/bin/memcached -d -P %[1]s -l %[2]s -p %[3]d -U 0 -m 8 -vv >>%[4]s/mc.log 2>&1'
      status: 'cat %[1]s'
      logs: 'tail -n "$OMNI_LINES" %[4]s/mc.log'
    health:
      process: true
      port: %[3]d
      timeout: 1s
      retries: 5
      interval: 100ms
`, pidf, addr, port, home)
}

var reviewLastActiveRE = regexp.MustCompile(`Last Active:\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC`)

// TestFailedRestartOfCrashedServiceKeepsLastActive (found by review): memcached
// runs under the command manager (`memcached -d -P PIDFILE`); omni
// started it, and its record says when it was last seen running. It
// then crashes (SIGKILL). Some seconds later another program has taken
// its port, and the operator's `omni service restart web1 memcached`
// fails (exit 1, memcached's own "failed to listen ... Address already in
// use" shown: right).
//
// The status block under the failure says "Status: Stopped" and "Last
// Active: <the time of this restart>", and the registry records that time
// too (`service status` LAST ACTIVE): as if memcached had run until the
// restart and omni had stopped it. It had been dead for seconds, the stop
// found nothing running ("not-running": nothing was stopped), and omni
// last saw it running when it started it. For a service never seen
// running the same restart turns "never seen running" into a time.
// The operator reads Last Active to learn when the service went down.
//
// The cause: engine/restart_fused.go set r.stopped[inst] whenever the
// stop part succeeded, and the command manager's stop reported
// "not-running" as a plain success, so engine/step_record.go recordState
// took that moment for LastActive. Now a stop that found the service not
// running says so (manager.ErrWasNotRunning, RestartReport.NotRunning):
// the step's note is "not running: nothing to stop", and the run does
// not count it as stopped now.
func TestFailedRestartOfCrashedServiceKeepsLastActive(t *testing.T) {
	user, home := reviewRealUser(t, "rvmclast")
	addr := "127.0.53.32"
	port := reviewFreePort(t, addr)
	h := reviewRealInventory(t, addr, user, "", "memcached", reviewMemcachedSvc(home, addr, port))
	if _, _, code := h.run("service", "start", "web1", "memcached"); code != 0 {
		t.Fatalf("memcached did not start: exit %d", code)
	}
	pid := pidOf(home + "/mc.pid")
	if pid == 0 {
		t.Fatal("no pidfile")
	}
	crashed := time.Now().UTC()
	syscall.Kill(pid, syscall.SIGKILL) // the crash
	time.Sleep(3 * time.Second)
	squat(t, addr, port) // another program took its port
	restarted := time.Now().UTC()
	out, errOut, code := h.run("service", "restart", "web1", "memcached")
	if code != ExitFailed {
		t.Fatalf("restart with the port taken: exit %d, want 1", code)
	}
	if !regexp.MustCompile(`Address already in use`).MatchString(errOut) {
		t.Errorf("memcached's own error is not shown:\n%s", errOut)
	}
	m := reviewLastActiveRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no Last Active line:\n%s", out)
	}
	last, err := time.Parse("2006-01-02 15:04:05", m[1])
	if err != nil {
		t.Fatal(err)
	}
	if !last.Before(crashed.Truncate(time.Second).Add(time.Second)) {
		t.Errorf("Last Active %s: memcached crashed at %s and was found dead by the restart at %s; omni stopped nothing, yet says it was active then",
			m[1], crashed.Format("15:04:05"), restarted.Format("15:04:05"))
	}
	// what the registry recorded: the LAST ACTIVE column of service status
	st, _, _ := h.run("service", "status", "web1", "memcached")
	if !strings.Contains(st, m[1]+" UTC  ") && !strings.HasSuffix(strings.TrimSpace(st), m[1]+" UTC") {
		t.Logf("service status does not show %s", m[1])
	} else if !last.Before(crashed.Truncate(time.Second).Add(time.Second)) {
		t.Errorf("the registry records memcached as last active at %s (service status):\n%s", m[1], st)
	}
}
