package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestIdentitiesOnlyKeepsAgentKeysOut: the operator's
// ~/.ssh/config pins a host to one key with `IdentitiesOnly yes` +
// `IdentityFile` (a deploy key). The agent holds other keys, here one the
// host also accepts (e.g. the operator's personal admin key). omni logs in
// with the agent's key: an identity the operator explicitly excluded, and
// the server sees (and may log in) a different principal.
//
// What omni does: IdentitiesOnly is ignored (docs/ssh-config.md lists it
// among the ignored keys); Pool.credentials (engine/transport/auth.go)
// always adds every agent key, and when the pinned key is refused goes on
// with the agent's.
//
// What it should do (what OpenSSH does): with IdentitiesOnly yes, offer
// only the configured identity files (and, from the agent, only those
// same keys); here, authentication fails ("Permission denied
// (publickey)").
func TestIdentitiesOnlyKeepsAgentKeysOut(t *testing.T) {
	reviewHome(t)
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.82.4"})
	dir := t.TempDir()
	deployKey := sshtest.NewKey(t) // not authorized on the host
	reviewAgent(t, srv.IdentityFile)
	knownHosts := reviewWrite(t, filepath.Join(dir, "known_hosts"), srv.HostKeyLine()+"\n")
	config := reviewWrite(t, filepath.Join(dir, "ssh_config"), `Host pinned
    HostName `+srv.Addr+`
    Port `+reviewItoa(srv.Port)+`
    User `+srv.User+`
    IdentityFile `+deployKey+`
    IdentitiesOnly yes
    UserKnownHostsFile `+knownHosts+`
    GlobalKnownHostsFile /dev/null
`)
	if out, err := reviewOpenSSH(t, config, "pinned"); err == nil {
		t.Fatalf("OpenSSH logged in with IdentitiesOnly yes and an unauthorized IdentityFile:\n%s", out)
	}
	err := reviewOmniConnect(t, config, `version: 1
hosts:
  web1: {address: pinned, roles: [web]}
roles: {web: []}
`, "web1")
	if err == nil {
		t.Fatalf("omni logged in with an ssh-agent key although the config says IdentitiesOnly yes with IdentityFile %s", deployKey)
	}
}

// TestEncryptedIdentityFileInAgentIsOfferedFirst: the most
// common key setup: `IdentityFile ~/.ssh/work_ed25519` (passphrase
// protected, with its .pub beside it) loaded into ssh-agent with
// `ssh-add`, the agent also holding other keys (GitHub, other clients: six
// here, added first), and the host at sshd's default MaxAuthTries 6.
// OpenSSH logs in at once; omni fails with "Too many authentication
// failures", and its message says the identity file was skipped as
// "passphrase-protected; load it into ssh-agent" — which it is.
//
// What omni does: Pool.credentials (engine/transport/auth.go) skips the
// encrypted file (it cannot parse it, and never looks at FILE.pub), so
// there is no optimistic key; the agent's seven keys are offered in the
// agent's order, and sshd disconnects after six refusals before the
// right one is offered.
//
// What it should do (what OpenSSH does): take the public half of an
// IdentityFile from FILE.pub (or match the agent's keys against it) and
// offer the agent's copy of the configured identity first, before the
// agent's other keys.
func TestEncryptedIdentityFileInAgentIsOfferedFirst(t *testing.T) {
	reviewHome(t)
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.82.5", ExtraConfig: "MaxAuthTries 6"})
	dir := t.TempDir()
	workKey := filepath.Join(dir, "work_ed25519")
	reviewKeygen(t, "-q", "-t", "ed25519", "-N", "s3cret-pass", "-C", "work", "-f", workKey)
	pub, err := os.ReadFile(workKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	// Authorize the work key on the host (sshd reads the file per login).
	authorized := filepath.Join(srv.Dir, "authorized_keys")
	reviewWrite(t, authorized, string(pub))

	var others []string
	for i := 0; i < 6; i++ {
		others = append(others, sshtest.NewKey(t))
	}
	sock := reviewAgent(t, others...)
	reviewAddWithPassphrase(t, sock, workKey, "s3cret-pass")

	knownHosts := reviewWrite(t, filepath.Join(dir, "known_hosts"), srv.HostKeyLine()+"\n")
	config := reviewWrite(t, filepath.Join(dir, "ssh_config"), `Host work
    HostName `+srv.Addr+`
    Port `+reviewItoa(srv.Port)+`
    User `+srv.User+`
    IdentityFile `+workKey+`
    UserKnownHostsFile `+knownHosts+`
    GlobalKnownHostsFile /dev/null
`)
	if out, err := reviewOpenSSH(t, config, "work"); err != nil {
		t.Fatalf("OpenSSH cannot log in either (%v):\n%s", err, out)
	}
	err = reviewOmniConnect(t, config, `version: 1
hosts:
  web1: {address: work, roles: [web]}
roles: {web: []}
`, "web1")
	if err != nil {
		var auth *transport.AuthError
		if errors.As(err, &auth) && strings.Contains(err.Error(), "load it into ssh-agent") {
			t.Fatalf("omni fails to log in with the IdentityFile key held by the agent, and tells the operator to load it into the agent, where it is:\n%v", err)
		}
		t.Fatalf("omni fails to log in with the IdentityFile key held by the agent: %v", err)
	}
}

// TestUserCertificateBesideIdentityFile: hosts that trust a user
// CA (sshd TrustedUserCAKeys, no authorized_keys: the usual set-up with
// short-lived SSH certificates from Vault, step-ca, Teleport...). The
// operator's certificate sits beside the key, as ssh-keygen -s writes it
// (KEY-cert.pub); OpenSSH loads it automatically for `IdentityFile KEY`
// and logs in. omni offers only the bare key and is refused: the fleet is
// "unreachable" (exit 4) for every host.
//
// What omni does: parseIdentity (engine/transport/auth.go) reads only the
// private key; CertificateFile is ignored and KEY-cert.pub is never
// looked at.
//
// What it should do (what OpenSSH does): offer the certificate
// (ssh.NewCertSigner) from KEY-cert.pub and from CertificateFile.
func TestUserCertificateBesideIdentityFile(t *testing.T) {
	reviewHome(t)
	dir := t.TempDir()
	userCA := filepath.Join(dir, "user_ca")
	reviewKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "user-ca", "-f", userCA)
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.82.6",
		ExtraConfig: "TrustedUserCAKeys " + userCA + ".pub\nAuthorizedKeysFile none"})
	key := filepath.Join(dir, "id_ed25519")
	reviewKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "op", "-f", key)
	reviewKeygen(t, "-q", "-s", userCA, "-I", "operator", "-n", srv.User, "-V", "-5m:+1h", key+".pub")
	if _, err := os.Stat(key + "-cert.pub"); err != nil {
		t.Fatal(err)
	}
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
		t.Fatalf("omni does not offer the user certificate %s-cert.pub that OpenSSH uses: %v", key, err)
	}
}
