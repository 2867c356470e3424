package sshtest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHDPath is where the harness expects OpenSSH's server; sshd refuses to
// run unless started by absolute path.
const SSHDPath = "/usr/sbin/sshd"

const installHint = "run scripts/install-test-deps.sh (it installs openssh-server) and run the tests again"

// startTimeout bounds how long Start waits for sshd to accept connections.
const startTimeout = 5 * time.Second

// Options configure a Server.
type Options struct {
	// Addr is the loopback address to listen on; 127.0.0.1 by default.
	Addr string
	// Port to listen on; 0 picks a free one.
	Port int
	// DisableForwarding sets AllowTcpForwarding no (forwarding is allowed
	// by default, as bastions and port checks need it).
	DisableForwarding bool
	// HostKeyTypes are the ssh-keygen -t types of the host keys, in order;
	// ["ed25519"] by default. HostKeyLine is about the first.
	HostKeyTypes []string
	// ExtraConfig is put at the top of the generated sshd_config, so that
	// its settings win: sshd keeps the first value it reads for a keyword.
	// It must not contain Match blocks.
	ExtraConfig string
	// Netns, when set, is a network namespace (netnstest) to run sshd in,
	// with `ip netns exec`: Addr is then an address of that namespace the
	// test reaches through its veth, and Port defaults to 22. The
	// commands sshd runs for its clients run in the namespace too.
	Netns string
}

// Server is a running sshd.
type Server struct {
	Addr string
	Port int
	// User is the current user, the one the server lets in.
	User string
	// IdentityFile is the authorized private key (ClientKey).
	IdentityFile string
	// KnownHostsFile holds this server's host key line and nothing else.
	KnownHostsFile string
	// PID of the sshd listener.
	PID int
	// Dir holds the server's keys, config and log (sshd.log).
	Dir string

	t        testing.TB
	hostKeys []ssh.PublicKey
	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
}

// Start starts an sshd as described by opts, waits until it accepts
// connections, and stops it when the test ends. It fails the test if sshd
// is not installed or does not start.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	requireTools(t)
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1"
	}
	if len(opts.HostKeyTypes) == 0 {
		opts.HostKeyTypes = []string{"ed25519"}
	}
	if os.Geteuid() == 0 {
		// sshd's privilege separation directory; root's sshd will not start
		// without it, and tmpfs /run loses it at boot.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshtest: %v", err)
		}
	}
	s := &Server{
		Addr:         opts.Addr,
		User:         currentUser(t),
		IdentityFile: ClientKey(t),
		Dir:          t.TempDir(),
		t:            t,
	}
	t.Cleanup(s.Stop)

	var hostKeyFiles []string
	for _, keyType := range opts.HostKeyTypes {
		path := filepath.Join(s.Dir, "ssh_host_"+keyType+"_key")
		out, err := exec.Command("ssh-keygen", "-q", "-t", keyType, "-N", "", "-C", "sshtest", "-f", path).CombinedOutput()
		if err != nil {
			t.Fatalf("sshtest: ssh-keygen -t %s: %v\n%s", keyType, err, out)
		}
		key, err := readPublicKey(path + ".pub")
		if err != nil {
			t.Fatalf("sshtest: reading host key: %v", err)
		}
		hostKeyFiles = append(hostKeyFiles, path)
		s.hostKeys = append(s.hostKeys, key)
	}
	clientPub, err := os.ReadFile(s.IdentityFile + ".pub")
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	authorizedKeys := filepath.Join(s.Dir, "authorized_keys")
	if err := os.WriteFile(authorizedKeys, clientPub, 0o600); err != nil {
		t.Fatalf("sshtest: %v", err)
	}

	// A port found free may be taken before sshd binds it: try another.
	const attempts = 5
	for attempt := 1; ; attempt++ {
		s.Port = opts.Port
		if s.Port == 0 && opts.Netns != "" {
			s.Port = 22 // the namespace is the test's own
		} else if s.Port == 0 {
			s.Port = freePort(t, opts.Addr)
		}
		config := s.config(opts, hostKeyFiles, authorizedKeys)
		configPath := filepath.Join(s.Dir, "sshd_config")
		if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
			t.Fatalf("sshtest: %v", err)
		}
		err := s.launch(configPath, opts.Netns)
		if err == nil {
			break
		}
		if opts.Port != 0 || opts.Netns != "" || attempt == attempts {
			t.Fatalf("sshtest: sshd on %s did not start: %v\nsshd log:\n%s", s.HostPort(), err, s.log())
		}
	}

	s.KnownHostsFile = filepath.Join(s.Dir, "known_hosts")
	s.WriteKnownHosts(s.KnownHostsFile)
	return s
}

func requireTools(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Fatalf("sshtest: OpenSSH server not found at %s: %s", SSHDPath, installHint)
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatalf("sshtest: ssh-keygen not found: %s", installHint)
	}
}

func currentUser(t testing.TB) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshtest: current user: %v", err)
	}
	return u.Username
}

