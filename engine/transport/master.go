package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// masterSpec is what a master is started with (its one argument, JSON).
type masterSpec struct {
	Endpoint       Endpoint      `json:"endpoint"`
	UseAgent       bool          `json:"use_agent"`
	ControlPersist time.Duration `json:"control_persist"`
	ControlDir     string        `json:"control_dir"`
}

// MasterMain is the master process (see control.go): args holds its spec.
// It connects to the host, serves the connection on the endpoint's socket
// until it has had no client for ControlPersist, the connection ends, or
// SIGTERM; and returns the exit code. Errors go to stderr, which the
// starter points at the endpoint's log file in the control directory.
func MasterMain(args []string) int {
	log.SetPrefix("omni control master " + strconv.Itoa(os.Getpid()) + ": ")
	if len(args) != 1 {
		log.Print("want one argument, the spec")
		return 2
	}
	var spec masterSpec
	if err := json.Unmarshal([]byte(args[0]), &spec); err != nil {
		log.Printf("spec: %v", err)
		return 2
	}
	if err := serveMaster(spec); err != nil {
		log.Printf("%s: %v", spec.Endpoint.Name, err)
		return 1
	}
	return 0
}

// master is one running master: the upstream connection and its clients.
type master struct {
	spec     masterSpec
	paths    controlPaths
	pool     *Pool
	upstream *Client
	config   *ssh.ServerConfig

	mu      sync.Mutex
	clients int
	idle    *time.Timer
	quit    chan string // why the master ends
}

func serveMaster(spec masterSpec) error {
	if spec.ControlPersist <= 0 {
		return errors.New("control_persist is not positive")
	}
	if err := ensureControlDir(spec.ControlDir); err != nil {
		return err
	}
	paths := controlPathsFor(spec.ControlDir, spec.Endpoint)
	lock, ok, err := tryLock(paths.lock)
	if err != nil {
		return fmt.Errorf("lock %s: %w", paths.lock, err)
	}
	if !ok {
		return nil // another master runs, or is starting: it serves
	}
	defer lock.Close()
	_ = lock.Truncate(0)
	_, _ = lock.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	defer lock.Truncate(0) // no PID left behind for anyone to signal
	// Whatever a dead master left behind.
	_ = os.Remove(paths.sock)
	_ = os.Remove(paths.key)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		<-terms
		cancel()
	}()

	pool := NewPool(Options{UseAgent: spec.UseAgent, master: true})
	defer pool.Close()
	upstream, err := pool.Client(ctx, spec.Endpoint)
	if err != nil {
		return err
	}
	if upstream.hostKey == nil {
		return errors.New("no host key recorded for the upstream connection")
	}
	m := &master{spec: spec, paths: paths, pool: pool, upstream: upstream, quit: make(chan string, 4)}
	if m.config, err = m.serverConfig(); err != nil {
		return err
	}
	ln, err := listenUnix(paths.sock)
	if err != nil {
		return err
	}
	defer os.Remove(paths.key)
	defer os.Remove(paths.sock) // before the lock is let go
	defer ln.Close()
	log.Printf("%s: serving %s on %s", spec.Endpoint.Name, upstream.address, paths.sock)

	m.idle = time.AfterFunc(spec.ControlPersist, m.idleCheck)
	go m.accept(ln)
	var why string
	select {
	case why = <-m.quit:
	case <-upstream.lost:
		why = "the connection to the host ended"
		if upstream.lostReason != "" {
			why += ": " + upstream.lostReason
		}
	case <-ctx.Done():
		why = "signalled"
	}
	log.Printf("%s: exiting: %s", spec.Endpoint.Name, why)
	return nil
}

// serverConfig makes the master's SSH server configuration: a host key of
// its own, made now, whose public half it writes (0600) beside the socket
// for clients to pin; no authentication beyond the socket's checks (the
// control directory is the user's alone, and the peer's uid is checked on
// every connection).
func (m *master) serverConfig() (*ssh.ServerConfig, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	tmp := m.paths.key + ".tmp"
	if err := os.WriteFile(tmp, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, m.paths.key); err != nil {
		return nil, err
	}
	config := &ssh.ServerConfig{NoClientAuth: true}
	config.AddHostKey(signer)
	return config, nil
}

