package cli

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/systemdtest"
)

// oneshotTimeoutSystemdHost boots one systemd host (127.0.79.21) with:
//
//   - job.service: Type=oneshot, no RemainAfterExit (a migration, a
//     cache warm-up): `systemctl start` returns once it has run, and
//     succeeded, and the unit is inactive again;
//   - stubborn.service: its processes ignore SIGTERM and the unit's own
//     TimeoutStopSec (1s) is shorter than omni's grace (10s): systemd
//     itself SIGKILLs them after 1s (the unit ends "failed", Result
//     timeout).
//
// and an inventory for it, services without health checks.
func oneshotTimeoutSystemdHost(t *testing.T) (*systemdtest.Host, *sdFleet) {
	t.Helper()
	return bootUnitHost(t, "omni-oneshot-sd", "127.0.79.21", map[string]string{
		"job.service": "[Unit]\nDescription=one-shot job\n\n[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo job done'\n",
		"stubborn.service": "[Unit]\nDescription=ignores SIGTERM\n\n[Service]\n" +
			"ExecStart=/bin/sh -c 'trap \"\" TERM; while :; do sleep 1; done'\nTimeoutStopSec=1s\n",
	})
}

// TestSystemd pins two systemd cases of today's changes.
//
// "oneshot start": since ae9f3a3 the health step after a start runs the
// process check whatever the inventory says (engine/check.go,
// processAlways; runHealth passes r.started). For systemd the process
// check is ActiveState=active (engine/manager/systemd_show.go). A
// Type=oneshot unit without RemainAfterExit is inactive once `systemctl
// start` has returned, which it does only when the job succeeded: omni
// now retries the process check for the default 10 × 500ms, then fails
// the start ("process: stopped", exit 1) of a job that ran and succeeded.
// Before, with no check declared, the start succeeded. A start that
// systemd itself verified (systemctl start waits for a oneshot's end and
// fails when it fails) should not fail.
//
// "systemd's own SIGKILL": since 95adf78 a stop that ended with SIGKILL
// is "said" (docs/reliability.md: "omni says that it was not a graceful
// stop, on stderr"). The systemd manager says so only when its own stop
// script sent the SIGKILL (result=killed, engine/manager/systemd.go
// stopResult). When the unit's TimeoutStopSec is shorter than omni's
// grace, systemd SIGKILLs the unit itself (the unit ends failed, its
// Result "timeout"); the stop script sees it inactive or failed within
// the grace and prints result=stopped: omni reports a plain, graceful
// stop, no warning.
func TestSystemdOneshotStartAndSystemdsOwnKill(t *testing.T) {
	h, f := oneshotTimeoutSystemdHost(t)

	t.Run("oneshot start", func(t *testing.T) {
		out, errOut, code := f.omni(t, "service", "start", "sd1", "job")
		p := show(t, h, "job.service", "ActiveState", "Result", "ExecMainStatus")
		if p["Result"] != "success" || p["ExecMainStatus"] != "0" {
			t.Fatalf("the job did not run and succeed: %v", p)
		}
		if code != 0 {
			t.Errorf("start of a Type=oneshot unit whose job ran and succeeded (unit %v): exit %d, want 0\n%s%s", p, code, out, errOut)
		}
	})

	t.Run("systemd's own SIGKILL", func(t *testing.T) {
		if out, errOut, code := f.omni(t, "service", "start", "sd1", "stubborn"); code != 0 {
			t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
		}
		out, errOut, code := f.omni(t, "service", "stop", "sd1", "stubborn", "--yes")
		p := show(t, h, "stubborn.service", "ActiveState", "Result")
		if p["Result"] != "timeout" {
			t.Fatalf("the unit was not killed by systemd at its stop timeout: %v", p)
		}
		if code != 0 {
			t.Fatalf("stop: exit %d\n%s%s", code, out, errOut)
		}
		if !strings.Contains(errOut, "warning:") || !strings.Contains(errOut, "SIGKILL") {
			t.Errorf("systemd SIGKILLed stubborn.service at its 1s TimeoutStopSec (unit %v), and omni reports a plain stop, no warning:\n--- stdout\n%s--- stderr\n%s", p, out, errOut)
		}
	})
}
