package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// hostServer is the SSH server of one lab host.
type hostServer struct {
	name     string
	srv      *gliderssh.Server
	listener net.Listener
	env      []string // of every command, before the connection's own
	home     string
	commands *commandTracker // running commands, over every host
	log      *log.Logger
}

// serverSettings are what every host's server shares.
type serverSettings struct {
	dir       string
	user      string
	clientKey gossh.PublicKey
	home      string
	path      string
	commands  *commandTracker
	log       *log.Logger
}

func newHostServer(name string, signer gossh.Signer, ln net.Listener, s serverSettings) *hostServer {
	h := &hostServer{
		name:     name,
		listener: ln,
		home:     s.home,
		commands: s.commands,
		log:      s.log,
		env: []string{
			"HOME=" + s.home,
			"USER=" + s.user,
			"LOGNAME=" + s.user,
			"SHELL=/bin/sh",
			"PATH=" + s.path,
			EnvDir + "=" + s.dir,
			EnvHost + "=" + name,
		},
	}
	h.srv = &gliderssh.Server{
		Version:     "OmniLab",
		HostSigners: []gliderssh.Signer{signer},
		PublicKeyHandler: func(ctx gliderssh.Context, key gliderssh.PublicKey) bool {
			return ctx.User() == s.user && gliderssh.KeysEqual(key, s.clientKey)
		},
		// An ssh-agent with many keys offers them all before the lab's:
		// do not cut it off after OpenSSH's six attempts.
		ServerConfigCallback: func(ctx gliderssh.Context) *gossh.ServerConfig {
			return &gossh.ServerConfig{MaxAuthTries: 64}
		},
		ChannelHandlers: map[string]gliderssh.ChannelHandler{
			"session":      h.session,
			"direct-tcpip": h.directTCPIP,
		},
		RequestHandlers: map[string]gliderssh.RequestHandler{}, // no remote forwarding
		ConnectionFailedCallback: func(conn net.Conn, err error) {
			if !errors.Is(err, io.EOF) {
				h.log.Printf("%s: connection from %s failed: %v", name, conn.RemoteAddr(), err)
			}
		},
	}
	return h
}

// serve accepts connections until the server is closed.
func (h *hostServer) serve() {
	if err := h.srv.Serve(h.listener); err != nil && !errors.Is(err, gliderssh.ErrServerClosed) {
		h.log.Printf("%s: serve: %v", h.name, err)
	}
}

func reply(req *gossh.Request, ok bool) {
	if req.WantReply {
		req.Reply(ok, nil)
	}
}

// acceptEnv says which variables a client may set, as Debian's sshd does.
func acceptEnv(name string) bool {
	return name == "LANG" || strings.HasPrefix(name, "LC_")
}

// session serves one "session" channel: an exec request runs its command;
// shells, ptys and subsystems are refused.
func (h *hostServer) session(_ *gliderssh.Server, conn *gossh.ServerConn, newChan gossh.NewChannel, _ gliderssh.Context) {
	ch, reqs, err := newChan.Accept()
	if err != nil {
		return
	}
	var (
		env  []string
		proc *process
	)
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			ok := proc == nil && gossh.Unmarshal(req.Payload, &kv) == nil && acceptEnv(kv.Name)
			if ok {
				env = append(env, kv.Name+"="+kv.Value)
			}
			reply(req, ok)
		case "exec":
			var payload struct{ Command string }
			if proc != nil || gossh.Unmarshal(req.Payload, &payload) != nil {
				reply(req, false)
				continue
			}
			reply(req, true)
			proc = h.exec(ch, payload.Command, h.connEnv(conn, env))
		case "signal":
			var payload struct{ Signal string }
			if proc != nil && gossh.Unmarshal(req.Payload, &payload) == nil {
				if sig, ok := signalsByName[payload.Signal]; ok {
					proc.signal(sig)
				}
			}
			reply(req, false)
		default: // shell, pty-req, subsystem, x11-req, agent forwarding...
			reply(req, false)
		}
	}
	// The channel is closed: by the client, by us once the command ended,
	// or because the connection or the server went away. A command still
	// running dies with everything it started in its process group.
	if proc != nil {
		proc.killIfRunning()
	}
	ch.Close()
}

// connEnv is the environment of a command run on conn.
func (h *hostServer) connEnv(conn *gossh.ServerConn, extra []string) []string {
	env := append([]string(nil), h.env...)
	if r, l := tcpAddr(conn.RemoteAddr()), tcpAddr(conn.LocalAddr()); r != nil && l != nil {
		env = append(env, fmt.Sprintf("SSH_CONNECTION=%s %d %s %d", r.IP, r.Port, l.IP, l.Port))
	}
	return append(env, extra...)
}

func tcpAddr(a net.Addr) *net.TCPAddr {
	t, _ := a.(*net.TCPAddr)
	return t
}

// commandTracker counts the commands running, so that Serve can wait for
// them as it stops; once closed, it refuses new ones.
type commandTracker struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{} // closed when n drops to 0 after close
}

func (t *commandTracker) add() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.n++
	return true
}

func (t *commandTracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

// closeAndWait refuses new commands and waits up to timeout for the
// running ones to end; it reports whether they did.
func (t *commandTracker) closeAndWait(timeout time.Duration) bool {
	t.mu.Lock()
	t.closed = true
	if t.n == 0 {
		t.mu.Unlock()
		return true
	}
	idle := make(chan struct{})
	t.idle = idle
	t.mu.Unlock()
	select {
	case <-idle:
		return true
	case <-time.After(timeout):
		return false
	}
}

// process is a command run by a session.
type process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	done bool // Wait has returned
}

