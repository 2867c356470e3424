package transport

import (
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestKeyExchanges: ecdh-sha2-nistp256 first and curve25519-sha256 second
// (the cheap ones, see keyExchanges), the post-quantum hybrid still on
// offer, every method one x/crypto supports, none of those it calls
// insecure (SHA-1 DH).
func TestKeyExchanges(t *testing.T) {
	if keyExchanges[0] != ssh.KeyExchangeECDHP256 || keyExchanges[1] != ssh.KeyExchangeCurve25519 ||
		!slices.Contains(keyExchanges, ssh.KeyExchangeMLKEM768X25519) {
		t.Fatalf("key exchanges %v", keyExchanges)
	}
	supported, insecure := ssh.SupportedAlgorithms().KeyExchanges, ssh.InsecureAlgorithms().KeyExchanges
	for _, k := range keyExchanges {
		if !slices.Contains(supported, k) || slices.Contains(insecure, k) {
			t.Errorf("%s: not among x/crypto's supported and secure key exchanges", k)
		}
	}
}
