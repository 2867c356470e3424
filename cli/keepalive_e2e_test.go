package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestBlackHoledHostDuringRestart: the link to a host drops (its packets
// are dropped: no reset, no end of stream) while the restart's stop
// command runs. With keepalives every 1s and 2 allowed to go unanswered,
// the run ends within the keepalive window of the drop, not at the stop
// step's own bound (stop_grace 2s + 20s), with exit 4, naming the host and
// saying why.
func TestBlackHoledHostDuringRestart(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.145.11"})
	proxy := sshtest.StartProxy(t, "127.0.145.12", srv.HostPort())
	dir := t.TempDir()
	knownHosts := filepath.Join(dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(proxy.HostPort())}, srv.HostKeys()[0])
	if err := os.WriteFile(knownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The service: a process of the test's, which the stop never ends.
	svc := exec.Command("sleep", "300")
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Process.Kill(); _ = svc.Wait() })
	pidFile, marker := filepath.Join(dir, "svc.pid"), filepath.Join(dir, "stopping")
	if err := os.WriteFile(pidFile, []byte(fmt.Sprintln(svc.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	inventoryPath := filepath.Join(dir, "inventory.yaml")
	inv := fmt.Sprintf(`version: 1
defaults:
  user: %s
  identity_file: %s
  known_hosts: %s
  manager: command
  connect_timeout: 5s
  stop_grace: 2s
  server_alive_interval: 1s
  server_alive_count_max: 2
registry:
  path: %s
hosts:
  web1: {address: %s, port: %d, roles: [web]}
roles:
  web: [slow-stop]
services:
  slow-stop:
    commands:
      start: 'true'
      status: 'cat %s'
      stop: 'touch %s; sleep 60'
`, srv.User, srv.IdentityFile, knownHosts, filepath.Join(dir, "registry.db"), proxy.Addr, proxy.Port, pidFile, marker)
	if err := os.WriteFile(inventoryPath, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}

	type outcome struct {
		stdout, stderr string
		code           int
	}
	done := make(chan outcome, 1)
	go func() {
		s, out, errOut := TestStreams("", false)
		code := Run(context.Background(), []string{"-i", inventoryPath, "service", "restart", "web1", "slow-stop"}, s)
		done <- outcome{out.String(), errOut.String(), code}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		select {
		case o := <-done:
			t.Fatalf("the restart ended before its stop command ran: exit %d\n%s\n%s", o.code, o.stdout, o.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the stop command did not start within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	proxy.Drop()
	dropped := time.Now()

	// 1s to the first unanswered keepalive, 2s window, slack; the stop
	// step's own bound is 22s.
	const within = 10 * time.Second
	select {
	case o := <-done:
		took := time.Since(dropped)
		t.Logf("exit %d after %s\nstdout:\n%s\nstderr:\n%s", o.code, took.Round(time.Millisecond), o.stdout, o.stderr)
		if took > within {
			t.Errorf("the run ended %s after the link dropped, want within %s", took.Round(time.Millisecond), within)
		}
		if o.code != ExitUnreachable {
			t.Errorf("exit %d, want %d (unreachable)", o.code, ExitUnreachable)
		}
		want := "web1 (" + proxy.HostPort() + "): unreachable: connection lost during command: no answer to 2 keepalives in 2s"
		if !strings.Contains(o.stderr, "slow-stop on web1") || !strings.Contains(o.stderr, want) {
			t.Errorf("stderr does not name the service, the host and why (%s):\n%s", want, o.stderr)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the run still goes 40s after the link dropped")
	}
}