// exec runs command with sh -c in a new session (so its own process
// group, whose ID is the shell's PID, which omni's transport relies on to
// kill it), with its output and exit status going to ch. It returns nil
// when the command could not be started (the client is told so).
func (h *hostServer) exec(ch gossh.Channel, command string, env []string) *process {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Env = env
	cmd.Dir = h.home
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if !h.commands.add() {
		fmt.Fprintf(ch.Stderr(), "omni lab: %s: the lab is stopping\n", h.name)
		sendExit(ch, 255, "")
		ch.Close()
		return nil
	}
	stdin, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		h.commands.done()
		fmt.Fprintf(ch.Stderr(), "omni lab: %s: cannot run the command: %v\n", h.name, err)
		sendExit(ch, 127, "")
		ch.Close()
		return nil
	}
	p := &process{cmd: cmd}
	go func() {
		io.Copy(stdin, ch) // until the client's EOF, or the channel closes
		stdin.Close()
	}()
	go func() {
		defer h.commands.done()
		err := cmd.Wait() // and for its output to be sent
		p.mu.Lock()
		p.done = true
		p.mu.Unlock()
		code, sig := exitStatus(cmd, err)
		ch.CloseWrite()
		sendExit(ch, code, sig)
		ch.Close()
	}()
	return p
}

func (p *process) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done {
		syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

func (p *process) killIfRunning() { p.signal(syscall.SIGKILL) }

// exitStatus returns the command's exit code, or the name of the signal
// that killed it (as SSH names signals: "TERM").
func exitStatus(cmd *exec.Cmd, err error) (int, string) {
	st := cmd.ProcessState
	if st == nil {
		return 255, ""
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		for name, sig := range signalsByName {
			if sig == ws.Signal() {
				return 0, name
			}
		}
		return 128 + int(ws.Signal()), ""
	}
	return st.ExitCode(), ""
}

// sendExit sends "exit-signal" when sig is set, else "exit-status".
func sendExit(ch gossh.Channel, code int, sig string) {
	if sig != "" {
		ch.SendRequest("exit-signal", false, gossh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{Signal: sig}))
		return
	}
	ch.SendRequest("exit-status", false, gossh.Marshal(struct{ Status uint32 }{uint32(code)}))
}

// signalsByName are the signals of RFC 4254, by their SSH names.
var signalsByName = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP,
	"ILL": syscall.SIGILL, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

// forwardDialTimeout bounds the TCP connect of a direct-tcpip channel.
const forwardDialTimeout = 10 * time.Second

// directTCPIP opens a TCP connection to 127.0.0.0/8 for the client: the
// next hop to a host behind this bastion, or a health check's port.
func (h *hostServer) directTCPIP(_ *gliderssh.Server, _ *gossh.ServerConn, newChan gossh.NewChannel, ctx gliderssh.Context) {
	var d struct {
		DestAddr   string
		DestPort   uint32
		OriginAddr string
		OriginPort uint32
	}
	if err := gossh.Unmarshal(newChan.ExtraData(), &d); err != nil {
		newChan.Reject(gossh.ConnectionFailed, "bad direct-tcpip request: "+err.Error())
		return
	}
	ip := resolveLoopback(ctx, d.DestAddr)
	if ip == nil || d.DestPort == 0 || d.DestPort > 65535 {
		h.log.Printf("%s: refused forwarding to %s:%d: the lab forwards to 127.0.0.0/8 only", h.name, d.DestAddr, d.DestPort)
		newChan.Reject(gossh.Prohibited, "the lab forwards to 127.0.0.0/8 only")
		return
	}
	dialer := net.Dialer{Timeout: forwardDialTimeout}
	conn, err := dialer.DialContext(ctx, "tcp4", net.JoinHostPort(ip.String(), strconv.Itoa(int(d.DestPort))))
	if err != nil {
		msg := err.Error()
		if errors.Is(err, syscall.ECONNREFUSED) {
			msg = "Connection refused" // as OpenSSH says it
		}
		newChan.Reject(gossh.ConnectionFailed, msg)
		return
	}
	ch, reqs, err := newChan.Accept()
	if err != nil {
		conn.Close()
		return
	}
	go gossh.DiscardRequests(reqs)
	tcp := conn.(*net.TCPConn)
	finished := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // client -> destination, then half-close
		defer wg.Done()
		io.Copy(tcp, ch)
		tcp.CloseWrite()
	}()
	go func() { // destination -> client, then EOF
		defer wg.Done()
		io.Copy(ch, tcp)
		ch.CloseWrite()
	}()
	go func() {
		select {
		case <-finished:
		case <-ctx.Done(): // the SSH connection is gone: end both copies
			tcp.Close()
		}
	}()
	go func() {
		wg.Wait()
		close(finished)
		ch.Close()
		tcp.Close()
	}()
}

// resolveLoopback returns the IPv4 loopback address (127.0.0.0/8) that
// host names, or nil when it names anything else.
func resolveLoopback(ctx context.Context, host string) net.IP {
	if ip := net.ParseIP(host); ip != nil {
		if ip4 := ip.To4(); ip4 != nil && ip4[0] == 127 {
			return ip4
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(addrs) == 0 {
		return nil
	}
	for _, a := range addrs {
		if ip4 := a.IP.To4(); ip4 == nil || ip4[0] != 127 {
			return nil // a name that also leads elsewhere is refused
		}
	}
	return addrs[0].IP.To4()
}
