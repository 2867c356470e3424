package cli

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/systemdtest"
)

// exit143SystemdHost boots one systemd host (127.0.81.21) with:
//
//   - jvm.service: a daemon that, like a JVM (or any program with a
//     SIGTERM handler that exits 128+15), exits with status 143 when
//     systemd's stop sends it SIGTERM, at once;
//
// and an inventory for it, services without health checks.
func exit143SystemdHost(t *testing.T) (*systemdtest.Host, *sdFleet) {
	t.Helper()
	return bootUnitHost(t, "omni-review-r2-sd", "127.0.81.21", map[string]string{
		"jvm.service": "[Unit]\nDescription=exits 143 on SIGTERM\n\n[Service]\n" +
			"ExecStart=/bin/sh -c 'trap \"exit 143\" TERM; while :; do sleep 0.1; done'\n",
	})
}

// TestSystemdStopExit143IsAPlainStop pins a false warning of
// stoppedAnyway (engine/manager/systemd.go), which takes any unit that
// ends "failed" with a Result other than success for a stop that failed.
//
// "exit 143 on SIGTERM": a unit whose main process handles SIGTERM by
// exiting 143 (a JVM, a shell script's `trap 'exit 143' TERM`) stops at
// once, as asked, and systemd marks it failed, Result=exit-code (unless
// the unit lists 143 in SuccessExitStatus). omni says "warning: … systemd
// reports its stop failed (Result=exit-code)" and records the stop step's
// warning: every stop and restart of such a service warns, though nothing
// was killed and no stop command failed. It should say a plain stop (or,
// at most, that the process exited 143), not that the stop failed.
//
// (A unit that had crashed and sat in auto-restart when the stop came
// ends inactive, not failed, on systemd 252: no warning there.)
func TestSystemdStopExit143IsAPlainStop(t *testing.T) {
	h, f := exit143SystemdHost(t)

	t.Run("exit 143 on SIGTERM", func(t *testing.T) {
		if out, errOut, code := f.omni(t, "service", "start", "sd1", "jvm"); code != 0 {
			t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
		}
		out, errOut, code := f.omni(t, "service", "stop", "sd1", "jvm", "--yes")
		p := show(t, h, "jvm.service", "ActiveState", "Result", "ExecMainStatus")
		if p["ExecMainStatus"] != "143" {
			t.Fatalf("the unit did not exit 143 on SIGTERM: %v", p)
		}
		if code != 0 {
			t.Fatalf("stop: exit %d\n%s%s", code, out, errOut)
		}
		if strings.Contains(errOut, "warning:") {
			t.Errorf("a unit that exited 143 at once on systemd's SIGTERM (unit %v): omni warns the stop failed:\n--- stdout\n%s--- stderr\n%s", p, out, errOut)
		}
	})

}
