package systemdtest

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

//go:embed boot.sh
var bootScript string

// Lifetime bounds how long a host can live: past it, `timeout -s KILL`
// ends it even if the test binary died without cleaning up.
const Lifetime = 15 * time.Minute

// readyTimeout bounds how long Boot waits for systemd to finish booting.
const readyTimeout = 60 * time.Second

// Options describe one host.
type Options struct {
	// Name is the host's name (its cgroup is NAME-PID of the test
	// process): unique among the hosts of one test process.
	Name string
	// Addr is the loopback address its sshd listens on, port 22.
	Addr string
	// Files are written into the host's root (path inside the host →
	// content), after the enabled units are removed: units go under
	// /etc/systemd/system, and are enabled with Enable.
	Files map[string]string
	// Executables are copied into the host (path inside → file on this
	// machine), mode 0755. The host's /tmp is its own: test binaries
	// built under /tmp must be copied in.
	Executables map[string]string
	// Enable are units under /etc/systemd/system to start at boot
	// (linked into multi-user.target.wants).
	Enable []string
	// Users are non-root users to create, each allowed passwordless sudo
	// and logging in with the same key as root.
	Users []string
}

// Host is a booted systemd host.
type Host struct {
	Name, Addr     string
	Port           int
	IdentityFile   string // the client key root and Users log in with
	KnownHostsFile string // holds the host's key, for Addr:Port
	// PID is the host's PID 1 as this machine sees it.
	PID  int
	dir  string
	boot *exec.Cmd
}

// Check says why this machine cannot boot a host, or nil.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("booting systemd in namespaces needs root (unshare, mount, pivot_root)")
	}
	for _, p := range []string{"/lib/systemd/systemd", "/usr/sbin/sshd"} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is missing: run scripts/install-test-deps.sh", p)
		}
	}
	for _, tool := range []string{"unshare", "setpriv", "timeout", "mknod", "pivot_root"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is missing (util-linux, coreutils)", tool)
		}
	}
	fs, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(fs), "\toverlay\n") {
		return errors.New("the kernel has no overlayfs (modprobe overlay)")
	}
	if _, err := cgroupRoot(); err != nil {
		return err
	}
	return nil
}

// cgroupRoot is where this machine's cgroup2 hierarchy is mounted: the
// unified part of a hybrid host, or /sys/fs/cgroup itself.
func cgroupRoot() (string, error) {
	for _, dir := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st syscall.Statfs_t
		if syscall.Statfs(dir, &st) == nil && st.Type == 0x63677270 { // CGROUP2_SUPER_MAGIC
			return dir, nil
		}
	}
	return "", errors.New("no cgroup2 hierarchy at /sys/fs/cgroup/unified or /sys/fs/cgroup")
}

