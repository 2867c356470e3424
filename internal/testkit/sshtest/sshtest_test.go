package sshtest

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func dial(t *testing.T, s *Server) *ssh.Client {
	t.Helper()
	hostKeys, err := knownhosts.New(s.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	signer := loadSigner(t, s.IdentityFile)
	client, err := ssh.Dial("tcp", s.HostPort(), &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
		Timeout:         5 * time.Second,
	})
	if err != nil {
		t.Fatalf("dial %s: %v", s.HostPort(), err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func loadSigner(t *testing.T, path string) ssh.Signer {
	t.Helper()
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

func TestStartServesTheCurrentUserWithVerifiedHostKey(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Addr: "127.0.0.31"})

	wantPrefix := "[127.0.0.31]:" + strconv.Itoa(s.Port) + " ssh-ed25519 AAAA"
	if line := s.HostKeyLine(); !strings.HasPrefix(line, wantPrefix) {
		t.Errorf("HostKeyLine() = %q, want prefix %q", line, wantPrefix)
	}
	session, err := dial(t, s).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	out, err := session.Output("id -un")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != s.User {
		t.Errorf("remote user = %q, want %q", got, s.User)
	}
}

func TestStopDropsConnectionsAndRefusesNewOnes(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Addr: "127.0.0.32"})
	client := dial(t, s)

	s.Stop()

	lost := make(chan error, 1)
	go func() { lost <- client.Wait() }()
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Error("open connection still up 5s after Stop")
	}
	_, err := net.DialTimeout("tcp", s.HostPort(), time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after Stop: %v, want connection refused", err)
	}
}

func TestSilentListenerNeverSpeaks(t *testing.T) {
	t.Parallel()
	addr := SilentListener(t, "127.0.0.33")
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := conn.Read(make([]byte, 1))
	var netErr net.Error
	if n != 0 || !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Errorf("Read = %d, %v; want a timeout with nothing read", n, err)
	}
}
