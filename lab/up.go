package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/omni-fleet/omni/internal/plural"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/omni-fleet/omni/internal/fanout"
	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/inventory"
)

// DefaultPort is the SSH port of every lab host.
const DefaultPort = 2222

// DefaultParallel is how many services `lab up` starts at once.
const DefaultParallel = 16

// MaxServices is the most service processes `lab up` starts: each takes
// about 3 MiB of memory and a second or two to start. Bigger fleets come up
// with --no-services.
const MaxServices = 2000

// UpOptions say which lab to bring up, and where.
type UpOptions struct {
	From       string // source inventory
	Dir        string // lab directory; DefaultDir when empty
	Hosts      int    // fleet size; 0: the inventory's hosts
	NoServices bool   // bring up the hosts only
	Port       int    // SSH port of the hosts; DefaultPort when 0
	Parallel   int    // services started at once; DefaultParallel when 0
	Omni       string // the omni binary: serve and the services run it
	// Progress receives notes as the lab comes up (stderr); nil discards.
	Progress io.Writer
	// OnService is called as each service start ends (failures included);
	// may be nil.
	OnService func(ServiceResult)
}

// UpResult is the lab that came up.
type UpResult struct {
	State     *State
	Inventory *inventory.Inventory // the lab inventory
	// Services are the starts, in start order; empty with NoServices.
	Services []ServiceResult
	// Cleaned lists processes of an earlier lab in the directory that was
	// not running any more, stopped before this one came up.
	Cleaned []int
	// HostsReady is how long the hosts took to accept SSH; Elapsed is the
	// whole run.
	HostsReady, Elapsed time.Duration
}

// Failed counts the services that did not start.
func (r *UpResult) Failed() int {
	n := 0
	for _, s := range r.Services {
		if s.Err != nil {
			n++
		}
	}
	return n
}

