package transport_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omni-fleet/omni/engine/transport"
)

// refusingServer is an SSH server on loopback (x/crypto/ssh's, since
// OpenSSH cannot be made to refuse an "exec" request) that runs each
// session's command with sh -c, and refuses the commands refuse says.
type refusingServer struct {
	refuse func(cmd string) bool
	mu     sync.Mutex
	execs  []string // the commands it was asked to run, refused ones too
}

// startRefusingServer starts the server and returns an endpoint for it,
// its host key in a known_hosts file and a client key of its own.
func startRefusingServer(t *testing.T, addr string, s *refusingServer) transport.Endpoint {
	t.Helper()
	dir := t.TempDir()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(clientPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	identity := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(identity, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	clientPub, err := ssh.NewPublicKey(clientPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	config := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		if string(key.Marshal()) != string(clientPub.Marshal()) {
			return nil, os.ErrPermission
		}
		return nil, nil
	}}
	config.AddHostKey(hostSigner)
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
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
			go s.serve(c, config)
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	knownHosts := filepath.Join(dir, "known_hosts")
	writeFile(t, knownHosts, knownHostsLine(net.JoinHostPort(addr, itoa(port)), hostSigner.PublicKey()))
	return transport.Endpoint{Name: "refuser", Address: addr, Port: port, User: "omni",
		IdentityFiles: []string{identity}, KnownHosts: knownHosts, ConnectTimeout: 5 * time.Second, ServerAliveInterval: transport.KeepalivesOff}
}

func (s *refusingServer) serve(c net.Conn, config *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(c, config)
	if err != nil {
		c.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.session(ch, creqs)
	}
}

func (s *refusingServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	for req := range reqs {
		if req.Type != "exec" {
			req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			req.Reply(false, nil)
			continue
		}
		s.mu.Lock()
		s.execs = append(s.execs, payload.Command)
		s.mu.Unlock()
		if s.refuse(payload.Command) {
			req.Reply(false, nil)
			continue
		}
		req.Reply(true, nil)
		go func() {
			cmd := exec.Command("sh", "-c", payload.Command)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
			code := 0
			if err := cmd.Run(); err != nil {
				code = 255
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				}
			}
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
			ch.Close()
		}()
	}
}

// isShellStart: cmd starts the long-lived shell (its start line carries
// the shell's mark); every command line starts with `exec sh -c`.
func isShellStart(cmd string) bool { return strings.Contains(cmd, "omni-shell-") }

// TestRefusedShellRunsTheCommandApart: the shell's start request carries
// its first command and is not waited for before it; a host that refuses
// it has run nothing, so the command runs in a session of its own, as
// every later command does, and gives its own output.
func TestRefusedShellRunsTheCommandApart(t *testing.T) {
	t.Parallel()
	srv := &refusingServer{refuse: isShellStart}
	ep := startRefusingServer(t, "127.0.0.66", srv)
	ctx := testContext(t)
	client := connect(t, newPool(t, transport.Options{}), ep)
	for i, want := range []string{"first", "second"} {
		res, err := client.Run(ctx, "echo "+want+"; echo err >&2; exit 3")
		if err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		if string(res.Stdout) != want+"\n" || string(res.Stderr) != "err\n" || res.ExitCode != 3 {
			t.Errorf("run %d: stdout %q, stderr %q, exit %d; want %q, \"err\\n\", 3", i+1, res.Stdout, res.Stderr, res.ExitCode, want+"\n")
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	shells := 0
	for _, c := range srv.execs {
		if isShellStart(c) {
			shells++
		}
	}
	if shells != 1 || len(srv.execs) != 3 {
		t.Errorf("the host was asked %q: want one shell's start, refused, then each command in a session of its own", srv.execs)
	}
	// The refused start was answered: counted, like the two sessions.
	want := transport.RoundTrips{Connects: 1, Sessions: 3, Execs: 2, ShellCommands: 1}
	if got := client.RoundTrips(); got != want {
		t.Errorf("round trips %+v, want %+v", got, want)
	}
}
