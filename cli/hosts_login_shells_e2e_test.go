package cli

import (
	"strings"
	"testing"
	"time"
)

// TestLoginShellsOtherThanSh: the deploy user's login shell is fish, zsh
// or ksh, as on the hosts of a team that likes them. sshd runs every
// command as `$SHELL -c LINE`; omni's scripts are POSIX sh, and every
// command must work whatever the login shell reads LINE with.
//
// Before (found by review): with fish, `service status` and `service
// restart` failed ("fish: $$ is not the pid. In fish, please use
// $fish_pid."): the command line began with the PID report, `echo
// omni-transport-pid:$$ >&2`, run by the login shell itself; start and
// stop went through the long-lived shell and passed, so a service could
// be started and then not restarted. And fish reads `\\` and `\'` inside
// single quotes as escapes: a script with a backslash reached sh changed.
// Now the command line is one `exec sh -c WORD` (WORD quoted so that
// every shell reads it the same, shell.QuoteAny), and the PID report is
// sh's.
func TestLoginShellsOtherThanSh(t *testing.T) {
	for i, sh := range []string{"/usr/bin/fish", "/usr/bin/zsh", "/usr/bin/ksh"} {
		t.Run(sh, func(t *testing.T) {
			u := reviewHostUser(t, []string{"omnishfish", "omnishzsh", "omnishksh"}[i], sh, nil)
			addr := []string{"127.0.81.11", "127.0.81.12", "127.0.81.13"}[i]
			// A logs command with a backslash and quotes in it.
			svc := strings.Replace(reviewSleeper("app", "600.8"+string(rune('1'+i)), ""), "    commands:\n",
				"    commands:\n      logs: |-\n        printf '%s\\\\%s\\n' one \"'two'\"\n", 1)
			inv, _, _ := reviewHost(t, addr, "", u, "", "app", svc)
			for _, c := range []struct {
				args []string
				want string
			}{
				{[]string{"service", "start", "web1", "app"}, "Status:           Running"},
				{[]string{"service", "status", "web1", "app"}, "Running"},
				{[]string{"service", "restart", "web1", "app"}, "Status:           Running"},
				{[]string{"service", "logs", "web1", "app"}, `one\'two'`},
				{[]string{"service", "stop", "web1", "app"}, "Status:           Stopped"},
			} {
				out, errOut, code, _ := omniInv(t, 30*time.Second, inv, c.args...)
				if code != ExitOK || !strings.Contains(out, c.want) {
					t.Errorf("omni %s, the deploy user's login shell %s: exit %d, want 0 and %q\n%s%s",
						strings.Join(c.args, " "), sh, code, c.want, out, errOut)
				}
			}
		})
	}
}
