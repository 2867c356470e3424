package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// testServe runs Serve in-process for hosts, as `lab serve` would, and
// stops it when the test ends.
type testServe struct {
	dir       string
	endpoints []Endpoint
	client    gossh.Signer
	hostKeys  map[string]gossh.PublicKey
	user      string
	stop      func() // ends Serve and waits for it
}

func startTestServe(t *testing.T, hosts ...string) *testServe {
	t.Helper()
	dir := t.TempDir()
	user, err := currentUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := writeClientKey(filepath.Join(dir, clientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg := serveConfig{Version: 1, User: user, ClientKey: string(gossh.MarshalAuthorizedKey(pub)), Port: DefaultPort}
	ts := &testServe{dir: dir, user: user, hostKeys: map[string]gossh.PublicKey{}}
	for _, h := range hosts {
		seed, err := newSeed()
		if err != nil {
			t.Fatal(err)
		}
		signer, err := signerFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		ts.hostKeys[h] = signer.PublicKey()
		cfg.Hosts = append(cfg.Hosts, serveHost{Name: h, Seed: seed})
	}
	if err := writeJSON(filepath.Join(dir, serveFile), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if ts.client, err = readClientSigner(filepath.Join(dir, clientKeyFile)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, dir, io.Discard) }()
	var stopped bool
	ts.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}
	t.Cleanup(ts.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var doc endpointsDoc
		if err := readJSON(filepath.Join(dir, endpointsFile), &doc); err == nil {
			ts.endpoints = doc.Hosts
			return ts
		}
		select {
		case err := <-done:
			t.Fatalf("Serve ended before listening: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Serve did not write its endpoints")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (ts *testServe) config(host string) *gossh.ClientConfig {
	return &gossh.ClientConfig{
		User:            ts.user,
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(ts.client)},
		HostKeyCallback: gossh.FixedHostKey(ts.hostKeys[host]),
		Timeout:         5 * time.Second,
	}
}

func (ts *testServe) addr(i int) string {
	return net.JoinHostPort(ts.endpoints[i].Address, strconv.Itoa(ts.endpoints[i].Port))
}

func (ts *testServe) dial(t *testing.T, i int) *gossh.Client {
	t.Helper()
	c, err := gossh.Dial("tcp", ts.addr(i), ts.config(ts.endpoints[i].Name))
	if err != nil {
		t.Fatalf("dial %s: %v", ts.endpoints[i].Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run runs cmd on a new session and returns its outputs and exit code.
func run(t *testing.T, c *gossh.Client, cmd string) (string, string, int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out, errOut bytes.Buffer
	s.Stdout, s.Stderr = &out, &errOut
	err = s.Run(cmd)
	var exit *gossh.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &exit):
		return out.String(), errOut.String(), exit.ExitStatus()
	}
	t.Fatalf("run %q: %v", cmd, err)
	return "", "", 0
}

func waitDead(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	if left := waitGone([]int{pid}, timeout); len(left) > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("process %d still running after %s", pid, timeout)
	}
}

func TestServeAddressesAndHostKeys(t *testing.T) {
	ts := startTestServe(t, "a", "b", "c")
	if len(ts.endpoints) != 3 {
		t.Fatalf("endpoints: %+v", ts.endpoints)
	}
	for i, ep := range ts.endpoints {
		if !strings.HasPrefix(ep.Address, addrPrefix+".") || ep.Port != DefaultPort {
			t.Errorf("endpoint %d = %+v, want %s.x.y:%d", i, ep, addrPrefix, DefaultPort)
		}
		if i > 0 && ep.Address == ts.endpoints[i-1].Address {
			t.Errorf("hosts %d and %d share %s", i-1, i, ep.Address)
		}
		out, _, code := run(t, ts.dial(t, i), "echo hello")
		if out != "hello\n" || code != 0 {
			t.Errorf("%s: echo hello = %q, exit %d", ep.Name, out, code)
		}
	}
	// Another lab at the same time takes another block of addresses.
	other := startTestServe(t, "a")
	for _, ep := range ts.endpoints {
		if ep.Address == other.endpoints[0].Address {
			t.Fatalf("two labs share %s", ep.Address)
		}
	}
	// A host key that is not the host's is refused.
	cfg := ts.config("b")
	if c, err := gossh.Dial("tcp", ts.addr(0), cfg); err == nil {
		c.Close()
		t.Error("host a accepted as host b")
	}
}

func TestServeExec(t *testing.T) {
	ts := startTestServe(t, "h1")
	c := ts.dial(t, 0)
	out, errOut, code := run(t, c, "echo out; echo err >&2; exit 3")
	if out != "out\n" || errOut != "err\n" || code != 3 {
		t.Errorf("got stdout %q stderr %q exit %d", out, errOut, code)
	}
	out, _, _ = run(t, c, `echo "$OMNI_LAB_DIR|$OMNI_LAB_HOST|$USER|$HOME"`)
	home, _ := os.UserHomeDir()
	if want := ts.dir + "|h1|" + ts.user + "|" + home + "\n"; out != want {
		t.Errorf("environment: %q, want %q", out, want)
	}
	// The shell leads a process group of its own: omni's transport kills
	// a cancelled command by that group, the shell's PID.
	out, _, _ = run(t, c, `echo $$; ps -o pgid= -p $$`)
	if f := strings.Fields(out); len(f) != 2 || f[0] != f[1] {
		t.Errorf("pid and process group: %q, want equal", out)
	}
	// stdin reaches the command.
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	s.Stdin = strings.NewReader("piped\n")
	got, err := s.Output("cat")
	if err != nil || string(got) != "piped\n" {
		t.Errorf("cat: %q, %v", got, err)
	}
	// Killed by a signal: 128+n, as OpenSSH reports it.
	if _, _, code := run(t, c, "kill -9 $$"); code != 137 {
		t.Errorf("kill -9: exit %d, want 137", code)
	}
}

// TestServeKillsCommandsOfClosedSessions: a session closed while its
// command runs takes the command's whole process group with it, as does a
// signal request, a lost connection and the server stopping.
func TestServeKillsCommandsOfClosedSessions(t *testing.T) {
	ts := startTestServe(t, "h1")
	c := ts.dial(t, 0)
	start := func(c *gossh.Client) (*gossh.Session, int) {
		t.Helper()
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := s.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start("sleep 60 & echo $!; wait"); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil || !alive(pid) {
			t.Fatalf("sleep pid %q: %v", line, err)
		}
		return s, pid
	}

	s, pid := start(c)
	s.Close()
	waitDead(t, pid, 5*time.Second)

	s, pid = start(c)
	if err := s.Signal(gossh.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitDead(t, pid, 5*time.Second)
	s.Close()

	other := ts.dial(t, 0)
	_, pid = start(other)
	other.Close()
	waitDead(t, pid, 5*time.Second)

	_, pid = start(ts.dial(t, 0))
	ts.stop()
	waitDead(t, pid, 5*time.Second)
	if conn, err := net.DialTimeout("tcp", ts.addr(0), time.Second); err == nil {
		conn.Close()
		t.Error("still listening after Serve returned")
	}
}

func TestServeForwarding(t *testing.T) {
	ts := startTestServe(t, "bastion", "worker")
	bastion := ts.dial(t, 0)

	// A bastion hop: the worker's SSH server through the bastion's.
	conn, err := bastion.Dial("tcp", ts.addr(1))
	if err != nil {
		t.Fatal(err)
	}
	cc, chans, reqs, err := gossh.NewClientConn(conn, ts.addr(1), ts.config("worker"))
	if err != nil {
		t.Fatal(err)
	}
	worker := gossh.NewClient(cc, chans, reqs)
	defer worker.Close()
	if out, _, _ := run(t, worker, "echo $OMNI_LAB_HOST"); out != "worker\n" {
		t.Errorf("through the bastion: %q, want worker", out)
	}

	// A port of the host, as health checks dial it; a closed one is refused.
	ln, err := net.Listen("tcp4", ts.endpoints[0].Address+":0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.WriteString(c, "hi")
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	fwd, err := bastion.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(fwd); string(b) != "hi" {
		t.Errorf("through the forward: %q", b)
	}
	fwd.Close()
	ln.Close()
	_, err = bastion.Dial("tcp", net.JoinHostPort(ts.endpoints[0].Address, strconv.Itoa(port)))
	var open *gossh.OpenChannelError
	if !errors.As(err, &open) || open.Reason != gossh.ConnectionFailed || !strings.Contains(open.Message, "refused") {
		t.Errorf("closed port: %v, want connection refused", err)
	}

	// Anything but 127.0.0.0/8 is prohibited.
	for _, dest := range []string{"10.20.0.11:22", "192.0.2.1:80", "[::1]:22"} {
		_, err := bastion.Dial("tcp", dest)
		if !errors.As(err, &open) || open.Reason != gossh.Prohibited {
			t.Errorf("forward to %s: %v, want prohibited", dest, err)
		}
	}
}

func TestServeRefuses(t *testing.T) {
	ts := startTestServe(t, "h1")
	// Another key, another user: no way in.
	otherKey := filepath.Join(t.TempDir(), "key")
	if _, err := writeClientKey(otherKey); err != nil {
		t.Fatal(err)
	}
	other, err := readClientSigner(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ts.config("h1")
	cfg.Auth = []gossh.AuthMethod{gossh.PublicKeys(other)}
	if c, err := gossh.Dial("tcp", ts.addr(0), cfg); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		if c != nil {
			c.Close()
		}
		t.Errorf("another key: %v, want refused", err)
	}
	cfg = ts.config("h1")
	cfg.User = ts.user + "-not"
	if c, err := gossh.Dial("tcp", ts.addr(0), cfg); err == nil {
		c.Close()
		t.Error("another user was let in")
	}

	// Shells and ptys are not offered.
	c := ts.dial(t, 0)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err == nil {
		t.Error("pty granted")
	}
	if err := s.Shell(); err == nil {
		t.Error("shell granted")
	}
}
