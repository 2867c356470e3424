package lab

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// newSeed returns a fresh ed25519 seed: a host key is kept as its seed.
func newSeed() ([]byte, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	return seed, nil
}

// signerFromSeed returns the ed25519 signer of a seed.
func signerFromSeed(seed []byte) (gossh.Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("host key seed has %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return gossh.NewSignerFromKey(ed25519.NewKeyFromSeed(seed))
}

// writeClientKey writes a new ed25519 private key in OpenSSH format to
// path (0600) and its public key, authorized_keys style, to path.pub.
func writeClientKey(path string) (gossh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "omni-lab")
	if err != nil {
		return nil, err
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path+".pub", gossh.MarshalAuthorizedKey(sshPub), 0o644); err != nil {
		return nil, err
	}
	return sshPub, nil
}

// knownHostsLine is the known_hosts line of a host key at addr:port:
// "[127.77.0.1]:2222 ssh-ed25519 AAAA...".
func knownHostsLine(address string, port int, key gossh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(net.JoinHostPort(address, strconv.Itoa(port)))}, key)
}

// writeKnownHosts writes one line per endpoint.
func writeKnownHosts(path string, endpoints []Endpoint, keys map[string]gossh.PublicKey) error {
	var b strings.Builder
	for _, ep := range endpoints {
		b.WriteString(knownHostsLine(ep.Address, ep.Port, keys[ep.Name]))
		b.WriteByte('\n')
	}
	return writeFileAtomic(path, []byte(b.String()), 0o644)
}

// readClientSigner reads the lab's client key.
func readClientSigner(path string) (gossh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return gossh.ParsePrivateKey(b)
}
