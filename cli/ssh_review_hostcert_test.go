package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestReviewExpiredHostCertificateIsUntrustedHostKey (found by review): a
// host whose certificate from the trusted @cert-authority has expired (the
// usual failure of short-lived host certificates) is a host key omni cannot
// trust, so the run must end with exit 4 (docs/exit-codes.md: "a host key
// unknown or changed"); hostKeyCheck.callback returns the certificate's
// error as a plain error (not a *HostKeyError), so omni exits 1, "failed",
// as if something had run on the host.
func TestReviewExpiredHostCertificateIsUntrustedHostKey(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "host_ca")
	hostKey := filepath.Join(dir, "ssh_host_cert_ed25519_key")
	for _, args := range [][]string{
		{"-q", "-t", "ed25519", "-N", "", "-C", "host-ca", "-f", ca},
		{"-q", "-t", "ed25519", "-N", "", "-C", "host", "-f", hostKey},
		// Valid for an hour, two days ago: expired.
		{"-q", "-s", ca, "-I", "review-host", "-h", "-n", "127.0.92.4", "-V", "-2d:-47h", hostKey + ".pub"},
	} {
		if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
		}
	}
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.92.4",
		ExtraConfig: "HostKey " + hostKey + "\nHostCertificate " + hostKey + "-cert.pub"})
	caPub, err := os.ReadFile(ca + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(fmt.Sprintf("@cert-authority [127.0.92.4]:%d %s\n", srv.Port, strings.TrimSpace(string(caPub)))), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(inv, []byte(fmt.Sprintf(`version: 1
defaults:
  user: %s
  identity_file: %s
  known_hosts: %s
  ssh_config: none
  manager: command
  connect_timeout: 5s
registry:
  path: %s/state.db
hosts:
  web1: {address: %s, port: %d, roles: [web]}
roles:
  web: [app]
services:
  app:
    commands: {start: 'true', stop: 'true', status: 'true'}
`, srv.User, srv.IdentityFile, knownHosts, dir, srv.Addr, srv.Port)), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code, _ := omniInv(t, 60*time.Second, inv, "service", "status", "web1", "app")
	if code != 4 {
		t.Fatalf("a host whose host certificate has expired: exit %d, want 4 (host key not trusted)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// reviewCertHost starts an sshd on addr whose host key has a certificate
// (HostCertificate) from a CA of its own, and writes an inventory for it,
// web1, with known_hosts at knownHosts (not created here).
func reviewCertHost(t *testing.T, addr string) (inv, knownHosts string) {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "host_ca")
	hostKey := filepath.Join(dir, "ssh_host_cert_ed25519_key")
	for _, args := range [][]string{
		{"-q", "-t", "ed25519", "-N", "", "-C", "host-ca", "-f", ca},
		{"-q", "-t", "ed25519", "-N", "", "-C", "host", "-f", hostKey},
		{"-q", "-s", ca, "-I", "review-host", "-h", "-n", addr, hostKey + ".pub"},
	} {
		if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
		}
	}
	srv := sshtest.Start(t, sshtest.Options{Addr: addr,
		ExtraConfig: "HostKey " + hostKey + "\nHostCertificate " + hostKey + "-cert.pub"})
	knownHosts = filepath.Join(dir, "known_hosts")
	inv = filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(inv, []byte(fmt.Sprintf(`version: 1
defaults:
  user: %s
  identity_file: %s
  known_hosts: %s
  ssh_config: none
  manager: command
  connect_timeout: 5s
registry:
  path: %s/state.db
hosts:
  web1: {address: %s, port: %d, roles: [web]}
roles:
  web: [app]
services:
  app:
    commands: {start: 'true', stop: 'true', status: 'true'}
`, srv.User, srv.IdentityFile, knownHosts, dir, srv.Addr, srv.Port)), 0o644); err != nil {
		t.Fatal(err)
	}
	return inv, knownHosts
}

// TestReviewNewHostWithHostCertificateCanBeAccepted (found by review): a
// host not yet in an existing known_hosts (here it lists another host
// only) whose sshd has a HostCertificate is neither reported as unknown
// (exit 1 "host key check: ssh: no authorities for hostname", not exit 4)
// nor accepted by --accept-new-host-keys, where OpenSSH checks the
// certificate's plain key ("No matching CA found. Retry with plain key").
func TestReviewNewHostWithHostCertificateCanBeAccepted(t *testing.T) {
	inv, knownHosts := reviewCertHost(t, "127.0.92.5")
	other := sshtest.Start(t, sshtest.Options{Addr: "127.0.92.6"})
	if err := os.WriteFile(knownHosts, []byte(other.HostKeyLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code, _ := omniInv(t, 60*time.Second, inv, "service", "status", "web1", "app")
	if code != 4 {
		t.Errorf("a new host that has a host certificate, without --accept-new-host-keys: exit %d, want 4 (host key not known)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	stdout, stderr, code, _ = omniInv(t, 60*time.Second, inv, "service", "status", "web1", "app", "--accept-new-host-keys")
	if code != 0 {
		t.Fatalf("a new host that has a host certificate, with --accept-new-host-keys: exit %d, want 0 (its key accepted, as ssh -o StrictHostKeyChecking=accept-new does)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestReviewAcceptedHostCertificateIsKnownNextRun (found by review): with
// no known_hosts file yet, --accept-new-host-keys records the host's
// certificate itself ("[addr]:port ssh-ed25519-cert-v01@openssh.com ...",
// appendKnownHost with the certificate as the key), and the next run
// refuses the very host it has just trusted ("ssh: no authorities for
// hostname", exit 1): the key recorded must be the host's plain key.
func TestReviewAcceptedHostCertificateIsKnownNextRun(t *testing.T) {
	inv, knownHosts := reviewCertHost(t, "127.0.92.7")
	stdout, stderr, code, _ := omniInv(t, 60*time.Second, inv, "service", "status", "web1", "app", "--accept-new-host-keys")
	if code != 0 {
		t.Fatalf("first run, --accept-new-host-keys: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	recorded, _ := os.ReadFile(knownHosts)
	stdout, stderr, code, _ = omniInv(t, 60*time.Second, inv, "service", "status", "web1", "app")
	if code != 0 || strings.Contains(string(recorded), "-cert-v01@openssh.com") {
		t.Fatalf("the run after --accept-new-host-keys: exit %d, want 0 (the host was just accepted); known_hosts holds:\n%s\nstdout:\n%s\nstderr:\n%s", code, recorded, stdout, stderr)
	}
}
