package transport_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestRSAUserKeyWithSHA512OnlyServer: a host hardened to accept
// RSA user keys only with SHA-512 signatures (`PubkeyAcceptedAlgorithms
// rsa-sha2-512`, the SHA-1 ssh-rsa being off anyway since OpenSSH 8.8),
// and an operator whose key is RSA (id_rsa: still the most common key).
// OpenSSH's ssh logs in (it signs with rsa-sha2-512 first); omni is
// refused ("authentication ... refused"), so the host is reported
// unreachable.
//
// What omni does: x/crypto (third_party/x-crypto/ssh/common.go:330,
// algorithmsForKeyFormat) prefers rsa-sha2-256 for an RSA key, and
// OpenSSH's server-sig-algs lists every algorithm sshd supports, not its
// PubkeyAcceptedAlgorithms; the key is tried with rsa-sha2-256 only and
// never again with rsa-sha2-512.
//
// What it should do (what OpenSSH does): prefer rsa-sha2-512, or retry a
// refused RSA key with the other SHA-2 algorithm.
func TestRSAUserKeyWithSHA512OnlyServer(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_rsa")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.82.11", HostKeyTypes: []string{"rsa"},
		ExtraConfig: "PubkeyAcceptedAlgorithms rsa-sha2-512"})
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(srv.Dir, "authorized_keys"), string(pub))

	if out, err := reviewOpenSSH(t, srv, srv.KnownHostsFile, key); err != nil {
		t.Fatalf("OpenSSH cannot log in either (%v):\n%s", err, out)
	}
	ep := srv.Endpoint("rsa-host")
	ep.IdentityFiles = []string{key}
	if _, err := newPool(t, transport.Options{}).Client(testContext(t), ep); err != nil {
		t.Fatalf("omni cannot log in with an RSA key where the host accepts rsa-sha2-512 (OpenSSH can): %v", err)
	}
}