func (m *master) accept(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			m.stop("listener: " + err.Error())
			return
		}
		if err := m.admit(conn); err != nil {
			conn.Close()
			log.Printf("%s: refused a client: %v", m.spec.Endpoint.Name, err)
			if errors.Is(err, errHostKeyNoLongerTrusted) {
				m.stop(err.Error())
				return
			}
			continue
		}
		m.enter()
		go func() {
			defer m.leave()
			m.serve(conn)
		}()
	}
}

var errHostKeyNoLongerTrusted = errors.New("host key no longer trusted")

// admit checks a client before serving it: its uid must be the master's,
// and the host's key, as received when the master connected, must still
// be what the known_hosts file says now (a revoked or replaced key ends
// the master, and the client's fresh connection then fails the check as
// it would without one).
func (m *master) admit(conn net.Conn) error {
	uid, err := peerUID(conn)
	if err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	if uid != os.Getuid() {
		return fmt.Errorf("peer uid %d is not the master's (%d)", uid, os.Getuid())
	}
	file, err := m.pool.knownHosts.get(m.spec.Endpoint.KnownHosts)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %v", errHostKeyNoLongerTrusted, m.spec.Endpoint.KnownHosts, err)
	}
	k := m.upstream.hostKey
	if err := file.check(k.hostname, k.remote, k.key); err != nil {
		return fmt.Errorf("%w: %s %s: %v", errHostKeyNoLongerTrusted, k.key.Type(), ssh.FingerprintSHA256(k.key), err)
	}
	return nil
}

func (m *master) enter() {
	m.mu.Lock()
	m.clients++
	m.idle.Stop()
	m.mu.Unlock()
}

func (m *master) leave() {
	m.mu.Lock()
	m.clients--
	if m.clients == 0 {
		m.idle.Reset(m.spec.ControlPersist)
	}
	m.mu.Unlock()
}

func (m *master) idleCheck() {
	m.mu.Lock()
	idle := m.clients == 0
	m.mu.Unlock()
	if idle {
		m.stop("no client for " + m.spec.ControlPersist.String())
	}
}

// stop ends the master, for the reason given (the first one wins).
func (m *master) stop(why string) {
	select {
	case m.quit <- why:
	default:
	}
}

// serve runs one client's SSH connection: its channels are forwarded to
// the host (forward.go), its global requests (keepalives) answered here.
func (m *master) serve(conn net.Conn) {
	_ = conn.SetDeadline(time.Now().Add(DefaultConnectTimeout))
	sconn, chans, reqs, err := ssh.NewServerConn(conn, m.config)
	if err != nil {
		conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	defer sconn.Close()
	go func() {
		for req := range reqs {
			if req.WantReply {
				_ = req.Reply(req.Type == keepaliveRequest, nil)
			}
		}
	}()
	go func() {
		// The host's end ends the client's connection at once.
		select {
		case <-m.upstream.lost:
			sconn.Close()
		case <-waitConn(sconn):
		}
	}()
	for ch := range chans {
		go forwardChannel(ch, m.upstream.ssh)
	}
}

func waitConn(c ssh.Conn) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		_ = c.Wait()
		close(done)
	}()
	return done
}

// removeStale removes the socket of a master that is gone: only when
// nobody holds its lock, so never the socket of a master starting up.
func removeStale(paths controlPaths) {
	lock, ok, err := tryLock(paths.lock)
	if err != nil || !ok {
		return
	}
	defer lock.Close()
	if err := os.Remove(paths.sock); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return
	}
	_ = os.Remove(paths.key)
}

// listenUnix listens on a Unix socket at path that appears there only once
// it accepts connections: the socket is bound and listening under a
// temporary name first, then renamed. A socket bound at path itself exists
// a moment before it listens, and a run that dials it then is refused and
// takes the master for a dead one (it connects afresh). The temporary name
// is no longer than path ("HASH.new" for "HASH.sock"): a socket's path
// has a length limit (108 bytes on Linux). The caller removes path when
// done.
func listenUnix(path string) (net.Listener, error) {
	tmp := strings.TrimSuffix(path, ".sock") + ".new"
	_ = os.Remove(tmp) // left by a master killed at this point
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		_ = os.Remove(tmp)
		return nil, err
	}
	return ln, nil
}
