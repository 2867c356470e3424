package cli

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/systemdtest"
)

// TestSystemdRestartOfAMaskedRunningUnitLeavesItRunning (found by review): an
// operator (or a package's maintainer script, or configuration
// management) has masked a running unit so that nothing starts it again
// (`systemctl mask --runtime held.service`): the unit still runs, but no
// start job is accepted. `systemctl restart held.service` refuses at
// once ("Unit held.service is masked.") and leaves it running.
//
// `omni service restart` runs its own stop and then its start: the stop
// succeeds, the start is refused, and omni exits 1 with the unit left
// stopped, a running service taken down by a restart that could never
// have worked. The same happens to a running unit with
// RefuseManualStart=yes (started by a target that wants it), which
// `systemctl restart` refuses too.
//
// An operator expects omni to find out before the stop that the unit
// cannot be started (LoadState=masked), refuse the restart, and leave
// the service running, as systemctl restart does.
func TestSystemdRestartOfAMaskedRunningUnitLeavesItRunning(t *testing.T) {
	const a = "127.0.84.61"
	h, f := bootSystemdHost(t, "omni-rv-masked-sd", a, map[string]string{
		"refusing.service": "[Unit]\nDescription=refuses manual starts\nRefuseManualStart=yes\n\n[Service]\nExecStart=/bin/sleep 1000\n",
	}, nil,
		"  sd1: {address: "+a+", port: 22, user: root, sudo: false, roles: [worker], service_address: "+a+"}\n",
		"  held: {}\n  refusing: {}\n")
	// held.service is a vendor unit (masking one in /etc/systemd/system
	// is refused), kept loaded by refs (bootSystemdHost) through
	// After= in a drop-in.
	h.Run(t, "printf '[Unit]\\nDescription=held\\n\\n[Service]\\nExecStart=/bin/sleep 1000\\n' > /usr/lib/systemd/system/held.service && "+
		"mkdir -p /etc/systemd/system/refs.service.d && printf '[Unit]\\nAfter=held.service\\n' > /etc/systemd/system/refs.service.d/held.conf && "+
		"systemctl daemon-reload && systemctl start held.service refs.service")

	t.Run("masked", func(t *testing.T) {
		h.Run(t, "systemctl mask --runtime held.service")
		p := show(t, h, "held.service", "LoadState", "ActiveState", "MainPID")
		if p["LoadState"] != "masked" || p["ActiveState"] != "active" {
			t.Fatalf("held.service is not a masked running unit: %v", p)
		}
		systemctlRestartRefuses(t, h, "held.service")
		out, errOut, code := f.omni(t, "service", "restart", "sd1", "held")
		q := show(t, h, "held.service", "ActiveState", "MainPID")
		if q["ActiveState"] != "active" {
			t.Errorf("restart of a masked running unit (was %v): exit %d, the unit is left %s; systemctl restart refuses and leaves it running\n--- stdout\n%s--- stderr\n%s", p, code, q["ActiveState"], out, errOut)
		}
		if code == 0 || !strings.Contains(out+errOut, "masked") {
			t.Errorf("restart of a masked unit: exit %d, want a failure that says it is masked\n%s%s", code, out, errOut)
		}
	})

	t.Run("RefuseManualStart", func(t *testing.T) {
		// A unit with RefuseManualStart=yes is started by a dependency:
		// a target that wants it.
		h.Run(t, "printf '[Unit]\\nWants=refusing.service\\n' > /etc/systemd/system/wants-refusing.target && systemctl daemon-reload && systemctl start wants-refusing.target")
		p := show(t, h, "refusing.service", "ActiveState", "MainPID")
		if p["ActiveState"] != "active" {
			t.Fatalf("refusing.service did not start through its target: %v", p)
		}
		systemctlRestartRefuses(t, h, "refusing.service")
		out, errOut, code := f.omni(t, "service", "restart", "sd1", "refusing")
		q := show(t, h, "refusing.service", "ActiveState")
		if q["ActiveState"] != "active" {
			t.Errorf("restart of a running unit with RefuseManualStart=yes: exit %d, the unit is left %s; systemctl restart refuses and leaves it running\n--- stdout\n%s--- stderr\n%s", code, q["ActiveState"], out, errOut)
		}
	})
}

// systemctlRestartRefuses checks what systemd itself does: `systemctl
// restart unit` fails and leaves the unit running, with the same PID.
func systemctlRestartRefuses(t *testing.T, h *systemdtest.Host, unit string) {
	t.Helper()
	before := show(t, h, unit, "MainPID")["MainPID"]
	out := h.Run(t, "systemctl restart "+unit+" 2>&1; echo rc=$?")
	after := show(t, h, unit, "ActiveState", "MainPID")
	if strings.Contains(out, "rc=0") || after["ActiveState"] != "active" || after["MainPID"] != before {
		t.Fatalf("systemctl restart %s: %s; unit %v (was pid %s): want a refusal that leaves it running", unit, out, after, before)
	}
	t.Logf("systemctl restart %s: %s", unit, strings.TrimSpace(out))
}
