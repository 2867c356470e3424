package transport_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// reviewKeygen runs ssh-keygen with args, failing the test on error.
func reviewKeygen(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
	}
}

// reviewOpenSSH runs OpenSSH's ssh client (no config, batch mode, strict
// host key checking) against srv with the given known_hosts file and
// extra options, and returns its error and output: the reference the
// tests compare omni with.
func reviewOpenSSH(t *testing.T, srv *sshtest.Server, knownHosts, identity string, extra ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no OpenSSH client to compare with")
	}
	args := []string{"-F", "none", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=5", "-o", "IdentitiesOnly=yes", "-i", identity,
		"-p", strconv.Itoa(srv.Port), "-l", srv.User}
	args = append(args, extra...)
	args = append(args, srv.Addr, "true")
	cmd := exec.Command("ssh", args...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("ssh did not finish within 20s")
	}
	return string(out), err
}

// TestHostCertificateIsTrustedViaCertAuthority: a host that
// presents an OpenSSH host certificate signed by a CA the operator trusts
// with a `@cert-authority` line in known_hosts (the standard way to run a
// fleet without per-host known_hosts entries) cannot be connected to, and
// omni says the host's key HAS CHANGED — a false man-in-the-middle alarm.
//
// What omni does: hostKeyCheck.algorithms (engine/transport/hostkeys.go)
// restricts the negotiated host key algorithms to the types of the keys
// known_hosts "lists" for the host. For a host covered only by
// @cert-authority, the probe lookup (knownHostsFile.keyTypes ->
// knownhosts checkAddr, which does not skip cert-authority lines) returns
// the CA key's type, "ssh-ed25519": omni then offers only the plain
// ssh-ed25519 algorithm, never ssh-ed25519-cert-v01@openssh.com, so the
// server shows its plain key, which is checked against the CA line as if
// the CA key were the host's own key: "HOST KEY HAS CHANGED".
//
// What it should do (what OpenSSH does): offer the certificate algorithms
// for a host with a matching @cert-authority line, verify the certificate
// against the CA, and connect. A plain key that is not known should, at
// worst, be "not known", not "changed".
func TestHostCertificateIsTrustedViaCertAuthority(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "host_ca")
	hostKey := filepath.Join(dir, "ssh_host_cert_ed25519_key")
	reviewKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "host-ca", "-f", ca)
	reviewKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "host", "-f", hostKey)
	reviewKeygen(t, "-q", "-s", ca, "-I", "review-host", "-h", "-n", "127.0.82.1", hostKey+".pub")
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.82.1",
		ExtraConfig: "HostKey " + hostKey + "\nHostCertificate " + hostKey + "-cert.pub"})

	caPub, err := os.ReadFile(ca + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	writeFile(t, knownHosts, "@cert-authority 127.0.82.1,[127.0.82.1]:"+strconv.Itoa(srv.Port)+" "+strings.TrimSpace(string(caPub)))

	// The setup is sound: OpenSSH connects, verifying the certificate.
	if out, err := reviewOpenSSH(t, srv, knownHosts, srv.IdentityFile); err != nil {
		t.Fatalf("OpenSSH's ssh refuses the setup too (%v):\n%s", err, out)
	}

	ep := srv.Endpoint("certhost")
	ep.KnownHosts = knownHosts
	_, err = newPool(t, transport.Options{}).Client(testContext(t), ep)
	if err != nil {
		var hk *transport.HostKeyError
		if errors.As(err, &hk) && hk.Changed {
			t.Fatalf("omni refuses a host whose certificate is signed by a trusted @cert-authority, and calls it a changed key:\n%v", err)
		}
		t.Fatalf("omni refuses a host whose certificate is signed by a trusted @cert-authority: %v", err)
	}
}

// TestHostCertificateNotValidSaysWhy: a certificate a trusted authority
// signed that is not valid for the host (expired, or for another name) is
// a host key omni cannot trust (*HostKeyError: exit 4), and the message
// says what is wrong with it; --accept-new-host-keys does not record it.
func TestHostCertificateNotValidSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name, addr string
		sign       []string
		want       string
	}{
		{"expired", "127.0.92.20", []string{"-n", "127.0.92.20", "-V", "-2d:-47h"}, "it expired at "},
		{"other name", "127.0.92.21", []string{"-n", "web9.example"}, "it is for web9.example, not 127.0.92.21"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ca := filepath.Join(dir, "host_ca")
			hostKey := filepath.Join(dir, "ssh_host_cert_ed25519_key")
			reviewKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "host-ca", "-f", ca)
			reviewKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "host", "-f", hostKey)
			reviewKeygen(t, append(append([]string{"-q", "-s", ca, "-I", "host", "-h"}, tc.sign...), hostKey+".pub")...)
			srv := sshtest.Start(t, sshtest.Options{Addr: tc.addr,
				ExtraConfig: "HostKey " + hostKey + "\nHostCertificate " + hostKey + "-cert.pub"})
			caPub, err := os.ReadFile(ca + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			knownHosts := filepath.Join(dir, "known_hosts")
			writeFile(t, knownHosts, "@cert-authority ["+tc.addr+"]:"+strconv.Itoa(srv.Port)+" "+strings.TrimSpace(string(caPub)))
			before, _ := os.ReadFile(knownHosts)
			ep := srv.Endpoint("certhost")
			ep.KnownHosts = knownHosts
			_, err = newPool(t, transport.Options{AcceptNewHostKeys: true}).Client(testContext(t), ep)
			var hk *transport.HostKeyError
			if !errors.As(err, &hk) || !strings.Contains(hk.Certificate, tc.want) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want a *HostKeyError whose certificate problem says %q", err, tc.want)
			}
			if !transport.IsUnreachable(err) {
				t.Errorf("IsUnreachable(%v) = false", err)
			}
			if after, _ := os.ReadFile(knownHosts); string(after) != string(before) {
				t.Errorf("--accept-new-host-keys wrote to known_hosts:\n%s", after)
			}
		})
	}
}
