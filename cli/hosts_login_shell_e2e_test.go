package cli

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestLoginShellRefusalIsShown: the deploy user's login shell
// cannot run omni's command. sshd runs every command as `$SHELL -c CMD`,
// and two shells that real fleets have fail there:
//   - /usr/sbin/nologin (a service account put in the inventory, or a
//     deploy user locked out on one host): it prints "This account is
//     currently not available." and exits 1, whatever the command;
//   - tcsh/csh (a deploy user on a host of a team that likes csh, the
//     BSD heritage): omni's scripts are many lines inside one single-
//     quoted word, and csh refuses a newline inside quotes with
//     "Unmatched '.".
//
// What omni does: `service status` (a session of its own) passes the
// shell's message on, but start, stop and restart (the long-lived shell)
// fail with "check-stopped: status: web1: command: unexpected EOF": the
// host answered, said exactly what is wrong, and omni threw it away; the
// operator is left with what reads like a dropped connection. The shell's
// frames are cut off before their mark (remoteShell.read drops a frame
// without its mark, engine/transport/shell.go) and collect reports
// io.ErrUnexpectedEOF (shell.go, collect: `if !open`).
//
// What it should do: say what the host said ("This account is currently
// not available."), with the host and step as now. For csh, omni's
// command line now stops at its first line, saying the login shell is a
// csh (transport's cshGuard): before, csh refused the line with the
// script's opening quote ("Unmatched '.") and then ran each later line of
// the script it could read, as a command of its own, out of its context
// (it left a file named "2" in the user's home, from `>&2`). Nothing may
// be left in the home of the csh user.
func TestLoginShellRefusalIsShown(t *testing.T) {
	for i, c := range []struct{ user, shell, says string }{
		{"reviewhnol", "/usr/sbin/nologin", "currently not available"},
		{"reviewhcsh", "/usr/bin/tcsh", "is a csh: omni runs its commands through a POSIX shell"},
	} {
		t.Run(c.shell, func(t *testing.T) {
			u := reviewHostUser(t, c.user, c.shell, nil)
			addr := []string{"127.0.80.41", "127.0.80.42"}[i]
			inv, _, _ := reviewHost(t, addr, "", u, "", "app", reviewSleeper("app", "600.41", ""))
			for _, args := range [][]string{
				{"service", "status", "web1", "app"},
				{"service", "start", "web1", "app"},
			} {
				out, errOut, code, _ := omniInv(t, 30*time.Second, inv, args...)
				if code == 0 {
					t.Fatalf("omni %s with login shell %s: exit 0\n%s%s", strings.Join(args, " "), c.shell, out, errOut)
				}
				if !strings.Contains(out+errOut, c.says) {
					t.Errorf("omni %s, deploy user's login shell %s: the host said %q, omni did not pass it on (exit %d):\n%s%s",
						strings.Join(args, " "), c.shell, c.says, code, out, errOut)
				}
			}
			if left, _ := os.ReadDir("/home/" + u); strings.HasSuffix(c.shell, "csh") {
				for _, e := range left {
					if !strings.HasPrefix(e.Name(), ".") {
						t.Errorf("the csh user's home has %q: the login shell ran part of omni's script", e.Name())
					}
				}
			}
		})
	}
}

// TestBashrcBannerDoesNotBreakStart: the deploy user's login shell is
// bash, and its ~/.bashrc prints a line (a banner, a `source` of a
// toolchain that says what it enabled) without the interactive guard.
// bash reads ~/.bashrc for every command sshd runs, so `ssh web1 CMD`
// prints the banner, then CMD's output: the operator's own ssh works.
// (sshtest hides this with `SetEnv SHLVL=1`; a real sshd does not set
// SHLVL: this host says `SetEnv SHLVL=0`, as if unset.)
//
// What omni does: `service status` works (a session of its own: the
// banner is one more line without "="), but start, stop and restart fail
// at once: "check-stopped: status: web1: the remote shell did not start:
// it printed "Welcome to web1 ...\n16379\n"". The shell did start: the
// PID it reports is right there after the banner. runFirst reads the
// start line's whole frame as the PID (strconv.Atoi of the trimmed
// stdout, engine/transport/shell.go runFirst), so anything the login
// shell prints first makes omni refuse the host.
//
// What it should do: take the PID from the start line's own output (its
// last line, or after a mark of its own), and start the service.
func TestBashrcBannerDoesNotBreakStart(t *testing.T) {
	u := reviewHostUser(t, "reviewhbash", "/bin/bash", map[string]string{
		// The banner's last line without its newline: the PID must
		// still be a line of its own.
		".bashrc": "echo 'Welcome to web1 - authorized use only'\nprintf 'no newline'\n",
	})
	inv, _, run := reviewHost(t, "127.0.80.43", "SetEnv SHLVL=0", u, "", "app", reviewSleeper("app", "600.43", ""))
	defer reviewKillPidfile(run + "/app.pid")
	out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "service", "start", "web1", "app")
	if code != 0 {
		t.Errorf("start on a host whose ~/.bashrc prints a banner: exit %d (want 0: the host runs commands, `ssh web1 CMD` works)\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "did not start") {
		t.Errorf("omni says the remote shell did not start; it did, after printing the banner:\n%s%s", out, errOut)
	}
}
