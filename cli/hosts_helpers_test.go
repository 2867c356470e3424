package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/sshtest"
	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// The review_hosts tests log in to their fleets as deploy users of their
// own (reviewhN), made here with the login shell and start-up files a real
// fleet's hosts have. They need root (useradd, and an sshd that lets
// others in: sshtest's AuthorizedKeysFile is one absolute path).

// reviewHostUser makes a local user with login shell sh and the given
// files in its home (name relative to the home -> content), and removes
// it when the test ends.
func reviewHostUser(t *testing.T, name, sh string, files map[string]string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the review_hosts tests need root (useradd)")
	}
	if _, err := os.Stat(sh); err != nil {
		t.Fatalf("no %s: scripts/install-test-deps.sh installs it", sh)
	}
	exec.Command("userdel", "-r", "-f", name).Run()
	if out, err := exec.Command("useradd", "-m", "-p", "*", "-s", sh, name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		// the user's processes first (a service it started), by PID
		out, _ := exec.Command("pgrep", "-u", name).Output()
		for _, p := range strings.Fields(string(out)) {
			exec.Command("kill", "-9", p).Run()
		}
		time.Sleep(100 * time.Millisecond)
		exec.Command("userdel", "-r", "-f", name).Run()
	})
	home := "/home/" + name
	for rel, content := range files {
		p := filepath.Join(home, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		exec.Command("chown", "-R", name+":"+name, filepath.Dir(p)).Run()
	}
	return name
}

// reviewFleetAs returns an inventory of f whose hosts are logged in to as
// user: f's files are opened to it (the run directory writable).
func reviewFleetAs(t *testing.T, f *testfleet.Fleet, user, extra string) string {
	t.Helper()
	open := func(path string, mode os.FileMode) {
		for d := path; d != "/" && d != "."; d = filepath.Dir(d) {
			if strings.HasPrefix(d, os.TempDir()+"/") {
				os.Chmod(d, 0o755)
			}
		}
		os.Chmod(path, mode)
	}
	open(f.RunDir, 0o777)
	open(f.Demo, 0o755)
	open(filepath.Join(f.Bastion.Dir, "authorized_keys"), 0o644)
	open(filepath.Join(f.Worker.Dir, "authorized_keys"), 0o644)
	for _, w := range f.Workers {
		open(filepath.Join(w.Dir, "authorized_keys"), 0o644)
	}
	b, err := os.ReadFile(f.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	inv := strings.Replace(string(b), "  user: "+f.Bastion.User+"\n", "  user: "+user+"\n"+extra, 1)
	path := filepath.Join(f.Dir, "inventory-"+user+".yaml")
	if err := os.WriteFile(path, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// omniInv runs omni on inventory inv, bounded by d: a run still going
// then is interrupted, and reported as such.
func omniInv(t *testing.T, d time.Duration, inv string, args ...string) (stdout, stderr string, code int, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	s, out, errOut := TestStreams("", false)
	start := time.Now()
	code = Run(ctx, append([]string{"-i", inv}, args...), s)
	took = time.Since(start)
	if ctx.Err() != nil {
		errOut.WriteString(fmt.Sprintf("\n[review: still running after %s: interrupted]\n", d))
	}
	return out.String(), errOut.String(), code, took
}

// reviewHost starts an sshd of its own on addr (extra at the top of its
// sshd_config), opens its files to user, and writes an inventory with one
// host, web1, that runs the services of services (the YAML under
// `services:`, indented 2), all in role web. run is a directory every
// user may write, for pidfiles.
func reviewHost(t *testing.T, addr, extra, user, defaults, roles, services string) (inv string, srv *sshtest.Server, run string) {
	t.Helper()
	srv = sshtest.Start(t, sshtest.Options{Addr: addr, ExtraConfig: extra})
	dir := t.TempDir()
	run = filepath.Join(dir, "run")
	os.MkdirAll(run, 0o777)
	for _, p := range []string{run, filepath.Join(srv.Dir, "authorized_keys")} {
		for d := p; d != "/" && d != "."; d = filepath.Dir(d) {
			if strings.HasPrefix(d, os.TempDir()+"/") {
				os.Chmod(d, 0o755)
			}
		}
	}
	os.Chmod(run, 0o1777)
	os.Chmod(filepath.Join(srv.Dir, "authorized_keys"), 0o644)
	inv = filepath.Join(dir, "inventory.yaml")
	y := fmt.Sprintf(`version: 1
defaults:
  user: %s
  identity_file: %s
  known_hosts: %s
  manager: command
  connect_timeout: 5s
  stop_grace: 2s
  start_timeout: 5s
  command_timeout: 10s
%sregistry:
  path: %s/state.db
hosts:
  web1:
    address: %s
    port: %d
    roles: [web]
roles:
  web: [%s]
services:
%s`, user, srv.IdentityFile, srv.KnownHostsFile, defaults, dir, srv.Addr, srv.Port, roles, strings.ReplaceAll(services, "@RUN@", run))
	if err := os.WriteFile(inv, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return inv, srv, run
}

// reviewSleeper is a command-manager service body: a sleep of its own
// (sleep SECS, a number no other test uses) in the background, its PID in
// @RUN@/NAME.pid.
func reviewSleeper(name, secs, extra string) string {
	return fmt.Sprintf(`  %[1]s:
    commands:
      start: 'nohup sleep %[2]s >/dev/null 2>&1 </dev/null & echo $! > @RUN@/%[1]s.pid'
      status: 'cat @RUN@/%[1]s.pid'
    health: {process: true}
%[3]s`, name, secs, extra)
}

// reviewHidepid restarts srv's sshd in a mount namespace of its own whose
// /proc is mounted hidepid=2 (a hardened host: a user sees only its own
// processes in /proc and ps), on the same address, port and config.
func reviewHidepid(t *testing.T, srv *sshtest.Server) {
	t.Helper()
	srv.Stop()
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		"mount -t proc -o hidepid=2 proc /proc && exec "+sshtest.SSHDPath+" -D -e -f "+filepath.Join(srv.Dir, "sshd_config"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		// the listener and the sshd processes of its sessions, by PID
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
			t.Fatalf("hidepid sshd did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reviewDescendants lists the processes below pid.
func reviewDescendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	q := []int{pid}
	for len(q) > 0 {
		n := q[0]
		q = q[1:]
		out = append(out, children[n]...)
		q = append(q, children[n]...)
	}
	return out
}

// reviewKillPidfile kills the process whose PID is in path, if any.
func reviewKillPidfile(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
