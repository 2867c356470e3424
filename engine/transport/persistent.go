package transport

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// maxMasterLog is the size past which a master's log file is started
// afresh rather than appended to.
const maxMasterLog = 1 << 20

func (p *Pool) controlDir() string {
	if p.opts.ControlDir != "" {
		return p.opts.ControlDir
	}
	return DefaultControlDir()
}

// controlDirOK checks the control directory, warning (once per pool) when
// it is refused.
func (p *Pool) controlDirOK(ep Endpoint) (string, bool) {
	dir := p.controlDir()
	if err := ensureControlDir(dir); err != nil {
		p.controlWarnOnce.Do(func() {
			p.controlWarning(ep, err.Error()+": not using persistent connections")
		})
		return dir, false
	}
	return dir, true
}

func (p *Pool) controlWarning(ep Endpoint, msg string) {
	if p.opts.OnControlWarning != nil {
		p.opts.OnControlWarning(ep.Name, msg)
	}
}

// viaMaster connects to ep through its master's socket when a master
// serves it; nil when none does, or it refused (the caller then connects
// to the host itself, and checks its key as always). The master's own key
// is pinned: the one it wrote, 0600, in the user's control directory.
func (p *Pool) viaMaster(ctx context.Context, ep Endpoint) *Client {
	dir, ok := p.controlDirOK(ep)
	if !ok {
		return nil
	}
	paths := controlPathsFor(dir, ep)
	pub, err := os.ReadFile(paths.key)
	if err != nil {
		return nil // no master
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		return nil
	}
	dialer := net.Dialer{Timeout: ep.ConnectTimeout}
	conn, err := dialer.DialContext(ctx, "unix", paths.sock)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fs.ErrNotExist) {
			removeStale(paths) // its master is gone
		}
		return nil
	}
	_ = conn.SetDeadline(time.Now().Add(ep.ConnectTimeout))
	config := &ssh.ClientConfig{User: ep.User, HostKeyCallback: ssh.FixedHostKey(key)}
	config.KeyExchanges = keyExchanges
	sconn, chans, reqs, err := ssh.NewClientConn(conn, "omni-control-master", config)
	if err != nil {
		conn.Close()
		return nil
	}
	_ = conn.SetDeadline(time.Time{})
	c := newClient(ep, ssh.NewClient(sconn, chans, reqs), config, nil)
	c.persistent = true
	return c
}

// startMaster starts ep's master in the background, unless one runs or is
// starting (it holds the lock): a process of its own session, stdin
// /dev/null, its output to the endpoint's log in the control directory.
// The run goes on with its own connection.
func (p *Pool) startMaster(ep Endpoint) {
	dir, ok := p.controlDirOK(ep)
	if !ok {
		return
	}
	paths := controlPathsFor(dir, ep)
	lock, free, err := tryLock(paths.lock)
	if err != nil || !free {
		return
	}
	lock.Close() // the master takes it; if another one does first, it serves
	spec, err := json.Marshal(masterSpec{Endpoint: ep, UseAgent: p.opts.UseAgent,
		ControlPersist: p.opts.ControlPersist, ControlDir: dir})
	if err != nil {
		return
	}
	argv := p.opts.MasterCommand
	if len(argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			p.controlWarning(ep, "starting a persistent connection: "+err.Error())
			return
		}
		argv = []string{exe}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if info, err := os.Stat(paths.log); err == nil && info.Size() > maxMasterLog {
		flags |= os.O_TRUNC
	}
	logFile, err := os.OpenFile(paths.log, flags, 0o600)
	if err != nil {
		p.controlWarning(ep, "starting a persistent connection: "+err.Error())
		return
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], append(append([]string{}, argv[1:]...), MasterArg, string(spec))...)
	cmd.Stdout, cmd.Stderr = logFile, logFile // stdin: /dev/null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		p.controlWarning(ep, "starting a persistent connection: "+err.Error())
		return
	}
	go func() { _ = cmd.Wait() }() // reaped when it ends, if this process is still there
}