// Up brings the lab up; see the package documentation. Errors before the
// hosts are up leave nothing running. A failed service start does not: the
// lab stays up, and UpResult says what failed.
func Up(ctx context.Context, opts UpOptions) (*UpResult, error) {
	began := time.Now()
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if opts.Port < 1 || opts.Port > 65535 {
		return nil, &UsageError{fmt.Sprintf("--port %d is not a TCP port", opts.Port)}
	}
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	if opts.Hosts < 0 {
		return nil, &UsageError{fmt.Sprintf("--hosts %d: give a number of hosts", opts.Hosts)}
	}
	if opts.Omni == "" {
		return nil, errors.New("lab up: the omni binary is unknown")
	}
	dir, err := absDir(opts.Dir)
	if err != nil {
		return nil, err
	}

	// The source inventory first: a mistake there changes nothing.
	from, err := filepath.Abs(opts.From)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(from); errors.Is(err, os.ErrNotExist) {
		return nil, &UsageError{fmt.Sprintf("inventory %s not found: pass the fleet to reproduce with --from FILE", opts.From)}
	}
	src, err := inventory.Load(opts.From)
	if err != nil {
		return nil, err
	}
	hosts, err := planHosts(src, opts.Hosts)
	if err != nil {
		return nil, err
	}
	for _, s := range src.Services {
		if port, _, _ := healthPort(s); port == opts.Port {
			return nil, &UsageError{fmt.Sprintf("service %s listens on port %d, the lab's SSH port: pass another --port", s.Name, port)}
		}
	}
	if !opts.NoServices {
		n := 0
		for _, h := range hosts {
			for _, s := range src.Services {
				if runsService(src, h, s.Name) {
					n++
				}
			}
		}
		if n > MaxServices {
			return nil, &UsageError{fmt.Sprintf("%d hosts run %d services, more than the lab starts (%d, about 3 MiB each): pass --no-services, or fewer --hosts",
				len(hosts), n, MaxServices)}
		}
	}
	userName, err := currentUser()
	if err != nil {
		return nil, err
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab directory: %w", err)
	}
	unlock, err := lock(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	res := &UpResult{}
	if st, err := readState(dir); err == nil && isServe(st.ServePID, dir) {
		return nil, &RunningError{Dir: dir, PID: st.ServePID}
	}
	// What is left of an earlier lab here (its serve is gone) goes first.
	if pids := labProcesses(dir); len(pids) > 0 {
		what := fmt.Sprintf("%d processes", len(pids))
		if len(pids) == 1 {
			what = "1 process"
		}
		fmt.Fprintf(progress, "Stopping %s left by an earlier lab in %s\n", what, dir)
		terminate(pids, 3*time.Second)
		res.Cleaned = pids
	}
	if err := removeLabFiles(dir, true); err != nil {
		return nil, fmt.Errorf("clearing %s: %w", dir, err)
	}
	for _, sub := range []string{dir, filepath.Join(dir, runDir), filepath.Join(dir, logsDir)} {
		if err := os.MkdirAll(sub, 0o700); err != nil {
			return nil, err
		}
	}

	// Keys.
	clientPub, err := writeClientKey(filepath.Join(dir, clientKeyFile))
	if err != nil {
		return nil, fmt.Errorf("client key: %w", err)
	}
	cfg := serveConfig{Version: 1, User: userName, ClientKey: string(gossh.MarshalAuthorizedKey(clientPub)), Port: opts.Port}
	hostKeys := make(map[string]gossh.PublicKey, len(hosts))
	for _, h := range hosts {
		seed, err := newSeed()
		if err != nil {
			return nil, err
		}
		signer, err := signerFromSeed(seed)
		if err != nil {
			return nil, err
		}
		hostKeys[h.Name] = signer.PublicKey()
		cfg.Hosts = append(cfg.Hosts, serveHost{Name: h.Name, Seed: seed})
	}
	if err := writeJSON(filepath.Join(dir, serveFile), cfg, 0o600); err != nil {
		return nil, err
	}

	// The hosts.
	fmt.Fprintf(progress, "Starting %s...\n", plural.N(len(hosts), "lab host", "lab hosts"))
	st := &State{Version: 1, Dir: dir, From: from, Omni: opts.Omni, Created: time.Now().UTC()}
	serve, err := startServe(dir, opts.Omni)
	if err != nil {
		return nil, err
	}
	st.ServePID = serve.pid
	if err := writeJSON(filepath.Join(dir, stateFile), st, 0o644); err != nil {
		serve.stop(dir)
		return nil, err
	}
	endpoints, err := serve.waitEndpoints(ctx, dir, 10*time.Second+time.Duration(len(hosts))*5*time.Millisecond)
	if err == nil {
		err = writeKnownHosts(filepath.Join(dir, knownHostsFile), endpoints, hostKeys)
	}
	if err == nil {
		err = probe(ctx, endpoints, hostKeys, dir, userName, 30*time.Second)
	}
	if err != nil {
		serve.stop(dir)
		return nil, err
	}
	res.HostsReady = time.Since(began)
	fmt.Fprintf(progress, "%s SSH (%s)\n", plural.N(len(hosts), "lab host accepts", "lab hosts accept"), res.HostsReady.Round(10*time.Millisecond))
	byName := make(map[string]Endpoint, len(endpoints))
	for i, h := range hosts {
		endpoints[i].Via = h.Via
		byName[h.Name] = endpoints[i]
	}

	// The lab inventory.
	ports, err := servicePorts(src, hosts, byName, opts.Port)
	if err != nil {
		serve.stop(dir)
		return nil, err
	}
	p := invParams{Dir: dir, Omni: opts.Omni, User: userName, Hosts: hosts, Endpoints: byName, ServicePorts: ports, From: from}
	data, err := labInventory(src, p)
	if err == nil {
		err = writeFileAtomic(filepath.Join(dir, inventoryFile), data, 0o644)
	}
	var inv *inventory.Inventory
	if err == nil {
		inv, err = inventory.Load(filepath.Join(dir, inventoryFile))
		if err != nil {
			err = fmt.Errorf("lab up wrote an inventory it cannot load (a bug): %w", err)
		}
	}
	if err != nil {
		serve.stop(dir)
		return nil, err
	}
	st.Inventory = filepath.Join(dir, inventoryFile)
	st.Hosts = endpoints
	st.ServicePorts = ports
	if err := writeJSON(filepath.Join(dir, stateFile), st, 0o644); err != nil {
		serve.stop(dir)
		return nil, err
	}
	res.State, res.Inventory = st, inv

	// The services, through omni's own engine over the lab's SSH.
	if !opts.NoServices {
		n := 0
		for _, h := range inv.Hosts {
			n += len(inv.HostServices(h))
		}
		fmt.Fprintf(progress, "Starting %s on %s (%d at a time)...\n", plural.N(n, "service", "services"), plural.N(len(inv.Hosts), "host", "hosts"), opts.Parallel)
		res.Services, err = startServices(ctx, inv, filepath.Join(dir, registryFile), opts.Parallel, opts.OnService)
		if err != nil {
			res.Elapsed = time.Since(began)
			return res, err
		}
	}
	res.Elapsed = time.Since(began)
	return res, ctx.Err()
}

func currentUser() (string, error) {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username, nil
	}
	if name := os.Getenv("USER"); name != "" {
		return name, nil
	}
	return "", errors.New("lab: cannot tell the current user name")
}

