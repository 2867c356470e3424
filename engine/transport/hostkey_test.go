package transport_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
	"golang.org/x/crypto/ssh"
)

func TestChangedHostKeyIsRefused(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.41"})
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, knownHosts, "# team hosts", knownHostsLine(srv.HostPort(), randomHostKey(t)))
	ep := srv.Endpoint("worker1")
	ep.KnownHosts = knownHosts
	fingerprint := ssh.FingerprintSHA256(srv.HostKeys()[0])

	for _, accept := range []bool{false, true} {
		_, err := newPool(t, transport.Options{AcceptNewHostKeys: accept}).Client(testContext(t), ep)
		var hostKeyErr *transport.HostKeyError
		if !errors.As(err, &hostKeyErr) {
			t.Fatalf("accept new keys %v: %v, want *HostKeyError", accept, err)
		}
		if !hostKeyErr.Changed || hostKeyErr.Fingerprint != fingerprint || hostKeyErr.KeyType != "ssh-ed25519" {
			t.Errorf("accept new keys %v: %+v, want Changed with the server's ed25519 fingerprint %s", accept, hostKeyErr, fingerprint)
		}
		want := "worker1 (" + srv.HostPort() + "): HOST KEY HAS CHANGED: server offered ssh-ed25519 " +
			fingerprint + ", " + knownHosts + ":2 has a different key — possible man-in-the-middle; connection refused"
		if err.Error() != want {
			t.Errorf("error:\n got %s\nwant %s", err, want)
		}
	}
	if data, _ := os.ReadFile(knownHosts); strings.Count(string(data), "\n") != 2 {
		t.Errorf("known_hosts was modified:\n%s", data)
	}
}

func TestUnknownHostKey(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.42"})
	fingerprint := ssh.FingerprintSHA256(srv.HostKeys()[0])

	t.Run("is refused", func(t *testing.T) {
		knownHosts := filepath.Join(t.TempDir(), "known_hosts")
		writeFile(t, knownHosts)
		ep := srv.Endpoint("worker1")
		ep.KnownHosts = knownHosts

		_, err := newPool(t, transport.Options{}).Client(testContext(t), ep)
		var hostKeyErr *transport.HostKeyError
		if !errors.As(err, &hostKeyErr) || hostKeyErr.Changed || hostKeyErr.Fingerprint != fingerprint {
			t.Fatalf("%v, want *HostKeyError, not Changed, for %s", err, fingerprint)
		}
		want := "worker1 (" + srv.HostPort() + "): host key is not known: ssh-ed25519 " + fingerprint +
			" is not in " + knownHosts + " (add it, or pass --accept-new-host-keys)"
		if err.Error() != want {
			t.Errorf("error:\n got %s\nwant %s", err, want)
		}
	})

	t.Run("is refused when known_hosts does not exist", func(t *testing.T) {
		ep := srv.Endpoint("worker1")
		ep.KnownHosts = filepath.Join(t.TempDir(), "missing", "known_hosts")
		_, err := newPool(t, transport.Options{}).Client(testContext(t), ep)
		var hostKeyErr *transport.HostKeyError
		if !errors.As(err, &hostKeyErr) || !hostKeyErr.FileMissing ||
			!strings.Contains(err.Error(), ep.KnownHosts+", which does not exist") {
			t.Fatalf("%v, want *HostKeyError naming the missing file", err)
		}
	})

	t.Run("is added with AcceptNewHostKeys", func(t *testing.T) {
		knownHosts := filepath.Join(t.TempDir(), "ssh", "known_hosts") // neither exists
		ep := srv.Endpoint("worker1")
		ep.KnownHosts = knownHosts

		client := connect(t, newPool(t, transport.Options{AcceptNewHostKeys: true}), ep)
		run(t, client, "true")

		data, err := os.ReadFile(knownHosts)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(data), srv.HostKeyLine()+"\n"; got != want {
			t.Errorf("known_hosts = %q, want %q", got, want)
		}
		if info, _ := os.Stat(knownHosts); info.Mode().Perm() != 0o600 {
			t.Errorf("known_hosts mode %v, want 0600", info.Mode().Perm())
		}
		// Now known: a pool that accepts nothing new connects.
		connect(t, newPool(t, transport.Options{}), ep)
	})
}

// A host known by one key type must negotiate that type even when the server
// has others the client prefers (x/crypto prefers RSA, then ECDSA, then
// ed25519).
func TestHostKeyAlgorithmFollowsKnownHosts(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.43", HostKeyTypes: []string{"ed25519", "ecdsa", "rsa"}})
	for _, key := range srv.HostKeys() {
		t.Run(key.Type(), func(t *testing.T) {
			knownHosts := filepath.Join(t.TempDir(), "known_hosts")
			writeFile(t, knownHosts, knownHostsLine(srv.HostPort(), key))
			ep := srv.Endpoint("worker1")
			ep.KnownHosts = knownHosts
			connect(t, newPool(t, transport.Options{}), ep)
		})
	}
}
