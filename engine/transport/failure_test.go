package transport_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
	"golang.org/x/crypto/ssh"
)

func TestRefusedAuthentication(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.51"})
	unauthorized := sshtest.NewKey(t)
	locked := passphraseProtectedKey(t)
	missing := filepath.Join(t.TempDir(), "id_missing")

	ep := srv.Endpoint("worker1")
	ep.IdentityFiles = []string{unauthorized, locked, missing}
	_, err := newPool(t, transport.Options{}).Client(testContext(t), ep)

	var authErr *transport.AuthError
	if !errors.As(err, &authErr) {
		t.Fatalf("%v, want *AuthError", err)
	}
	want := "worker1 (" + srv.HostPort() + "): authentication as " + `"` + srv.User + `"` +
		" refused: tried " + unauthorized + "; skipped " + locked +
		" (passphrase-protected; load it into ssh-agent), " + missing + " (does not exist)"
	if err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", err, want)
	}
}

func TestNoCredentials(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.52"})
	ep := srv.Endpoint("worker1")
	ep.IdentityFiles = []string{passphraseProtectedKey(t)}
	_, err := newPool(t, transport.Options{}).Client(testContext(t), ep)
	var authErr *transport.AuthError
	if !errors.As(err, &authErr) || !strings.Contains(err.Error(), "refused: no credentials to offer; skipped") {
		t.Errorf("%v, want *AuthError with nothing tried", err)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	host, port := closedPort(t, "127.0.0.53")
	ep := transport.Endpoint{Name: "worker1", Address: host, Port: port, User: "nobody",
		IdentityFiles: []string{sshtest.ClientKey(t)}, KnownHosts: filepath.Join(t.TempDir(), "known_hosts")}
	pool := newPool(t, transport.Options{})

	start := time.Now()
	_, err := pool.Client(testContext(t), ep)
	var unreachable *transport.UnreachableError
	if !errors.As(err, &unreachable) || unreachable.Reason != "connection refused" {
		t.Fatalf("%v, want *UnreachableError: connection refused", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("took %s to find a closed port", elapsed)
	}
	if want := "worker1 (" + ep.Address + ":" + itoa(port) + "): unreachable: connection refused"; err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", err, want)
	}
	// Remembered: the second call does not dial again.
	if _, err2 := pool.Client(testContext(t), ep); err2 != err || pool.Dials("worker1") != 1 {
		t.Errorf("second call: %v after %d dials, want the same error after 1", err2, pool.Dials("worker1"))
	}
}

func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	silent := sshtest.SilentListener(t, "127.0.0.54")
	bastion := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.55"})
	bastionEP := bastion.Endpoint("bastion")

	for _, via := range []*transport.Endpoint{nil, &bastionEP} {
		ep := transport.Endpoint{Name: "worker1", Address: silent.IP.String(), Port: silent.Port, User: "nobody",
			IdentityFiles: []string{sshtest.ClientKey(t)}, KnownHosts: bastion.KnownHostsFile,
			ConnectTimeout: 300 * time.Millisecond, Via: via}
		start := time.Now()
		_, err := newPool(t, transport.Options{}).Client(testContext(t), ep)
		elapsed := time.Since(start)
		var unreachable *transport.UnreachableError
		if !errors.As(err, &unreachable) || !strings.HasSuffix(err.Error(), ": unreachable: timed out after 300ms during SSH handshake") {
			t.Errorf("via %v: %v, want *UnreachableError: timed out after 300ms during SSH handshake", via != nil, err)
		}
		if elapsed > 2*time.Second {
			t.Errorf("via %v: took %s", via != nil, elapsed)
		}
	}
}

func passphraseProtectedKey(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "locked", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_locked")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