// Boot starts a host and waits until systemd reports the boot finished
// and its sshd answers. The host is killed at the end of the test. On a
// machine that cannot boot one, the test fails, saying why.
func Boot(t testing.TB, opts Options) *Host {
	t.Helper()
	if err := Check(); err != nil {
		t.Fatalf("systemdtest: this machine cannot boot a systemd host: %v", err)
	}
	cgroot, _ := cgroupRoot()
	dir := t.TempDir()
	h := &Host{Name: opts.Name, Addr: opts.Addr, Port: 22, IdentityFile: sshtest.ClientKey(t), dir: dir}
	h.writeFiles(t, opts)
	script := filepath.Join(dir, "boot.sh")
	if err := os.WriteFile(script, []byte(bootScript), 0o755); err != nil {
		t.Fatal(err)
	}
	console, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	h.boot = exec.Command("timeout", "-s", "KILL", strconv.Itoa(int(Lifetime.Seconds())),
		"unshare", "--mount", "--pid", "--uts", "--ipc", "--propagation", "private",
		"--kill-child=SIGKILL", "--fork", "sh", script, dir, opts.Name, cgroot)
	// The cgroup's name has this process's PID: two test processes (or
	// one and the leftovers of a SIGKILLed one) never share a cgroup.
	cgname := opts.Name + "-" + strconv.Itoa(os.Getpid())
	h.boot.Env = append(os.Environ(), "OMNI_SD_CGROUP="+cgname)
	h.boot.Stdout, h.boot.Stderr = console, console
	if err := h.boot.Start(); err != nil {
		t.Fatalf("systemdtest: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = h.boot.Wait(); close(exited) }()
	t.Cleanup(func() { h.kill(t, exited, filepath.Join(cgroot, cgname)) })

	deadline := time.Now().Add(readyTimeout)
	for {
		out, err := h.run("systemctl is-system-running --wait")
		state := strings.TrimSpace(out)
		if err == nil || state == "degraded" {
			if state != "running" {
				failed, _ := h.run("systemctl --failed --no-legend")
				t.Fatalf("systemdtest: %s booted %s:\n%s", opts.Name, state, failed)
			}
			break
		}
		select {
		case <-exited:
			t.Fatalf("systemdtest: %s did not boot:\n%s", opts.Name, h.console())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemdtest: %s not ready after %s (%v):\n%s", opts.Name, readyTimeout, err, h.console())
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.PID = h.pid1()
	return h
}

func (h *Host) console() string {
	b, _ := os.ReadFile(filepath.Join(h.dir, "console.log"))
	return string(b)
}

// sshdConfig is the host's own sshd: its key, the test client's key.
const sshdConfig = `ListenAddress @ADDR@:22
HostKey /etc/omni-test/host_key
AuthorizedKeysFile /etc/omni-test/authorized_keys
PidFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin yes
UseDNS no
MaxStartups 100:30:200
`

const sshdUnit = `[Unit]
Description=sshd for omni's tests

[Service]
ExecStart=/usr/sbin/sshd -D -e -f /etc/omni-test/sshd_config
RuntimeDirectory=sshd
`

// writeFiles lays out dir/files (copied over the host's root) and
// dir/customize (run on the root before the boot).
func (h *Host) writeFiles(t testing.TB, opts Options) {
	t.Helper()
	files := filepath.Join(h.dir, "files")
	write := func(path string, data []byte, mode os.FileMode) {
		full := filepath.Join(files, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	hostKey := filepath.Join(h.dir, "host_key")
	if err := sshtest.WriteKey(hostKey); err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(hostKey)
	pub, _ := os.ReadFile(hostKey + ".pub")
	client, err := os.ReadFile(h.IdentityFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	write("etc/omni-test/host_key", key, 0o600)
	write("etc/omni-test/authorized_keys", client, 0o644)
	write("etc/omni-test/sshd_config", []byte(strings.ReplaceAll(sshdConfig, "@ADDR@", opts.Addr)), 0o644)
	write("etc/systemd/system/omni-test-sshd.service", []byte(sshdUnit), 0o644)
	for path, content := range opts.Files {
		write(strings.TrimPrefix(path, "/"), []byte(content), 0o644)
	}
	for path, src := range opts.Executables {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		write(strings.TrimPrefix(path, "/"), data, 0o755)
	}
	h.KnownHostsFile = filepath.Join(h.dir, "known_hosts")
	line := knownhosts.Line([]string{net.JoinHostPort(opts.Addr, "22")}, mustParse(t, pub))
	if err := os.WriteFile(h.KnownHostsFile, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// customize runs with the new root as $1, before systemd boots.
	var c strings.Builder
	c.WriteString("#!/bin/sh\nset -eu\nr=$1\nwants=$r/etc/systemd/system/multi-user.target.wants\nmkdir -p \"$wants\"\n")
	for _, unit := range append([]string{"omni-test-sshd.service"}, opts.Enable...) {
		fmt.Fprintf(&c, "ln -sf %s \"$wants\"/%s\n", shell.Quote("/etc/systemd/system/"+unit), shell.Quote(unit))
	}
	for i, u := range opts.Users {
		uid := strconv.Itoa(2001 + i)
		fmt.Fprintf(&c, "echo %s >>\"$r/etc/passwd\"\n", shell.Quote(u+":x:"+uid+":"+uid+"::/home/"+u+":/bin/sh"))
		fmt.Fprintf(&c, "echo %s >>\"$r/etc/group\"\n", shell.Quote(u+":x:"+uid+":"))
		fmt.Fprintf(&c, "echo %s >>\"$r/etc/shadow\"\n", shell.Quote(u+":*:19000:0:99999:7:::"))
		fmt.Fprintf(&c, "mkdir -p \"$r/home/%s\" \"$r/etc/sudoers.d\"\nchown %s:%s \"$r/home/%s\"\n", u, uid, uid, u)
		fmt.Fprintf(&c, "echo %s >\"$r/etc/sudoers.d/omni-test-%s\"\nchmod 0440 \"$r/etc/sudoers.d/omni-test-%s\"\n",
			shell.Quote(u+" ALL=(ALL) NOPASSWD: ALL"), u, u)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "customize"), []byte(c.String()), 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustParse(t testing.TB, pub []byte) ssh.PublicKey {
	t.Helper()
	key, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// Run runs cmd on the host as root over SSH and returns its output
// (stdout and stderr); a failure fails the test.
func (h *Host) Run(t testing.TB, cmd string) string {
	t.Helper()
	out, err := h.run(cmd)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", h.Name, cmd, err, out)
	}
	return out
}

var signers sync.Map // identity file → ssh.Signer

func (h *Host) run(cmd string) (string, error) {
	s, ok := signers.Load(h.IdentityFile)
	if !ok {
		key, err := os.ReadFile(h.IdentityFile)
		if err != nil {
			return "", err
		}
		signer, err := ssh.ParsePrivateKey(key)
		if err != nil {
			return "", err
		}
		s, _ = signers.LoadOrStore(h.IdentityFile, signer)
	}
	check, err := knownhosts.New(h.KnownHostsFile)
	if err != nil {
		return "", err
	}
	client, err := ssh.Dial("tcp", net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)), &ssh.ClientConfig{
		User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(s.(ssh.Signer))},
		HostKeyCallback: check, Timeout: 5 * time.Second,
	})
	if err != nil {
		return "", err
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return "", err
	}
	defer session.Close()
	out, err := session.CombinedOutput(cmd)
	return string(out), err
}

// pid1 finds the host's PID 1 as this machine sees it: the child of the
// unshare process, itself the child of timeout.
func (h *Host) pid1() int {
	pid := h.boot.Process.Pid
	for range 2 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			return 0
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0
		}
		pid, _ = strconv.Atoi(f[0])
	}
	return pid
}

// kill ends the host: SIGKILL to its PID 1 ends every process of its PID
// namespace; its mounts go with its mount namespace. Then its cgroups are
// removed.
func (h *Host) kill(t testing.TB, exited <-chan struct{}, cgroup string) {
	if pid := h.pid1(); pid > 1 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = h.boot.Process.Kill() // timeout, and with it unshare's child
		<-exited
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := removeCgroup(cgroup)
		if err == nil || os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("systemdtest: removing %s: %v", cgroup, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeCgroup removes a cgroup directory and the ones below it, deepest
// first (a cgroup is removed with rmdir once it has no processes).
func removeCgroup(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroup(filepath.Join(dir, e.Name())); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	return syscall.Rmdir(dir)
}
