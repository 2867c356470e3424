package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestReviewHostCertificateWithTwoKnownHostsFiles (found by review): a
// host certificate trusted through a @cert-authority line of the first
// UserKnownHostsFile is refused when a second UserKnownHostsFile exists
// that says nothing about the host: hostKeyCheck.checkAll treats the
// second file's "ssh: no authorities for hostname" as a hard failure.
func TestReviewHostCertificateWithTwoKnownHostsFiles(t *testing.T) {
	reviewHome(t)
	dir := t.TempDir()
	ca := filepath.Join(dir, "host_ca")
	hostKey := filepath.Join(dir, "ssh_host_cert_ed25519_key")
	reviewKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "host-ca", "-f", ca)
	reviewKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "host", "-f", hostKey)
	reviewKeygen(t, "-q", "-s", ca, "-I", "review-host", "-h", "-n", "127.0.92.1", hostKey+".pub")
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.92.1",
		ExtraConfig: "HostKey " + hostKey + "\nHostCertificate " + hostKey + "-cert.pub"})
	caPub, err := os.ReadFile(ca + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	personal := reviewWrite(t, filepath.Join(dir, "known_hosts"),
		"@cert-authority 127.0.92.* "+strings.TrimSpace(string(caPub))+"\n")
	// The second file: the team's, about other hosts only.
	other := sshtest.Start(t, sshtest.Options{Addr: "127.0.92.2"})
	team := reviewWrite(t, filepath.Join(dir, "team_known_hosts"), other.HostKeyLine()+"\n")
	config := twoKnownHostsConfig(t, dir, "certhost", srv, personal, team)
	if out, err := reviewOpenSSH(t, config, "certhost"); err != nil {
		t.Fatalf("OpenSSH refuses the setup too (%v):\n%s", err, out)
	}
	if err := reviewOmniConnect(t, config, `version: 1
hosts:
  web1: {address: certhost, roles: [web]}
roles: {web: []}
`, "web1"); err != nil {
		t.Fatalf("omni refuses a host certificate signed by the @cert-authority of the first UserKnownHostsFile because the second file (%s) does not list the authority: %v", team, err)
	}
}

// TestReviewCertificateOfPassphraseKeyHeldByAgent (found by review): the
// usual short-lived certificate set-up (passphrase-protected KEY, its
// KEY-cert.pub beside it, both loaded with ssh-add, IdentitiesOnly yes,
// hosts trusting only the user CA): Pool.credentials appends " (its key,
// from ssh-agent)" to the path before looking for PATH-cert.pub, so the
// certificate is never found, only the bare key is offered, and the host
// refuses it, where OpenSSH logs in.
func TestReviewCertificateOfPassphraseKeyHeldByAgent(t *testing.T) {
	reviewHome(t)
	dir := t.TempDir()
	userCA := filepath.Join(dir, "user_ca")
	reviewKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "user-ca", "-f", userCA)
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.92.3",
		ExtraConfig: "TrustedUserCAKeys " + userCA + ".pub\nAuthorizedKeysFile none"})
	key := filepath.Join(dir, "id_work")
	reviewKeygen(t, "-q", "-t", "ed25519", "-N", "s3cret-pass", "-C", "op", "-f", key)
	reviewKeygen(t, "-q", "-s", userCA, "-I", "operator", "-n", srv.User, "-V", "-5m:+1h", key+".pub")
	sock := reviewAgent(t)
	reviewAddWithPassphrase(t, sock, key, "s3cret-pass")
	knownHosts := reviewWrite(t, filepath.Join(dir, "known_hosts"), srv.HostKeyLine()+"\n")
	config := reviewWrite(t, filepath.Join(dir, "ssh_config"), `Host certuser
    HostName `+srv.Addr+`
    Port `+reviewItoa(srv.Port)+`
    User `+srv.User+`
    IdentityFile `+key+`
    IdentitiesOnly yes
    UserKnownHostsFile `+knownHosts+`
    GlobalKnownHostsFile /dev/null
`)
	if out, err := reviewOpenSSH(t, config, "certuser"); err != nil {
		t.Fatalf("OpenSSH cannot log in either (%v):\n%s", err, out)
	}
	if err := reviewOmniConnect(t, config, `version: 1
hosts:
  web1: {address: certuser, roles: [web]}
roles: {web: []}
`, "web1"); err != nil {
		t.Fatalf("omni does not offer %s-cert.pub for a passphrase-protected key held by ssh-agent, where OpenSSH logs in: %v", key, err)
	}
}
