package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// serveConfig is what `lab up` gives `lab serve`, in DIR/serve.json (0600).
type serveConfig struct {
	Version   int         `json:"version"`
	User      string      `json:"user"`       // the only user let in
	ClientKey string      `json:"client_key"` // authorized_keys line of the only key let in
	Port      int         `json:"port"`       // SSH port of every host
	Hosts     []serveHost `json:"hosts"`
}

type serveHost struct {
	Name string `json:"name"`
	Seed []byte `json:"seed"` // ed25519 seed of the host key
}

// endpointsDoc is what serve writes to DIR/endpoints.json once every
// endpoint listens.
type endpointsDoc struct {
	PID   int        `json:"pid"`
	Hosts []Endpoint `json:"hosts"`
}

// Addresses: lab host i listens on 127.77.T+i/250.i%250+1, T being the first
// third octet of a block no other lab holds. A block is held by binding
// its SSH ports, so two labs (or tests) running at once never share one.
const (
	addrPrefix   = "127.77"
	hostsPerNet  = 250
	maxThirdByte = 255
)

// MaxHosts is the largest lab: every 127.77.x.y address but the .0 and
// .251-.255 of each /24.
const MaxHosts = (maxThirdByte + 1) * hostsPerNet

func hostAddress(first, i int) string {
	return fmt.Sprintf("%s.%d.%d", addrPrefix, first+i/hostsPerNet, i%hostsPerNet+1)
}

// listenBlock binds port on the addresses of n hosts in the first free
// block. It returns the listeners and the block's first third octet.
func listenBlock(n, port int) ([]net.Listener, int, error) {
	nets := (n + hostsPerNet - 1) / hostsPerNet
	var lastErr error
	for first := 0; first+nets-1 <= maxThirdByte; first += nets {
		lns, err := listenAll(first, n, port)
		if err == nil {
			return lns, first, nil
		}
		if errors.Is(err, syscall.EMFILE) {
			return nil, 0, fmt.Errorf("%w: a lab of %d hosts needs as many open files; raise the limit (ulimit -n)", err, n)
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, 0, err
		}
		lastErr = err
	}
	return nil, 0, fmt.Errorf("no block of %d free addresses in %s.0.0/16 with port %d free (other labs running? something listening on *:%d?): %w",
		n, addrPrefix, port, port, lastErr)
}

func listenAll(first, n, port int) ([]net.Listener, error) {
	lns := make([]net.Listener, 0, n)
	for i := range n {
		ln, err := net.Listen("tcp4", net.JoinHostPort(hostAddress(first, i), strconv.Itoa(port)))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// Serve runs the SSH servers of the lab in dir until ctx ends, then closes
// them, killing the commands their sessions still run. It is `omni lab
// serve`, started in the background by Up; logw is its log.
func Serve(ctx context.Context, dir string, logw io.Writer) error {
	dir, err := absDir(dir)
	if err != nil {
		return err
	}
	logger := log.New(logw, "omni lab serve: ", log.LstdFlags|log.Lmicroseconds)
	var cfg serveConfig
	if err := readJSON(filepath.Join(dir, serveFile), &cfg); err != nil {
		return fmt.Errorf("lab serve: %w", err)
	}
	clientKey, _, _, _, err := gossh.ParseAuthorizedKey([]byte(cfg.ClientKey))
	if err != nil {
		return fmt.Errorf("lab serve: client key: %w", err)
	}
	if len(cfg.Hosts) == 0 || len(cfg.Hosts) > MaxHosts {
		return fmt.Errorf("lab serve: %d hosts: want 1 to %d", len(cfg.Hosts), MaxHosts)
	}
	signers := make([]gossh.Signer, len(cfg.Hosts))
	for i, h := range cfg.Hosts {
		if signers[i], err = signerFromSeed(h.Seed); err != nil {
			return fmt.Errorf("lab serve: host %s: %w", h.Name, err)
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/"
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}

	lns, first, err := listenBlock(len(cfg.Hosts), cfg.Port)
	if err != nil {
		return fmt.Errorf("lab serve: %w", err)
	}
	settings := serverSettings{
		dir: dir, user: cfg.User, clientKey: clientKey, home: home, path: path,
		commands: &commandTracker{}, log: logger,
	}
	servers := make([]*hostServer, len(cfg.Hosts))
	doc := endpointsDoc{PID: os.Getpid()}
	var serving sync.WaitGroup
	for i, h := range cfg.Hosts {
		servers[i] = newHostServer(h.Name, signers[i], lns[i], settings)
		serving.Add(1)
		go func() {
			defer serving.Done()
			servers[i].serve()
		}()
		doc.Hosts = append(doc.Hosts, Endpoint{Name: h.Name, Address: hostAddress(first, i), Port: cfg.Port})
	}
	if err := writeJSON(filepath.Join(dir, endpointsFile), doc, 0o644); err != nil {
		for _, s := range servers {
			s.srv.Close()
		}
		return fmt.Errorf("lab serve: %w", err)
	}
	logger.Printf("serving %d hosts on %s:%d (pid %d)", len(servers), hostAddress(first, 0), cfg.Port, os.Getpid())

	<-ctx.Done()
	logger.Printf("stopping: closing %d servers", len(servers))
	for _, s := range servers {
		s.srv.Close() // listeners and connections: sessions kill their commands
	}
	serving.Wait()
	if !settings.commands.closeAndWait(5 * time.Second) {
		logger.Printf("some commands did not end within 5s")
	}
	logger.Printf("stopped")
	return nil
}
