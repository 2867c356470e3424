package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

var clientKey struct {
	once sync.Once
	path string
	err  error
}

// ClientKey returns the path of the private key every Server of this test
// binary authorizes (its public half is at path + ".pub"). The key is made
// once per test binary, in a directory of the system's temporary directory.
func ClientKey(t testing.TB) string {
	t.Helper()
	clientKey.once.Do(func() {
		dir, err := os.MkdirTemp("", "sshtest-client-")
		if err != nil {
			clientKey.err = err
			return
		}
		clientKey.path = filepath.Join(dir, "id_ed25519")
		clientKey.err = WriteKey(clientKey.path)
	})
	if clientKey.err != nil {
		t.Fatalf("sshtest: making the client key: %v", clientKey.err)
	}
	return clientKey.path
}

// NewKey returns the path of a fresh ed25519 private key that no Server
// authorizes, for testing refused authentication.
func NewKey(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := WriteKey(path); err != nil {
		t.Fatalf("sshtest: making a key: %v", err)
	}
	return path
}

// WriteKey writes a new unencrypted ed25519 private key in OpenSSH format
// to path (0600) and its public key, authorized_keys style, to path.pub.
func WriteKey(path string) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "sshtest")
	if err != nil {
		return err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	return os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(sshPub), 0o644)
}

func readPublicKey(path string) (ssh.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey(data)
	return key, err
}
