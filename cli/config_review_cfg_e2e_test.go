package cli

import (
	"context"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// reviewCfgHost is one host, web1 (its own sshd on addr, logged in to as
// the current user), whose command-manager service app (a sleep in the
// background, its PID in RUN/app.pid) declares one file, DIR/etc/app.conf
// from DIR/src/app.conf (content v1). The sshd's sessions get PATH with
// DIR/bin first: a test puts wrappers of host commands there. It returns
// the inventory, the directory and the run directory.
func reviewCfgHost(t *testing.T, addr, secs, entryKeys string) (inv, dir, run string) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range []string{"bin", "etc", "src"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "src", "app.conf"), "workers 4\n")
	extra := "SetEnv PATH=" + filepath.Join(dir, "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	entry := "{path: " + dir + "/etc/app.conf, source: " + dir + "/src/app.conf"
	if entryKeys != "" {
		entry += ", " + entryKeys
	}
	entry += "}"
	svc := reviewSleeper("app", secs, "    files:\n      - "+entry+"\n")
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	inv, _, run = reviewHost(t, addr, extra, me.Username, "", "app", svc)
	t.Cleanup(func() { reviewKillPidfile(filepath.Join(run, "app.pid")) })
	return inv, dir, run
}

func reviewPID(t *testing.T, run string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(run, "app.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestConfigApplyInterruptedAfterRenameOwesTheRestart (found by review):
// an apply interrupted after it renamed a file into place (here while it
// fsyncs the directories; on systemd hosts, while daemon-reload runs) is
// recorded as having written nothing, so the registry owes no restart and
// the next `config apply` finds the file unchanged and never restarts the
// service: the restart is lost (ansible#10498, which docs/config.md says
// omni does not do), and config history does not show the write.
func TestConfigApplyInterruptedAfterRenameOwesTheRestart(t *testing.T) {
	inv, dir, run := reviewCfgHost(t, "127.0.91.11", "7911", "")
	conf := filepath.Join(dir, "etc", "app.conf")
	slow, reached := filepath.Join(dir, "slow"), filepath.Join(dir, "reached")
	// The host's sync, slow on directories while DIR/slow exists: the
	// apply script has renamed every file when it syncs the directories.
	writeFile(t, filepath.Join(dir, "bin", "sync"), "#!/bin/sh\nfor a in \"$@\"; do if [ -d \"$a\" ] && [ -e "+slow+" ]; then touch "+reached+"; sleep 20; fi; done\nexec /usr/bin/sync \"$@\"\n")
	os.Chmod(filepath.Join(dir, "bin", "sync"), 0o755)

	if out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "service", "start", "web1", "app"); code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	pid := reviewPID(t, run)

	writeFile(t, filepath.Join(dir, "src", "app.conf"), "workers 16\n")
	writeFile(t, slow, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	s, aOut, aErr := TestStreams("", false)
	go func() { done <- Run(ctx, []string{"-i", inv, "config", "apply", "web1", "app"}, s) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(reached); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the apply did not reach the directory sync:\n%s%s", aOut, aErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel() // Ctrl-C
	var code int
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the interrupted apply did not end")
	}
	os.Remove(slow)
	if got := readFile(t, conf); got != "workers 16\n" {
		t.Fatalf("the setup did not interrupt after the rename: the host has %q", got)
	}
	if code != ExitInterrupted {
		t.Errorf("interrupted apply: exit %d, want 130", code)
	}
	if strings.Contains(aOut.String(), "nothing written") {
		t.Errorf("the interrupted apply says nothing was written, but the host's file was replaced:\n%s%s", aOut, aErr)
	}

	hist, errOut, hcode, _ := omniInv(t, 30*time.Second, inv, "config", "history", "web1", "app")
	if hcode != 0 || !strings.Contains(hist, "app.conf") || strings.Count(hist, "written") < 2 {
		t.Errorf("config history does not show the interrupted apply's write of app.conf (exit %d):\n%s%s", hcode, hist, errOut)
	}

	// The file is on the host and the service still runs the old one: the
	// next apply writes nothing but owes the restart.
	out, errOut, code, _ := omniInv(t, 60*time.Second, inv, "config", "apply", "web1", "app")
	if code != 0 {
		t.Fatalf("the next apply: exit %d\n%s%s", code, out, errOut)
	}
	if reviewPID(t, run) == pid {
		t.Errorf("the next apply did not restart app: it still runs with the configuration from before the interrupted apply (pid %d)\n%s%s", pid, out, errOut)
	}
}

// TestConfigRollbackTwiceAfterModeOnlyApply (found by review): docs say
// rolling back twice "finds the files already restored and writes
// nothing"; after a rollback that put back only a mode, a second rollback
// takes that rollback for the last apply and refuses (exit 5, "the
// registry has no record of the earlier ones").
func TestConfigRollbackTwiceAfterModeOnlyApply(t *testing.T) {
	f, src, dst := oneFileFleet(t, "127.0.91.12", "127.0.91.13", `mode: "0644"`)
	writeFile(t, src, "workers 4\n")
	mustRun(t, f, "config", "apply", "worker1", "app", "--restart", "none")
	replaceInInventory(t, f, `mode: "0644"`, `mode: "0600"`)
	mustRun(t, f, "config", "apply", "worker1", "app", "--restart", "none")
	mustRun(t, f, "config", "rollback", "worker1", "app", "--yes", "--restart", "none")
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o644 {
		t.Fatalf("the first rollback: mode %04o, want 0644", st.Mode().Perm())
	}
	out, errOut, code := omni(t, f, "config", "rollback", "worker1", "app", "--yes", "--restart", "none")
	if code != 0 {
		t.Errorf("a second rollback: exit %d, want 0 (the files are already restored, nothing to write)\n%s%s", code, out, errOut)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o644 {
		t.Errorf("the second rollback changed the mode: %04o", st.Mode().Perm())
	}
}

// TestConfigDiffShowsSpecialModeBitsApplyClears (found by review): with
// mode "0640" declared and the host's file at 2640 (setgid), config diff
// says "No difference" and exits 0, and the next config apply then
// changes the file's mode (attrs fixed, the bit cleared): diff does not
// show what apply would change.
func TestConfigDiffShowsSpecialModeBitsApplyClears(t *testing.T) {
	f, src, dst := oneFileFleet(t, "127.0.91.14", "127.0.91.15", `mode: "0640", on_change: none`)
	writeFile(t, src, "workers 4\n")
	mustRun(t, f, "config", "apply", "worker1", "app")
	if out, errOut, code := omni(t, f, "config", "diff", "worker1", "app"); code != 0 {
		t.Fatalf("config diff after the apply: exit %d\n%s%s", code, out, errOut)
	}
	if err := os.Chmod(dst, 0o640|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := omni(t, f, "config", "diff", "worker1", "app")
	dOut, _, _ := omni(t, f, "config", "apply", "worker1", "app", "--dry-run")
	aOut := mustRun(t, f, "config", "apply", "worker1", "app")
	if code != ExitDiffers {
		t.Errorf("config diff with the host's file at 2640, 0640 declared: exit %d, want 6\n%s%s\napply --dry-run says:\n%s\nthen apply says:\n%s", code, out, errOut, dOut, aOut)
	}
}

// TestConfigRenderErrorIsUsageErrorInEveryCommand (found by review): a
// file whose source is missing is an inventory error naming FILE:LINE,
// exit 2 in config diff and apply (docs/config.md: "2 usage or inventory
// error (FILE:LINE), a secret's source unset"); config show, pull and
// rollback exit 1 for the same inventory.
func TestConfigRenderErrorIsUsageErrorInEveryCommand(t *testing.T) {
	f, src, _ := oneFileFleet(t, "127.0.91.16", "127.0.91.17", "")
	writeFile(t, src, "workers 4\n")
	mustRun(t, f, "config", "apply", "worker1", "app", "--restart", "none")
	writeFile(t, src, "workers 16\n")
	mustRun(t, f, "config", "apply", "worker1", "app", "--restart", "none")
	os.Remove(src)
	for _, args := range [][]string{
		{"config", "diff", "worker1", "app"},
		{"config", "show", "worker1", "app"},
		{"config", "pull", "worker1", "app", "--dry-run"},
		{"config", "rollback", "worker1", "app", "--dry-run"},
	} {
		out, errOut, code := omni(t, f, args...)
		if code != ExitUsage || !strings.Contains(errOut, "no such file") {
			t.Errorf("omni %s with the source missing: exit %d, want 2 (the inventory error)\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
}

// TestSecretKeyTakenOutOfInventoryHashNotPrinted (found by review): after
// DB_PASSWORD (secret) is taken out of the inventory, the apply that
// rewrites the environment file records the old file, which held the
// password, as a plain file: config history (text and JSON), service
// history -o json and config apply -o json print its SHA-256, from
// which the password can be brute-forced offline (every other byte of
// the file is in git), which docs/config.md says omni never prints.
func TestSecretKeyTakenOutOfInventoryHashNotPrinted(t *testing.T) {
	f, dir := configFleet(t, "127.0.91.18", "127.0.91.19")
	mustRun(t, f, "config", "apply", "worker1", "cfgsvc", "--restart", "none")
	held := strings.TrimPrefix(config.HashBytes([]byte(readFile(t, filepath.Join(dir, "h", "cfgsvc.env")))), "sha256:")
	replaceInInventory(t, f, "      DB_PASSWORD: {secret: true, from_env: OMNI_T_DBPW}\n", "")
	aOut, _, code := omni(t, f, "-o", "json", "config", "apply", "worker1", "cfgsvc", "--restart", "none")
	if code != 0 {
		t.Fatalf("apply without DB_PASSWORD: exit %d\n%s", code, aOut)
	}
	if strings.Contains(readFile(t, filepath.Join(dir, "h", "cfgsvc.env")), "DB_PASSWORD") {
		t.Fatal("the apply did not rewrite the environment file")
	}
	outputs := map[string]string{"config apply -o json": aOut}
	for _, args := range [][]string{
		{"config", "history", "worker1", "cfgsvc"},
		{"-o", "json", "config", "history", "worker1", "cfgsvc"},
		{"-o", "json", "service", "history", "worker1", "cfgsvc"},
	} {
		out, errOut, _ := omni(t, f, args...)
		outputs[strings.Join(args, " ")] = out + errOut
	}
	for cmd, out := range outputs {
		if strings.Contains(out, held[:12]) {
			t.Errorf("omni %s prints the hash of the environment file that held the secret DB_PASSWORD (%s…):\n%s", cmd, held[:12], out)
		}
	}
}

// TestConfigRollbackOfOnChangeNoneOwesNoRestart (found by review): a
// rollback of a file with on_change: none restarts nothing and marks
// nothing pending, but it moves the registry's applied set without
// running_with, so the next config apply (which writes only that
// on_change: none file again) restarts the running service, "pending from
// an earlier apply (the service last started with another
// configuration)": a restart nothing asked for.
func TestConfigRollbackOfOnChangeNoneOwesNoRestart(t *testing.T) {
	f, src, _ := oneFileFleet(t, "127.0.91.20", "127.0.91.21", "on_change: none")
	writeFile(t, src, "workers 4\n")
	mustRun(t, f, "service", "start", "worker1", "app")
	writeFile(t, src, "workers 16\n")
	mustRun(t, f, "config", "apply", "worker1", "app")
	mustRun(t, f, "config", "rollback", "worker1", "app", "--yes")
	pid := f.PID("worker1", "app")
	if pid == 0 {
		t.Fatal("app is not running")
	}
	out := mustRun(t, f, "config", "apply", "worker1", "app")
	if got := f.PID("worker1", "app"); got != pid || strings.Contains(out, "restarted") {
		t.Errorf("config apply after the rollback of an on_change: none file restarted app (pid %d → %d):\n%s", pid, got, out)
	}
}

// reviewCfgGroupNS restarts srv's sshd in a mount namespace of its own
// whose /etc/group is the machine's with extra lines (a host whose groups
// come from a directory service), on the same address, port and config.
func reviewCfgGroupNS(t *testing.T, srv *sshtest.Server, extra string) {
	t.Helper()
	b, err := os.ReadFile("/etc/group")
	if err != nil {
		t.Fatal(err)
	}
	group := filepath.Join(t.TempDir(), "group")
	writeFile(t, group, string(b)+extra)
	srv.Stop()
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		"mount --bind "+group+" /etc/group && exec "+sshtest.SSHDPath+" -D -e -f "+filepath.Join(srv.Dir, "sshd_config"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGSTOP)
		for _, p := range reviewDescendants(pid) {
			syscall.Kill(p, syscall.SIGKILL)
		}
		syscall.Kill(pid, syscall.SIGKILL)
		cmd.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", srv.HostPort(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd with its own /etc/group did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConfigReadsFileWhoseGroupNameHasASpace (found by review): on a host
// joined to Active Directory (sssd, winbind) group names hold spaces
// ("domain users", the primary group of every AD user, so of every file
// such a deploy user creates). The read script splits stat's
// "%a %s %U %G ..." on blanks, so a managed file of such a group is
// "unexpected stat output: 10 fields": config diff and apply fail on it
// for good.
func TestConfigReadsFileWhoseGroupNameHasASpace(t *testing.T) {
	dir := t.TempDir()
	conf, src := filepath.Join(dir, "app.conf"), filepath.Join(dir, "src.conf")
	writeFile(t, src, "workers 4\n")
	writeFile(t, conf, "workers 4\n")
	if err := os.Chown(conf, -1, 4242); err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	svc := reviewSleeper("app", "7912", "    files: [{path: "+conf+", source: "+src+", on_change: none}]\n")
	inv, srv, _ := reviewHost(t, "127.0.91.22", "", me.Username, "", "app", svc)
	reviewCfgGroupNS(t, srv, "domain users:x:4242:\n")

	out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "config", "diff", "web1", "app")
	if code != 0 {
		t.Errorf("config diff of a file as declared, group \"domain users\": exit %d, want 0\n%s%s", code, out, errOut)
	}
	writeFile(t, src, "workers 16\n")
	out, errOut, code, _ = omniInv(t, 30*time.Second, inv, "config", "apply", "web1", "app")
	if code != 0 || readFile(t, conf) != "workers 16\n" {
		t.Errorf("config apply over a file of group \"domain users\": exit %d, want 0 and the file written\n%s%s", code, out, errOut)
	}
}

// TestConfigApplyDryRunOfStoppedServiceSaysNoRestart (found by review):
// config apply leaves a stopped service stopped ("pending: written while
// stopped"), but its --dry-run, which docs/config.md says prints "the
// restarts it would run", says "would restart" for it.
func TestConfigApplyDryRunOfStoppedServiceSaysNoRestart(t *testing.T) {
	f, src, _ := oneFileFleet(t, "127.0.91.23", "127.0.91.24", "")
	writeFile(t, src, "workers 4\n")
	mustRun(t, f, "service", "start", "worker1", "app")
	mustRun(t, f, "service", "stop", "worker1", "app", "--yes")
	writeFile(t, src, "workers 16\n")
	dry := mustRun(t, f, "config", "apply", "worker1", "app", "--dry-run")
	real := mustRun(t, f, "config", "apply", "worker1", "app")
	if strings.Contains(real, "restarted") {
		t.Fatalf("the apply restarted the stopped service:\n%s", real)
	}
	if strings.Contains(dry, "would restart") {
		t.Errorf("--dry-run says it would restart the stopped service; the apply does not:\n--dry-run:\n%s\napply:\n%s", dry, real)
	}
}

// TestConfigApplyDryRunRestartNoneSaysNoRestart (found by review): with
// --restart none an apply restarts nothing ("pending: written, restart
// skipped"), but `config apply --dry-run --restart none` says "would
// restart".
func TestConfigApplyDryRunRestartNoneSaysNoRestart(t *testing.T) {
	f, src, _ := oneFileFleet(t, "127.0.91.25", "127.0.91.26", "")
	writeFile(t, src, "workers 4\n")
	mustRun(t, f, "service", "start", "worker1", "app")
	writeFile(t, src, "workers 16\n")
	dry := mustRun(t, f, "config", "apply", "worker1", "app", "--dry-run", "--restart", "none")
	real := mustRun(t, f, "config", "apply", "worker1", "app", "--restart", "none")
	if strings.Contains(real, "restarted") {
		t.Fatalf("the apply --restart none restarted the service:\n%s", real)
	}
	if strings.Contains(dry, "would restart") {
		t.Errorf("--dry-run --restart none says it would restart; the apply does not:\n--dry-run:\n%s\napply:\n%s", dry, real)
	}
}

// TestSecretFileMadePlainIsNotPrintedFromTheHost (found by review): a
// file omni wrote as secret (tls.key, secret: true) whose declaration
// loses `secret: true` (a new, public source in its place) still holds
// the secret on the host until the next apply; config diff and show
// --live then print the host's copy, the old private key, in their
// unified diff and content. omni masks an environment file's keys in
// that case (the registry says the host's copy held secrets), not a
// file's content; and config pull writes that copy into the checkout.
func TestSecretFileMadePlainIsNotPrintedFromTheHost(t *testing.T) {
	f, dir := configFleet(t, "127.0.91.27", "127.0.91.28")
	mustRun(t, f, "config", "apply", "worker1", "cfgsvc", "--restart", "none")
	if readFile(t, filepath.Join(dir, "h", "tls.key")) != cfgTLSKey {
		t.Fatal("the secret file was not written")
	}
	writeFile(t, filepath.Join(dir, "src", "tls.crt"), "PUBLIC CERTIFICATE\n")
	replaceInInventory(t, f, "source: "+dir+"/src/tls.key, secret: true}", "source: "+dir+"/src/tls.crt}")
	for _, args := range [][]string{
		{"config", "diff", "worker1", "cfgsvc"},
		{"-o", "json", "config", "diff", "worker1", "cfgsvc"},
		{"config", "show", "worker1", "cfgsvc", "--live"},
		{"config", "apply", "worker1", "cfgsvc", "--dry-run"},
	} {
		out, errOut, code := omni(t, f, args...)
		if strings.Contains(out+errOut, "s3cr3t") {
			t.Errorf("omni %s (exit %d) prints the host's copy of the file omni wrote as secret:\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	// pull brings the host's copy into the checkout: the old private key
	// would be committed to git as tls.crt.
	out, errOut, code := omni(t, f, "config", "pull", "worker1", "cfgsvc", "--yes")
	if strings.Contains(readFile(t, filepath.Join(dir, "src", "tls.crt")), "s3cr3t") {
		t.Errorf("config pull (exit %d) wrote the host's copy of the file omni wrote as secret into the checkout:\n%s%s", code, out, errOut)
	}
}

// TestConfigWrittenWhileStoppedThenStartedElsewhereIsNotPending (found by
// review): an apply to a stopped service marks it pending "written while
// stopped: its next start runs with it". When that next start is not
// omni's (the host rebooted, systemd or an operator started it), the
// mark stays for good: config diff exits 6 ("pending restart") every
// time, and config apply shows the running service as "pending: written
// while stopped" and never restarts or clears it, though the service
// started after the files were written.
func TestConfigWrittenWhileStoppedThenStartedElsewhereIsNotPending(t *testing.T) {
	inv, dir, run := reviewCfgHost(t, "127.0.91.29", "7913", "")
	if out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "service", "start", "web1", "app"); code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "service", "stop", "web1", "app", "--yes"); code != 0 {
		t.Fatalf("stop: exit %d\n%s%s", code, out, errOut)
	}
	writeFile(t, filepath.Join(dir, "src", "app.conf"), "workers 16\n")
	out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "config", "apply", "web1", "app")
	if code != 0 || !strings.Contains(out, "written while stopped") {
		t.Fatalf("apply to the stopped service: exit %d\n%s%s", code, out, errOut)
	}
	time.Sleep(1100 * time.Millisecond) // the start is in a later second than the write
	// Its next start, not omni's: the service's own start command.
	start := exec.Command("sh", "-c", "nohup sleep 7913 >/dev/null 2>&1 </dev/null & echo $! > "+filepath.Join(run, "app.pid"))
	if b, err := start.CombinedOutput(); err != nil {
		t.Fatalf("starting app by hand: %v\n%s", err, b)
	}
	if st, errOut, code, _ := omniInv(t, 30*time.Second, inv, "service", "status", "web1", "app"); code != 0 {
		t.Fatalf("app is not running after its start by hand: exit %d\n%s%s", code, st, errOut)
	}
	out, errOut, code, _ = omniInv(t, 30*time.Second, inv, "config", "diff", "web1", "app")
	if code != 0 {
		t.Errorf("config diff of a service that started after the files were written: exit %d, want 0\n%s%s", code, out, errOut)
	}
	out, errOut, _, _ = omniInv(t, 30*time.Second, inv, "config", "apply", "web1", "app")
	if strings.Contains(out, "written while stopped") {
		t.Errorf("config apply calls the running service \"written while stopped\":\n%s%s", out, errOut)
	}
}
