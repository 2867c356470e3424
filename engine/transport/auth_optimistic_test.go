package transport_test

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// authRequests starts a real sshd that logs every authentication request
// (LogLevel DEBUG1: "userauth-request for user U service S method M"),
// connects with ep as edit leaves it, runs a command, and returns the
// methods the server was asked for, in order.
func authRequests(t *testing.T, opts transport.Options, edit func(s *sshtest.Server, ep *transport.Endpoint)) []string {
	t.Helper()
	srv := sshtest.Start(t, sshtest.Options{ExtraConfig: "LogLevel DEBUG1"})
	ep := srv.Endpoint("host")
	if edit != nil {
		edit(srv, &ep)
	}
	pool := newPool(t, opts)
	client := connect(t, pool, ep)
	if res := run(t, client, "echo ok"); string(res.Stdout) != "ok\n" {
		t.Fatalf("echo ok printed %q", res.Stdout)
	}
	log, err := os.ReadFile(filepath.Join(srv.Dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	var methods []string
	for _, m := range regexp.MustCompile(`userauth-request for user \S+ service ssh-connection method (\S+)`).FindAllSubmatch(log, -1) {
		methods = append(methods, string(m[1]))
	}
	return methods
}

// TestAuthenticationSignsAtOnce: the identity file's key signs its
// publickey request at once, sent behind the service request. No "none"
// request and no unsigned query come first: authentication is one round
// trip instead of four (x/crypto alone asks none, then queries the key,
// then signs: the server sees none, publickey, publickey).
func TestAuthenticationSignsAtOnce(t *testing.T) {
	methods := authRequests(t, transport.Options{}, nil)
	if !slices.Equal(methods, []string{"publickey"}) {
		t.Fatalf("the server was asked %v; want one signed publickey request and nothing else", methods)
	}
}

// TestAuthenticationSignsAtOnceRSA: an RSA key signs at once too, with the
// SHA-2 algorithm the server's server-sig-algs extension (read before the
// request is sent) allows; OpenSSH 8.8+ refuses ssh-rsa (SHA-1).
func TestAuthenticationSignsAtOnceRSA(t *testing.T) {
	methods := authRequests(t, transport.Options{}, func(s *sshtest.Server, ep *transport.Endpoint) {
		key := filepath.Join(t.TempDir(), "id_rsa")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", key).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		authorize(t, s, key+".pub")
		ep.IdentityFiles = []string{key}
	})
	if !slices.Equal(methods, []string{"publickey"}) {
		t.Fatalf("the server was asked %v; want one signed publickey request", methods)
	}
}

// TestAuthenticationRefusedKeyFallsBack: when the server refuses the key
// signed at once (the first identity file is not authorized), the usual
// exchange follows, "none" first, and the next key gets in.
func TestAuthenticationRefusedKeyFallsBack(t *testing.T) {
	methods := authRequests(t, transport.Options{}, func(s *sshtest.Server, ep *transport.Endpoint) {
		ep.IdentityFiles = []string{sshtest.NewKey(t), s.IdentityFile}
	})
	// signed (refused), none, query of the refused key, query of the
	// authorized one, signed.
	want := []string{"publickey", "none", "publickey", "publickey", "publickey"}
	if !slices.Equal(methods, want) {
		t.Fatalf("the server was asked %v; want %v", methods, want)
	}
}

// TestAuthenticationAgent: with no identity file, the agent's key signs at
// once when the agent holds just one; an agent with several keys has each
// asked about first, so that it signs only with a key the server takes.
func TestAuthenticationAgent(t *testing.T) {
	authorized := sshtest.ClientKey(t)
	t.Run("one key", func(t *testing.T) {
		startAgent(t, authorized)
		methods := authRequests(t, transport.Options{UseAgent: true}, func(_ *sshtest.Server, ep *transport.Endpoint) {
			ep.IdentityFiles = nil
		})
		if !slices.Equal(methods, []string{"publickey"}) {
			t.Fatalf("the server was asked %v; want one signed publickey request", methods)
		}
	})
	t.Run("two keys", func(t *testing.T) {
		startAgent(t, sshtest.NewKey(t), authorized)
		methods := authRequests(t, transport.Options{UseAgent: true}, func(_ *sshtest.Server, ep *transport.Endpoint) {
			ep.IdentityFiles = nil
		})
		want := []string{"none", "publickey", "publickey", "publickey"}
		if !slices.Equal(methods, want) {
			t.Fatalf("the server was asked %v; want %v", methods, want)
		}
	})
}

// authorize adds the public key file pub to s's authorized_keys.
func authorize(t *testing.T, s *sshtest.Server, pub string) {
	t.Helper()
	line, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(line); err != nil {
		t.Fatal(err)
	}
}

// startAgent serves an in-memory ssh-agent holding the private keys of
// files, in order, at a socket that SSH_AUTH_SOCK names for the test.
func startAgent(t *testing.T, files ...string) {
	t.Helper()
	keyring := agent.NewKeyring()
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		key, err := ssh.ParseRawPrivateKey(data)
		if err != nil {
			t.Fatal(err)
		}
		if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = agent.ServeAgent(keyring, c)
			}()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
}

// TestEarlySession: the first session's open goes out with the signed
// login request, and its confirmation comes back with the login's success:
// the first command waits for one round trip only (its own). When the key
// signed at once is refused, sshd answers that early open with
// SSH_MSG_UNIMPLEMENTED during the login that follows; omni skips it,
// logs in with the next key and opens its session the usual way.
func TestEarlySession(t *testing.T) {
	t.Run("taken by the first command", func(t *testing.T) {
		srv := sshtest.Start(t, sshtest.Options{ExtraConfig: "LogLevel DEBUG1"})
		client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("host"))
		run(t, client, "echo one")
		if got := client.RoundTrips(); got.Sessions != 0 || got.AfterAuth() != 1 {
			t.Errorf("first command: %+v, want its command only (the session came with the login)", got)
		}
		if _, err := client.Stream(testContext(t), "echo two", io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		if got := client.RoundTrips().Sessions; got != 1 {
			t.Errorf("a second session counted %d opens, want 1 (the early one is taken once)", got)
		}
	})
	t.Run("the signed key refused", func(t *testing.T) {
		var srv *sshtest.Server
		methods := authRequests(t, transport.Options{}, func(s *sshtest.Server, ep *transport.Endpoint) {
			srv = s
			ep.IdentityFiles = []string{sshtest.NewKey(t), s.IdentityFile}
		})
		if len(methods) < 2 || methods[1] != "none" {
			t.Fatalf("the server was asked %v; want the refused signed request, then none", methods)
		}
		log, err := os.ReadFile(filepath.Join(srv.Dir, "sshd.log"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(log), "dispatch_protocol_error: type 90") {
			t.Errorf("sshd did not see the early session open during the login:\n%s", log)
		}
	})
}

// TestLoginAcknowledgesServiceAccept: when the signed login request has
// gone out before the service accept comes back, the client sends an
// SSH_MSG_IGNORE on reading that accept. Its only purpose is to carry the
// TCP acknowledgement of the accept at once: OpenSSH writes the login's
// success in a segment of its own with Nagle's algorithm on, so without
// it the success waits for the client kernel's delayed acknowledgement
// (about 40 ms on Linux), on every connection over a real network. sshd
// logs each packet it reads at DEBUG3 ("receive packet: type 2" is the
// IGNORE); nothing else omni sends has type 2.
func TestLoginAcknowledgesServiceAccept(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{ExtraConfig: "LogLevel DEBUG3"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("host"))
	run(t, client, "true")
	log, err := os.ReadFile(filepath.Join(srv.Dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	accept := strings.Index(string(log), "send packet: type 6")
	if accept < 0 {
		t.Fatalf("sshd's log has no service accept (type 6); is it at DEBUG3?\n%s", log)
	}
	if !strings.Contains(string(log[accept:]), "receive packet: type 2") {
		t.Errorf("sshd received no SSH_MSG_IGNORE after its service accept: the accept's acknowledgement waits for the client's delayed ACK\n%s", log)
	}
}
