package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newEd25519(t *testing.T) (ssh.PublicKey, ssh.Signer) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshPub, signer
}

func hostCert(t *testing.T, ca ssh.Signer, principal string) *ssh.Certificate {
	t.Helper()
	key, _ := newEd25519(t)
	cert := &ssh.Certificate{Key: key, CertType: ssh.HostCert, ValidPrincipals: []string{principal},
		ValidBefore: ssh.CertTimeInfinity, Serial: 1}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return cert
}

func khLine(pattern string, key ssh.PublicKey) string {
	return pattern + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

// sameVerdict reports whether two known_hosts answers are the same: both
// nil, or errors of the same kind naming the same lines.
func sameVerdict(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var ka, kb *knownhosts.KeyError
	if errors.As(a, &ka) != errors.As(b, &kb) {
		return false
	}
	if ka != nil {
		return fmt.Sprint(ka.Want) == fmt.Sprint(kb.Want)
	}
	var ra, rb *knownhosts.RevokedError
	if errors.As(a, &ra) != errors.As(b, &rb) {
		return false
	}
	if ra != nil {
		return ra.Revoked.String() == rb.Revoked.String()
	}
	return a.Error() == b.Error()
}

// TestKnownHostsIndexSameAnswersAsKnownhosts: the cache's check (index
// first) gives x/crypto knownhosts' answer for every case: exact names,
// ports, IPs, several names on a line, wildcards, negation, hashed names,
// revoked keys, @cert-authority lines and certificates, changed and
// unknown keys; and the index itself accepts the exact cases, so they do
// not walk the file.
func TestKnownHostsIndexSameAnswersAsKnownhosts(t *testing.T) {
	keys := make([]ssh.PublicKey, 16)
	for i := range keys {
		keys[i], _ = newEd25519(t)
	}
	caKey, ca := newEd25519(t)
	caExactKey, _ := newEd25519(t)
	revokedCA, revokedCASigner := newEd25519(t)
	certOK := hostCert(t, ca, "a.ca.example")
	certRevokedCA := hostCert(t, revokedCASigner, "a.ca.example")
	certRevokedKey := hostCert(t, ca, "a.ca.example")

	lines := []string{
		"# a comment",
		khLine("exact.example.com", keys[1]),
		khLine("[exact.example.com]:2222", keys[2]),
		khLine("10.0.0.5", keys[3]),
		khLine("multi1,multi2", keys[4]),
		khLine("*.wild.example", keys[5]),
		khLine("host?.q.example", keys[6]),
		khLine("neg.example,!neg.example", keys[7]),
		khLine(knownhosts.HashHostname("hashed.example"), keys[8]),
		"@revoked * " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(keys[9]))),
		khLine("revoked.example", keys[9]),
		"@cert-authority " + khLine("*.ca.example", caKey),
		"@cert-authority " + khLine("*.ca.example", revokedCA),
		"@revoked * " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(revokedCA))),
		"@revoked * " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(certRevokedKey.Key))),
		"@cert-authority " + khLine("caexact.example", caExactKey),
		khLine("changed.example", keys[10]),
		khLine("exact.example.com", keys[11]), // a second key of the same host
		"bad.example ssh-ed25519 not-base64!",
		khLine("[bad", keys[12]),
		khLine("port.example:2200", keys[13]),
		"  " + khLine("spaced.example", keys[14]) + "  ",
	}
	cases := []struct {
		hostPort string
		key      ssh.PublicKey
		indexed  bool // the index alone accepts it
	}{
		{"exact.example.com:22", keys[1], true},
		{"exact.example.com:22", keys[11], true},
		{"exact.example.com:2222", keys[1], false}, // other port: changed
		{"exact.example.com:2222", keys[2], true},
		{"exact.example.com:22", keys[2], false},
		{"10.0.0.5:22", keys[3], true},
		{"multi2:22", keys[4], true},
		{"multi3:22", keys[4], false},
		{"a.wild.example:22", keys[5], false},
		{"a.wild.example:2222", keys[5], false},
		{"host1.q.example:22", keys[6], false},
		{"host12.q.example:22", keys[6], false},
		{"neg.example:22", keys[7], false},
		{"hashed.example:22", keys[8], false},
		{"hashed.example:22", keys[1], false},
		{"revoked.example:22", keys[9], false},
		{"a.ca.example:22", certOK, false},
		{"b.ca.example:22", certOK, false},
		{"a.ca.example:22", certRevokedCA, false},
		{"a.ca.example:22", certRevokedKey, false},
		{"caexact.example:22", caExactKey, false},
		{"changed.example:22", keys[15], false},
		{"unknown.example:22", keys[15], false},
		{"bad.example:22", keys[12], false},
		{"port.example:2200", keys[13], true},
		{"spaced.example:22", keys[14], true},
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := knownhosts.New(path)
	if err != nil {
		t.Fatal(err)
	}
	file, err := newKnownHostsCache().get(path)
	if err != nil {
		t.Fatal(err)
	}
	if file.index == nil || file.index.unsafe {
		t.Fatalf("no usable index of %s", path)
	}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	for _, c := range cases {
		want := db(c.hostPort, remote, c.key)
		got := file.check(c.hostPort, remote, c.key)
		if !sameVerdict(got, want) {
			t.Errorf("%s %s: check says %v, knownhosts says %v", c.hostPort, ssh.FingerprintSHA256(c.key), got, want)
		}
		if indexed := file.index.accepts(c.hostPort, c.key); indexed != c.indexed {
			t.Errorf("%s %s: index accepts: %v, want %v (knownhosts: %v)", c.hostPort, ssh.FingerprintSHA256(c.key), indexed, c.indexed, want)
		}
		// The host key algorithms: the types of the host keys listed,
		// and whether an authority's line covers the host.
		var keyErr *knownhosts.KeyError
		var wantTypes []string
		wantCA := false
		if errors.As(db(c.hostPort, placeholderAddr, probeKey{}), &keyErr) {
			for _, k := range keyErr.Want {
				if k.CertAuthority {
					wantCA = true
					continue
				}
				wantTypes = append(wantTypes, k.Key.Type())
			}
		}
		if got, ca := file.keyTypes(c.hostPort); !slices.Equal(got, wantTypes) || ca != wantCA {
			t.Errorf("%s: key types %v (authority %v), knownhosts lists %v (authority %v)", c.hostPort, got, ca, wantTypes, wantCA)
		}
	}
	if _, ok := file.index.keyTypes("exact.example.com:22"); ok {
		t.Errorf("a file with wildcard, hashed and CA lines: the index claims to know every key of a host")
	}
}