func (s *Server) config(opts Options, hostKeyFiles []string, authorizedKeys string) string {
	forwarding := "yes"
	if opts.DisableForwarding {
		forwarding = "no"
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	if opts.ExtraConfig != "" {
		line("%s", strings.TrimRight(opts.ExtraConfig, "\n"))
	}
	line("ListenAddress %s", s.HostPort())
	for _, path := range hostKeyFiles {
		line("HostKey %s", path)
	}
	line("PidFile %s", filepath.Join(s.Dir, "sshd.pid"))
	line("AuthorizedKeysFile %s", authorizedKeys)
	line("PasswordAuthentication no")
	line("KbdInteractiveAuthentication no")
	line("PubkeyAuthentication yes")
	line("UsePAM no")
	line("StrictModes no")
	line("AllowTcpForwarding %s", forwarding)
	line("PermitRootLogin yes")
	line("LogLevel ERROR")
	line("MaxSessions 100")
	line("MaxStartups 100:30:200")
	line("Subsystem sftp internal-sftp")
	// Keep the tester's shell start-up files out of the tests: bash reads
	// ~/.bashrc for commands run by sshd, unless it is a nested shell.
	line("SetEnv SHLVL=1")
	if penalisesSources() {
		// OpenSSH 9.8+ throttles addresses that fail to authenticate or
		// time out, which fault tests do on purpose.
		line("PerSourcePenalties no")
	}
	return b.String()
}

var sshdVersion struct {
	once         sync.Once
	major, minor int
}

// penalisesSources reports whether this sshd has PerSourcePenalties (9.8+).
func penalisesSources() bool {
	sshdVersion.once.Do(func() {
		// Older sshd have no -V but print their version with the usage.
		out, _ := exec.Command(SSHDPath, "-V").CombinedOutput()
		m := regexp.MustCompile(`OpenSSH_(\d+)\.(\d+)`).FindSubmatch(out)
		if m != nil {
			sshdVersion.major, _ = strconv.Atoi(string(m[1]))
			sshdVersion.minor, _ = strconv.Atoi(string(m[2]))
		}
	})
	return sshdVersion.major > 9 || (sshdVersion.major == 9 && sshdVersion.minor >= 8)
}

// launch starts sshd with configPath (in network namespace netns, when
// not "") and waits until it speaks SSH.
func (s *Server) launch(configPath, netns string) error {
	logFile, err := os.OpenFile(filepath.Join(s.Dir, "sshd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // sshd has its own copy
	cmd := exec.Command(SSHDPath, "-D", "-e", "-f", configPath)
	if netns != "" {
		cmd = exec.Command("ip", "netns", "exec", netns, SSHDPath, "-D", "-e", "-f", configPath)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sshdProcAttr()
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		// The parent-death signal follows the thread that started sshd, not
		// the process: keep that thread until sshd has exited.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return err
	}
	s.cmd, s.PID, s.exited = cmd, cmd.Process.Pid, exited

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("sshd exited: %v", cmd.ProcessState)
		default:
		}
		if speaksSSH(s.HostPort()) {
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			s.cmd = nil
			return fmt.Errorf("not accepting SSH connections after %s", startTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// speaksSSH reports whether an SSH server answers at hostPort.
func speaksSSH(hostPort string) bool {
	conn, err := net.DialTimeout("tcp", hostPort, 500*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	banner, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(banner, "SSH-2.0-") {
		return false
	}
	// Answer in kind, or sshd logs the probe as an error.
	_, _ = conn.Write([]byte("SSH-2.0-sshtest-probe\r\n"))
	return true
}

func freePort(t testing.TB, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("sshtest: finding a free port on %s: %v", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Stop kills the server and the processes serving its connections, so that
// open connections drop and new ones are refused: the host becomes
// unreachable. Start arranges for it to run when the test ends.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd == nil {
			return
		}
		s.kill()
		if s.t.Failed() {
			s.t.Logf("sshtest: log of sshd on %s:\n%s", s.HostPort(), s.log())
		}
	})
}

// kill kills the sshd listener and its descendants, by PID: the listener
// is paused while its descendants are listed so that it cannot fork more.
func (s *Server) kill() {
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	children := descendants(pid)
	_ = s.cmd.Process.Kill()
	for _, child := range children {
		_ = syscall.Kill(child, syscall.SIGKILL)
	}
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.t.Errorf("sshtest: sshd %d did not exit after SIGKILL", pid)
	}
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := make(map[int][]int)
	for _, entry := range entries {
		child, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", entry.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		if parent, err := strconv.Atoi(fields[1]); err == nil {
			children[parent] = append(children[parent], child)
		}
	}
	var found []int
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		found = append(found, children[next]...)
		queue = append(queue, children[next]...)
	}
	return found
}

func (s *Server) log() string {
	data, err := os.ReadFile(filepath.Join(s.Dir, "sshd.log"))
	if errors.Is(err, os.ErrNotExist) {
		return "(no log)"
	}
	if err != nil {
		return err.Error()
	}
	return string(data)
}

// HostPort is the server's address as host:port.
func (s *Server) HostPort() string {
	return net.JoinHostPort(s.Addr, strconv.Itoa(s.Port))
}

// HostKeys returns the server's host public keys, in Options.HostKeyTypes order.
func (s *Server) HostKeys() []ssh.PublicKey { return s.hostKeys }

// HostKeyLine is the known_hosts line for the server's first host key:
// "[addr]:port ssh-ed25519 AAAA...".
func (s *Server) HostKeyLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.HostPort())}, s.hostKeys[0])
}

// WriteKnownHosts appends HostKeyLine to the known_hosts file at path,
// creating it if needed.
func (s *Server) WriteKnownHosts(path string) {
	s.t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err == nil {
		_, err = f.WriteString(s.HostKeyLine() + "\n")
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
	}
	if err != nil {
		s.t.Fatalf("sshtest: writing known hosts: %v", err)
	}
}

// Endpoint describes the server for the transport package: the client key,
// the server's own known_hosts file, a 5s connect timeout.
func (s *Server) Endpoint(name string) transport.Endpoint {
	return transport.Endpoint{
		Name:           name,
		Address:        s.Addr,
		Port:           s.Port,
		User:           s.User,
		IdentityFiles:  []string{s.IdentityFile},
		KnownHosts:     s.KnownHostsFile,
		ConnectTimeout: 5 * time.Second,
	}
}
