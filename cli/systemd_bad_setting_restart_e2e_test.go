package cli

import (
	"strings"
	"testing"
)

// TestSystemdRestartRefusalOfABadSettingUnitSaysWhy (found by review) (review of 7e840b5):
// a running unit whose file was edited into a bad setting (here its
// ExecStart= line removed) and daemon-reloaded: LoadState=bad-setting,
// the unit still active, CanStart=no. `systemctl restart` refuses with
// "Unit bad.service has a bad unit file setting." and leaves it running.
//
// omni now refuses before its stop too (good), but says why falsely:
// "bad.service refuses manual starts (RefuseManualStart=yes:
// CanStart=no)". The unit has no RefuseManualStart=; the operator is sent
// to look for a setting that is not there. The restart script's startable
// check treats every CanStart=no that is not masked or not-found as
// RefuseManualStart=yes, but systemd's CanStart is also "no" for any
// unit not loaded cleanly (bad-setting, error). An operator expects the
// refusal to name the unit's real state: LoadState=bad-setting (a bad
// unit file setting), as systemctl does.
func TestSystemdRestartRefusalOfABadSettingUnitSaysWhy(t *testing.T) {
	const a = "127.0.211.21"
	h, f := bootSystemdHost(t, "omni-rv-badsetting-sd", a, map[string]string{
		"drifted.service": "[Unit]\nDescription=drifted\n\n[Service]\nExecStart=/bin/sleep 1000\n",
	}, nil,
		"  sd1: {address: "+a+", port: 22, user: root, sudo: false, roles: [worker], service_address: "+a+"}\n",
		"  drifted: {}\n")
	if out, errOut, code := f.omni(t, "service", "start", "sd1", "drifted"); code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	h.Run(t, "printf '[Unit]\\nDescription=drifted\\n\\n[Service]\\nExecStop=/bin/true\\n' > /etc/systemd/system/drifted.service && systemctl daemon-reload")
	p := show(t, h, "drifted.service", "LoadState", "ActiveState", "CanStart")
	if p["LoadState"] != "bad-setting" || p["ActiveState"] != "active" {
		t.Fatalf("drifted.service is not a running unit with a bad setting: %v", p)
	}
	systemctlRestartRefuses(t, h, "drifted.service")

	out, errOut, code := f.omni(t, "service", "restart", "sd1", "drifted")
	if code == 0 || show(t, h, "drifted.service", "ActiveState")["ActiveState"] != "active" {
		t.Fatalf("restart of a bad-setting unit: exit %d, want a refusal that leaves it running\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "RefuseManualStart") || !strings.Contains(out+errOut, "bad-setting") {
		t.Errorf("restart refused for a unit with a bad setting (%v): the reason given is not its LoadState\n--- stdout\n%s--- stderr\n%s", p, out, errOut)
	}
}
