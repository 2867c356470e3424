package transport_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newPool(t *testing.T, opts transport.Options) *transport.Pool {
	t.Helper()
	pool := transport.NewPool(opts)
	t.Cleanup(func() {
		if err := pool.Close(); err != nil {
			t.Errorf("pool.Close: %v", err)
		}
	})
	return pool
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, pool *transport.Pool, ep transport.Endpoint) *transport.Client {
	t.Helper()
	client, err := pool.Client(testContext(t), ep)
	if err != nil {
		t.Fatalf("connect to %s: %v", ep.Name, err)
	}
	return client
}

func run(t *testing.T, client *transport.Client, cmd string) transport.Result {
	t.Helper()
	res, err := client.Run(testContext(t), cmd)
	if err != nil {
		t.Fatalf("run %q: %v", cmd, err)
	}
	return res
}

func writeFile(t *testing.T, path string, lines ...string) {
	t.Helper()
	var text string
	if len(lines) > 0 {
		text = strings.Join(lines, "\n") + "\n"
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func randomHostKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func knownHostsLine(hostPort string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(hostPort)}, key)
}

// closedPort returns an address of host where nothing listens.
func closedPort(t *testing.T, host string) (string, int) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return host, port
}

func itoa(n int) string { return strconv.Itoa(n) }