// lock takes the lab directory's lock, so that two lab commands never
// build a lab in one directory at once.
func lock(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &RunningError{Dir: dir}
		}
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// serveProcess is the background `omni lab serve` just started.
type serveProcess struct {
	pid    int
	exited chan struct{} // closed when it exits while Up still runs
}

// startServe starts `omni lab serve --dir DIR`, detached: a session of its
// own, stdin from /dev/null, output appended to DIR/lab.log, and
// OMNI_LAB_DIR=DIR in its environment like every process of the lab.
func startServe(dir, omni string) (*serveProcess, error) {
	logf, err := os.OpenFile(filepath.Join(dir, logFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	cmd := exec.Command(omni, serveArgs(dir)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.Dir = "/"
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, EnvDir+"=") })
	cmd.Env = append(env, EnvDir+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s lab serve: %w", omni, err)
	}
	p := &serveProcess{pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitEndpoints waits for serve to report its endpoints, for it to fail,
// or for timeout.
func (p *serveProcess) waitEndpoints(ctx context.Context, dir string, timeout time.Duration) ([]Endpoint, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var doc endpointsDoc
		if err := readJSON(filepath.Join(dir, endpointsFile), &doc); err == nil && doc.PID == p.pid {
			return doc.Hosts, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the lab hosts: %w", ctx.Err())
		case <-p.exited:
			return nil, fmt.Errorf("the lab's SSH servers did not start (omni lab serve exited):\n%s", logTail(dir, 5))
		case <-deadline.C:
			return nil, fmt.Errorf("the lab's SSH servers did not start within %s; see %s", timeout, filepath.Join(dir, logFile))
		case <-tick.C:
		}
	}
}

// stop ends serve and removes the lab's files: Up failed before the lab
// was usable.
func (p *serveProcess) stop(dir string) {
	syscall.Kill(p.pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(p.pid, syscall.SIGKILL)
		<-p.exited
	}
	if pids := labProcesses(dir); len(pids) > 0 {
		terminate(pids, 3*time.Second)
	}
	// Keep the log: it says what went wrong.
	log, _ := os.ReadFile(filepath.Join(dir, logFile))
	removeLabFiles(dir, true)
	if len(log) > 0 && os.MkdirAll(dir, 0o700) == nil {
		os.WriteFile(filepath.Join(dir, logFile), log, 0o644)
	}
}

// logTail returns the last n lines of the lab's log, indented.
func logTail(dir string, n int) string {
	b, _ := os.ReadFile(filepath.Join(dir, logFile))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// probe waits until every endpoint accepts SSH: the handshake, with the
// host key the lab generated for it, and the client key accepted. On the
// first few it checks the host key against the known_hosts file written
// for omni and runs a command: every host does both the same way, and on a
// thousand hosts a known_hosts scan and a fork each would double the wait.
func probe(ctx context.Context, endpoints []Endpoint, hostKeys map[string]gossh.PublicKey, dir, userName string, timeout time.Duration) error {
	signer, err := readClientSigner(filepath.Join(dir, clientKeyFile))
	if err != nil {
		return err
	}
	knownHosts, err := knownhosts.New(filepath.Join(dir, knownHostsFile))
	if err != nil {
		return err
	}
	config := &gossh.ClientConfig{
		User:              userName,
		Auth:              []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyAlgorithms: []string{gossh.KeyAlgoED25519},
		Timeout:           5 * time.Second,
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		mu       sync.Mutex
		failures []string
	)
	fanout.Each(len(endpoints), probeParallel, func(i int) {
		ep, run := endpoints[i], i < probeRuns
		var err error
		for {
			c := *config
			c.HostKeyCallback = gossh.FixedHostKey(hostKeys[ep.Name])
			if run {
				c.HostKeyCallback = knownHosts
			}
			if err = probeOne(ctx, ep, &c, run); err == nil || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
		if err != nil {
			mu.Lock()
			failures = append(failures, fmt.Sprintf("%s (%s:%d): %v", ep.Name, ep.Address, ep.Port, err))
			mu.Unlock()
		}
	})
	if len(failures) > 0 {
		slices.Sort(failures)
		more := ""
		if len(failures) > 5 {
			more = fmt.Sprintf("\n(and %d more)", len(failures)-5)
			failures = failures[:5]
		}
		return fmt.Errorf("%d lab hosts do not accept SSH within %s:\n%s%s", len(failures), timeout, strings.Join(failures, "\n"), more)
	}
	return nil
}

// probeParallel is how many endpoints probe waits for at once.
const probeParallel = 32

// probeRuns is how many endpoints probe runs a command on.
const probeRuns = 8

func probeOne(ctx context.Context, ep Endpoint, config *gossh.ClientConfig, run bool) error {
	addr := net.JoinHostPort(ep.Address, strconv.Itoa(ep.Port))
	dialer := net.Dialer{Timeout: config.Timeout}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(config.Timeout))
	c, chans, reqs, err := gossh.NewClientConn(conn, addr, config)
	if err != nil {
		return err
	}
	client := gossh.NewClient(c, chans, reqs)
	defer client.Close()
	if !run {
		return nil
	}
	session, err := client.NewSession()
	if err != nil {
		return err
	}
	defer session.Close()
	var out bytes.Buffer
	session.Stdout = &out
	if err := session.Run("echo ok"); err != nil {
		return fmt.Errorf("running a command: %w", err)
	}
	if strings.TrimSpace(out.String()) != "ok" {
		return fmt.Errorf("running a command: got %q, want \"ok\"", out.String())
	}
	return nil
}

// servicePorts gives each service without a health port one of its own,
// free on the address of every lab host that runs it.
func servicePorts(src *inventory.Inventory, hosts []labHost, endpoints map[string]Endpoint, sshPort int) (map[string]int, error) {
	used := map[int]bool{sshPort: true}
	for _, s := range src.Services {
		if port, _, _ := healthPort(s); port > 0 {
			used[port] = true
		}
	}
	ports := map[string]int{}
	for _, s := range src.Services {
		if port, _, _ := healthPort(s); port > 0 {
			ports[s.Name] = port
			continue
		}
		var addrs []string
		for _, h := range hosts {
			if runsService(src, h, s.Name) {
				addrs = append(addrs, endpoints[h.Name].Address)
			}
		}
		if len(addrs) == 0 {
			addrs = []string{endpoints[hosts[0].Name].Address}
		}
		port, err := freePort(addrs, used)
		if err != nil {
			return nil, fmt.Errorf("a port for service %s: %w", s.Name, err)
		}
		used[port] = true
		ports[s.Name] = port
	}
	return ports, nil
}

// runsService says whether a lab host runs the service (enabled, through
// one of its roles or role all).
func runsService(src *inventory.Inventory, h labHost, service string) bool {
	return src.Runs(&inventory.Host{Name: h.Name, Roles: h.Roles}, service)
}

// freePort finds a port that is free on every address and not in used.
func freePort(addrs []string, used map[int]bool) (int, error) {
	for range 100 {
		ln, err := net.Listen("tcp4", net.JoinHostPort(addrs[0], "0"))
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if used[port] {
			continue
		}
		ok := true
		for _, a := range addrs[1:] {
			l, err := net.Listen("tcp4", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return port, nil
		}
	}
	return 0, errors.New("no port free on every host")
}

var plainArg = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// quoteArg shell-quotes s for a command line shown to the user, only when
// it needs it.
func quoteArg(s string) string {
	if plainArg.MatchString(s) {
		return s
	}
	return shell.Quote(s)
}

// QuoteArg is quoteArg for the cli's messages.
func QuoteArg(s string) string { return quoteArg(s) }
