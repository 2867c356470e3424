package cli

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// realFleet is a test fleet whose service "daemon" (role bastion, so
// reached directly) is a real, widely used daemon driven by the command
// manager. Every daemon listens on the bastion's loopback address only,
// with its configuration, pidfile and logs in Dir.
type realFleet struct {
	*testfleet.Fleet
	t    *testing.T
	Dir  string // the daemon's own files
	Addr string // where it listens (the bastion's address)
	Port int    // its port
	// Grace is the service's stop_grace ("" 5s).
	Grace string
}

func startRealFleet(t *testing.T, bastion, worker string) *realFleet {
	t.Helper()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: bastion, WorkerAddr: worker,
		Extra: []testfleet.Service{{Name: "daemon", Role: "bastion"}}})
	return &realFleet{Fleet: f, t: t, Dir: t.TempDir(), Addr: bastion, Port: f.Ports["daemon"]}
}

// need skips the test when the daemon's executable is missing.
func needExe(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
			if _, err := os.Stat(filepath.Join(d, name)); err == nil {
				return filepath.Join(d, name)
			}
		}
		t.Fatalf("%s is not installed: run scripts/install-test-deps.sh", name)
	}
	return p
}

// setDaemon rewrites the daemon's service body: its commands, and body
// (more YAML keys of the service, indented 4 spaces; "" none).
func (r *realFleet) setDaemon(cmds legacyCommands, more string) {
	r.t.Helper()
	grace := r.Grace
	if grace == "" {
		grace = "5s"
	}
	r.SetService("daemon", "    stop_grace: "+grace+"\n    start_timeout: 10s\n"+cmds.yaml()+more)
}

// run runs omni with a backstop of its own.
func (r *realFleet) run(args ...string) (stdout, stderr string, code int, took time.Duration) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()
	stdout, stderr, code = omniCtx(ctx, r.t, r.Fleet, false, "", args...)
	r.t.Logf("omni %s: exit %d after %s\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), code, time.Since(began).Round(time.Millisecond), stdout, stderr)
	return stdout, stderr, code, time.Since(began)
}

func (r *realFleet) path(name string) string { return filepath.Join(r.Dir, name) }

func (r *realFleet) write(name, text string) {
	r.t.Helper()
	if err := os.WriteFile(r.path(name), []byte(text), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// pidOf reads a pidfile's first word; 0 when there is none.
func pidOf(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// squat listens on addr:port in this test process, as another program
// holding the daemon's port would, until the test ends.
func squat(t *testing.T, addr string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// killAtEnd kills, when the test ends, the process group and the process
// a pidfile names now (the daemons of these tests lead groups of their own).
func killAtEnd(t *testing.T, pidfile string) {
	t.Cleanup(func() {
		if pid := pidOf(pidfile); pid > 1 {
			if pg, err := syscall.Getpgid(pid); err == nil && pg == pid {
				syscall.Kill(-pid, syscall.SIGKILL)
			}
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}