// TestKnownHostsIndexExactFile: in a file of exact lines only (as omni and
// ssh-keyscan write them) the index lists a host's keys itself, the same
// as knownhosts.
func TestKnownHostsIndexExactFile(t *testing.T) {
	var lines []string
	var keys []ssh.PublicKey
	for i := range 50 {
		key, _ := newEd25519(t)
		keys = append(keys, key)
		lines = append(lines, khLine(knownhosts.Normalize(fmt.Sprintf("10.1.0.%d:%d", i, 22+i%2)), key))
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := newKnownHostsCache().get(path)
	if err != nil {
		t.Fatal(err)
	}
	db, _ := knownhosts.New(path)
	for i, key := range keys {
		hostPort := fmt.Sprintf("10.1.0.%d:%d", i, 22+i%2)
		types, ok := file.index.keyTypes(hostPort)
		if !ok || !slices.Equal(types, []string{ssh.KeyAlgoED25519}) {
			t.Errorf("%s: index key types %v, %v", hostPort, types, ok)
		}
		if !file.index.accepts(hostPort, key) {
			t.Errorf("%s: index does not accept its key", hostPort)
		}
		if err := db(hostPort, placeholderAddr, key); err != nil {
			t.Errorf("%s: knownhosts refuses: %v", hostPort, err)
		}
		other := keys[(i+1)%len(keys)]
		if file.index.accepts(hostPort, other) || file.check(hostPort, placeholderAddr, other) == nil {
			t.Errorf("%s: another host's key accepted", hostPort)
		}
	}
}

// TestKnownHostsIndexUnparsedRevokedLine: a @revoked line the index cannot
// read turns the index off rather than let it accept a key.
func TestKnownHostsIndexUnparsedRevokedLine(t *testing.T) {
	key, _ := newEd25519(t)
	idx := newKnownHostsIndex([]byte(khLine("h.example", key) + "\n@revoked * ssh-ed25519 garbage\n"))
	if !idx.unsafe || idx.accepts("h.example:22", key) {
		t.Errorf("index with an unreadable @revoked line: unsafe %v, accepts %v", idx.unsafe, idx.accepts("h.example:22", key))
	}
}
