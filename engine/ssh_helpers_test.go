package engine

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/sshconfig"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
)

// Helpers of the review_ssh_* tests: an isolated HOME, an ssh-agent of the
// test's own, omni's connection path (Endpoint from inventory + ssh_config,
// then the pool) and OpenSSH's ssh for comparison.

// reviewHome gives the test a HOME of its own, no agent, and returns it.
func reviewHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	return home
}

// reviewAgent starts an ssh-agent of the test's own (killed by PID at the
// end), loads keys into it in order, and points SSH_AUTH_SOCK at it.
func reviewAgent(t *testing.T, keys ...string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Skipf("no ssh-agent: %v", err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ssh-agent did not create its socket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	for _, key := range keys {
		add := exec.Command("ssh-add", key)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock, "SSH_ASKPASS=", "DISPLAY=")
		add.Stdin = nil
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add %s: %v\n%s", key, err, out)
		}
	}
	return sock
}

// reviewAddWithPassphrase loads a passphrase-protected key into the agent
// at sock, the passphrase given through SSH_ASKPASS (never a terminal).
func reviewAddWithPassphrase(t *testing.T, sock, key, passphrase string) {
	t.Helper()
	askpass := filepath.Join(t.TempDir(), "askpass.sh")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho '"+passphrase+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock, "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
	add.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add %s: %v\n%s", key, err, out)
	}
}

// reviewKeygen runs ssh-keygen, failing the test on error.
func reviewKeygen(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
	}
}

// reviewWrite writes text to path (0600).
func reviewWrite(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// reviewOmniConnect connects to inventory host name the way omni's
// commands do (engine.Endpoint with the ssh config, a pool with the
// agent), runs `id -un` there, and returns the error, if any.
func reviewOmniConnect(t *testing.T, configPath, invText, name string) error {
	t.Helper()
	cfg, err := sshconfig.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	invPath := reviewWrite(t, filepath.Join(t.TempDir(), "inventory.yaml"), invText)
	inv, err := inventory.Load(invPath)
	if err != nil {
		t.Fatal(err)
	}
	h, err := inv.Host(name)
	if err != nil {
		t.Fatal(err)
	}
	pool := transport.NewPool(transport.Options{UseAgent: true})
	t.Cleanup(func() { pool.Close() })
	c := &SSHConnector{Pool: pool, Inventory: inv, SSHConfig: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := c.Connect(ctx, h)
	if err != nil {
		return err
	}
	res, err := conn.Run(ctx, "id -un")
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		t.Fatalf("id -un: %+v", res)
	}
	return nil
}

// reviewOpenSSH runs OpenSSH's ssh -F configPath alias true in batch mode
// (never prompts), bounded in time, and returns its output and error.
func reviewOpenSSH(t *testing.T, configPath, alias string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no OpenSSH client to compare with")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", "-F", configPath, "-o", "BatchMode=yes", alias, "true")
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func reviewItoa(n int) string { return strconv.Itoa(n) }
