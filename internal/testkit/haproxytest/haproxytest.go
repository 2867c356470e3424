// Package haproxytest starts a real HAProxy (Debian package haproxy, see
// scripts/install-test-deps.sh) for tests: in the foreground, on loopback,
// with an admin socket of its own and one TCP backend.
package haproxytest

import (
	"bufio"
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
)

// Binary is where the Debian package installs HAProxy.
const Binary = "/usr/sbin/haproxy"

// Options say what HAProxy fronts.
type Options struct {
	Listen  string // the frontend's address, e.g. 127.0.1.60:0 (0: a free port)
	Backend string // the backend's name
	Server  string // its one server's name
	Target  string // the server's address ADDR:PORT
	// Check: HAProxy checks the server (TCP connect) every 100ms.
	Check bool
}

// HAProxy is a running HAProxy.
type HAProxy struct {
	Addr   string // the frontend's ADDR:PORT
	Socket string // the admin socket's path
	Log    string // HAProxy's stderr
	cmd    *exec.Cmd
}

// Start starts HAProxy and waits until its admin socket accepts
// connections (HAProxy binds its frontend before: a probe connection
// through it would count as a session of the backend's server); it is
// killed (by its PID) when the test ends.
func Start(t testing.TB, o Options) *HAProxy {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("haproxy is not installed (%v): run scripts/install-test-deps.sh", err)
	}
	dir := t.TempDir()
	addr := o.Listen
	if host, port, _ := net.SplitHostPort(addr); port == "0" {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	h := &HAProxy{Addr: addr, Socket: filepath.Join(dir, "admin.sock"), Log: filepath.Join(dir, "haproxy.log")}
	check := ""
	if o.Check {
		check = " check inter 100ms fall 1 rise 1"
	}
	cfg := fmt.Sprintf(`global
    stats socket %s mode 600 level admin
    stats timeout 10s
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
frontend fe
    bind %s
    default_backend %s
backend %s
    server %s %s%s
`, h.Socket, addr, o.Backend, o.Backend, o.Server, o.Target, check)
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(h.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	// -db: stay in the foreground, not a daemon.
	h.cmd = exec.Command(Binary, "-db", "-f", cfgPath)
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { h.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", h.Socket); err == nil {
			c.Close()
			return h
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(h.Log)
			t.Fatalf("haproxy exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(h.Log)
			t.Fatalf("haproxy not ready after 10s:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Command sends one command to the admin socket (directly, not over SSH:
// the test's own view) and returns the answer.
func (h *HAProxy) Command(t testing.TB, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", h.Socket, 5*time.Second)
	if err != nil {
		t.Fatalf("haproxy admin socket: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd + "\n")); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}

// AdminState is the server's srv_admin_state in `show servers state`:
// 0 ready, 8 drain (SRV_ADMF_FDRAIN), 1 maint (SRV_ADMF_FMAINT); -1 when
// the server is not listed.
func (h *HAProxy) AdminState(t testing.TB, backend, server string) int {
	t.Helper()
	out := h.Command(t, "show servers state "+backend)
	var cols []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == "#" {
			cols = f[1:]
			continue
		}
		if cols == nil || len(f) < len(cols) {
			continue
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = f[i]
		}
		if row["be_name"] == backend && row["srv_name"] == server {
			n, err := strconv.Atoi(row["srv_admin_state"])
			if err != nil {
				t.Fatalf("show servers state: srv_admin_state %q", row["srv_admin_state"])
			}
			return n
		}
	}
	t.Logf("show servers state %s:\n%s", backend, out)
	return -1
}

// Admin states of `show servers state`.
const (
	StateReady = 0
	StateDrain = 8
)
