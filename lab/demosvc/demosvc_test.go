package demosvc_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/demosvctest"
	"github.com/omni-fleet/omni/lab/demosvc"
)

// proc is a running demo service.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // from Wait, valid once exited is closed
}

// startDemo runs the demo service with args; it is SIGKILLed at cleanup if
// still running.
func startDemo(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(demosvctest.Binary(t), args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// wait returns the exit code, failing the test after timeout.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("demo service still running after %s", timeout)
	}
	var exitErr *exec.ExitError
	if errors.As(p.err, &exitErr) {
		return exitErr.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// get returns the status and body of GET url, or an error when nothing
// answers.
func get(url string) (int, string, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitAnswer polls url until it answers and returns its status and body.
func waitAnswer(t *testing.T, url string, timeout time.Duration) (int, string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, body, err := get(url)
		if err == nil {
			return code, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: no answer after %s: %v", url, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitFile(t *testing.T, path string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written after %s", path, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStartReadyStop(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	pidfile := filepath.Join(dir, "svc.pid")
	logPath := filepath.Join(dir, "svc.log")
	started := time.Now()
	p := startDemo(t, "--name", "api-gateway", "--listen", addr, "--ready-after", "1s",
		"--pidfile", pidfile, "--log", logPath)

	pid := strings.TrimSpace(waitFile(t, pidfile, 5*time.Second))
	if pid != strconv.Itoa(p.cmd.Process.Pid) {
		t.Errorf("pidfile holds %q, want %d", pid, p.cmd.Process.Pid)
	}
	// Not ready yet: the port is not even open, so a port check waits too.
	if _, _, err := get("http://" + addr + "/healthz"); err == nil && time.Since(started) < time.Second {
		t.Errorf("answered before --ready-after passed")
	}

	code, body := waitAnswer(t, "http://"+addr+"/healthz", 10*time.Second)
	if code != http.StatusOK || body != "ok" {
		t.Errorf("GET /healthz = %d %q, want 200 \"ok\"", code, body)
	}
	if elapsed := time.Since(started); elapsed < time.Second {
		t.Errorf("ready after %s, want at least 1s", elapsed)
	}
	if code, body, _ := get("http://" + addr + "/"); code != http.StatusOK || body != "api-gateway\n" {
		t.Errorf("GET / = %d %q", code, body)
	}

	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if _, err := os.Stat(pidfile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pidfile after clean exit: %v, want it removed", err)
	}
	logText := waitFile(t, logPath, time.Second)
	for _, want := range []string{
		"api-gateway[" + pid + "]: started",
		"ready, listening on " + addr,
		"GET /healthz 200 from 127.0.0.1:",
		"stopping (SIGTERM)",
		"stopped",
	} {
		if !strings.Contains(logText, want) {
			t.Errorf("log lacks %q:\n%s", want, logText)
		}
	}
}

func TestUnhealthy(t *testing.T) {
	addr := freeAddr(t)
	startDemo(t, "--listen", addr, "--unhealthy")
	code, body := waitAnswer(t, "http://"+addr+"/healthz", 10*time.Second)
	if code != http.StatusServiceUnavailable {
		t.Errorf("GET /healthz = %d %q, want 503", code, body)
	}
}

func TestHealthPathAndStatus(t *testing.T) {
	addr := freeAddr(t)
	startDemo(t, "--name", "probe", "--listen", addr, "--health-path", "/status/live", "--health-status", "204")
	if code, _ := waitAnswer(t, "http://"+addr+"/status/live", 10*time.Second); code != http.StatusNoContent {
		t.Errorf("GET /status/live = %d, want 204", code)
	}
	if code, _, _ := get("http://" + addr + "/healthz"); code != http.StatusNotFound {
		t.Errorf("GET /healthz with another health path = %d, want 404", code)
	}
	if code, body, _ := get("http://" + addr + "/"); code != http.StatusOK || body != "probe\n" {
		t.Errorf("GET / = %d %q", code, body)
	}

	// The health path may be the root itself.
	root := freeAddr(t)
	startDemo(t, "--listen", root, "--health-path", "/", "--unhealthy")
	if code, body := waitAnswer(t, "http://"+root+"/", 10*time.Second); code != http.StatusServiceUnavailable {
		t.Errorf("GET / as an unhealthy health path = %d %q, want 503", code, body)
	}
}

func TestStopDelay(t *testing.T) {
	addr := freeAddr(t)
	p := startDemo(t, "--listen", addr, "--stop-delay", "700ms")
	waitAnswer(t, "http://"+addr+"/healthz", 10*time.Second)
	sent := time.Now()
	p.signal(t, syscall.SIGTERM)
	// It stops accepting at once, while it still finishes its work.
	deadline := time.Now().Add(500 * time.Millisecond)
	for {
		if _, _, err := get("http://" + addr + "/healthz"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	if elapsed := time.Since(sent); elapsed < 700*time.Millisecond {
		t.Errorf("exited %s after SIGTERM, want at least the 700ms stop delay", elapsed)
	}
}

func TestIgnoreSIGTERM(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "svc.log")
	pidfile := filepath.Join(dir, "svc.pid")
	p := startDemo(t, "--ignore-sigterm", "--log", logPath, "--pidfile", pidfile)
	waitFile(t, pidfile, 5*time.Second)
	p.signal(t, syscall.SIGTERM)
	select {
	case <-p.exited:
		t.Fatal("exited on SIGTERM despite --ignore-sigterm")
	case <-time.After(300 * time.Millisecond):
	}
	if logText := waitFile(t, logPath, time.Second); !strings.Contains(logText, "ignoring SIGTERM") {
		t.Errorf("log lacks \"ignoring SIGTERM\":\n%s", logText)
	}
	p.signal(t, syscall.SIGINT) // still stops it
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit code after SIGINT = %d, want 0", code)
	}
}

func TestExitAfter(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "svc.pid")
	p := startDemo(t, "--exit-after", "200ms", "--pidfile", pidfile)
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	// A crash leaves its pidfile behind, like a real one.
	if _, err := os.Stat(pidfile); err != nil {
		t.Errorf("pidfile after crash: %v, want it left", err)
	}
}

func TestListenFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := startDemo(t, "--listen", ln.Addr().String())
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Errorf("exit code with the port taken = %d, want 1", code)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"--no-such-flag"}, {"stray-argument"}, {"--ready-after", "soon"},
		{"--health-path", "healthz"}, {"--health-status", "42"}} {
		if code := demosvc.Main(args); code != 2 {
			t.Errorf("Main(%q) = %d, want 2", args, code)
		}
	}
}
