package cli

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStderrBannerDoesNotHideThePIDReport (found by review): the deploy user's login shell
// is zsh, and its ~/.zshenv writes a line to stderr (a `stty` or
// `ssh-add` complaint, common in start-up files run for every command;
// docs/ssh-config.md: "a .bashrc that prints a banner is fine"). `service
// logs` runs the logs command in a session of its own (Stream).
//
// Expected: the logs' output is the logs command's output; nothing of
// omni's own framing shows.
//
// Observed: "omni-transport-pid:NNNN" appears in the logs' output. The
// PID report (withPIDReport, `echo omni-transport-pid:$$ >&2` as the
// first line of sh's script) comes after the start-up file's line, and
// pidCapture (engine/transport/client.go) only recognises the report at
// the very head of stderr: it passes everything on, the report included,
// and knows no PID, so an interrupted or timed-out command cannot be
// killed by its process group either (only by the SSH signal request,
// which OpenSSH refuses for root and which cannot reach sudo's processes).
func TestStderrBannerDoesNotHideThePIDReport(t *testing.T) {
	u := reviewHostUser(t, "omnio1ban", "/usr/bin/zsh", map[string]string{
		".zshenv": "echo 'stty: standard input: Inappropriate ioctl for device' >&2\n",
	})
	svc := strings.Replace(reviewSleeper("app", "600.542", ""), "    commands:\n",
		"    commands:\n      logs: 'echo line-one; echo line-two >&2'\n", 1)
	inv, _, _ := reviewHost(t, "127.0.54.12", "", u, "", "app", svc)
	out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "service", "logs", "web1", "app")
	if code != ExitOK || !strings.Contains(out+errOut, "line-one") {
		t.Fatalf("service logs: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "omni-transport-pid") {
		t.Errorf("service logs, a login shell whose start-up file writes to stderr: omni's PID report shows in the output:\n%s%s", out, errOut)
	}
}

// TestStderrBannerSudoLogsEndOnInterrupt (found by review): as
// TestStderrBannerDoesNotHideThePIDReport, with sudo: true (a NOPASSWD
// rule for the deploy user): `service logs -f` runs its logs command (here
// one that follows: a sleep) under `sudo -n`, and the run is interrupted
// (Ctrl-C; here omniInv's deadline).
//
// Expected: the interrupted logs command ends on the host, as it does for
// a user whose start-up files are quiet (the process group's walk under
// sudo, killTreeScript).
//
// Observed: the root-owned sleep runs on after omni has returned. With
// the start-up file's line first on stderr, pidCapture finds no PID
// report, so Client.kill has no process group to kill and falls back to
// the SSH signal request, which sshd carries out as the login user:
// it cannot signal sudo and root's command. Cause: engine/transport/client.go
// pidCapture.Write (the report must be the head of stderr) with
// withPIDReport printing it after the login shell's start-up output.
func TestStderrBannerSudoLogsEndOnInterrupt(t *testing.T) {
	u := reviewHostUser(t, "omnio1bsu", "/usr/bin/zsh", map[string]string{
		".zshenv": "echo 'stty: standard input: Inappropriate ioctl for device' >&2\n",
	})
	rule := "/etc/sudoers.d/omnio1bsu"
	if err := os.WriteFile(rule, []byte(u+" ALL=(root) NOPASSWD: ALL\n"), 0o440); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(rule) })
	t.Cleanup(func() { reviewOwn1KillExact("sleep 54.543") })
	svc := strings.Replace(reviewSleeper("app", "600.543", "    sudo: true\n"), "    commands:\n",
		"    commands:\n      logs: 'sleep 54.543'\n", 1)
	inv, _, _ := reviewHost(t, "127.0.54.13", "", u, "", "app", svc)
	out, errOut, _, _ := omniInv(t, 3*time.Second, inv, "service", "logs", "-f", "web1", "app")
	if !strings.Contains(errOut, "interrupted") {
		t.Fatalf("service logs -f did not run until interrupted:\n%s%s", out, errOut)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		o, _ := exec.Command("pgrep", "-f", "^sleep 54.543$").Output()
		if len(strings.TrimSpace(string(o))) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("service logs -f under sudo, interrupted, login start-up file writing to stderr: its command (sleep 54.543, pid %s) still runs on the host 5s after omni returned\n%s%s",
				strings.TrimSpace(string(o)), out, errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// reviewOwn1KillExact kills, by PID, the processes whose command line is
// exactly cmd (a sleep of a length no other test uses).
func reviewOwn1KillExact(cmd string) {
	o, _ := exec.Command("pgrep", "-x", "-f", cmd).Output()
	for _, p := range strings.Fields(string(o)) {
		exec.Command("kill", "-9", p).Run()
	}
}
