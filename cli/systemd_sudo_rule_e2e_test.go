package cli

import (
	"strings"
	"testing"
)

// TestSystemdSudoRuleForSystemctlOnlyIsNamed (found by review): the deploy user has
// the passwordless sudo rule many fleets give a deploy account, limited
// to the service tools: `deploy ALL=(root) NOPASSWD: /usr/bin/systemctl,
// /usr/bin/journalctl`. `sudo -n systemctl stop plain.service` works for
// it. omni runs everything as `sudo -n sh -c '…'`, which the rule does
// not cover, and says "sudo -n refused: no passwordless sudo rule for
// this user", on status and stop alike. The operator checks `sudo -l`,
// sees the NOPASSWD rule, and is told something false.
//
// An operator expects omni to say what it needs: that sudo refused
// `sh` (omni runs its commands through `sudo -n sh -c`, docs/inventory.md),
// not that the user has no passwordless rule.
func TestSystemdSudoRuleForSystemctlOnlyIsNamed(t *testing.T) {
	const a = "127.0.84.71"
	h, f := bootSystemdHost(t, "omni-rv-sudo-sd", a, map[string]string{
		"plain.service": "[Unit]\nDescription=plain\n\n[Service]\nExecStart=/bin/sleep 1000\n",
	}, []string{"deploy"},
		"  sd1: {address: "+a+", port: 22, user: deploy, sudo: true, roles: [worker], service_address: "+a+"}\n",
		"  plain: {}\n")
	h.Run(t, "echo 'deploy ALL=(root) NOPASSWD: /usr/bin/systemctl, /usr/bin/journalctl, /bin/systemctl, /bin/journalctl' > /etc/sudoers.d/omni-test-deploy && systemctl start plain.service")
	// The rule is passwordless for systemctl: as deploy, sudo -n works.
	if out := h.Run(t, "su -s /bin/sh deploy -c 'sudo -n systemctl is-active plain.service' 2>&1; true"); strings.TrimSpace(out) != "active" {
		t.Fatalf("deploy's sudo rule does not let it run systemctl without a password: %s", out)
	}

	for _, args := range [][]string{{"service", "status", "sd1", "plain"}, {"service", "stop", "sd1", "plain", "--yes"}} {
		out, errOut, code := f.omni(t, args...)
		if code == 0 {
			t.Fatalf("omni %s: exit 0 through a rule that does not allow sh\n%s%s", strings.Join(args, " "), out, errOut)
		}
		if strings.Contains(errOut, "no passwordless sudo rule for this user") || !strings.Contains(errOut, "sh as root") {
			t.Errorf("omni %s: deploy has a passwordless sudo rule (for systemctl and journalctl); omni says it has none, not that the rule does not allow the `sh` it runs\n%s%s", strings.Join(args, " "), out, errOut)
		}
	}
}
