package transport

import (
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestKeyExchanges: curve25519-sha256 first (the cheap one, see
// keyExchanges), the post-quantum hybrid still on offer, every method one
// x/crypto supports, none of those it calls insecure (SHA-1 DH).
func TestKeyExchanges(t *testing.T) {
	if keyExchanges[0] != ssh.KeyExchangeCurve25519 || !slices.Contains(keyExchanges, ssh.KeyExchangeMLKEM768X25519) {
		t.Fatalf("key exchanges %v", keyExchanges)
	}
	supported, insecure := ssh.SupportedAlgorithms().KeyExchanges, ssh.InsecureAlgorithms().KeyExchanges
	for _, k := range keyExchanges {
		if !slices.Contains(supported, k) || slices.Contains(insecure, k) {
			t.Errorf("%s: not among x/crypto's supported and secure key exchanges", k)
		}
	}
}
