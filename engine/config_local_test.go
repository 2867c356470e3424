package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// localConn runs each command with `sh -c` on this machine, as sshd runs
// it on a host: the config scripts read and write real files (under
// t.TempDir()), with no SSH. RunInput feeds stdin (config.InputRunner).
type localConn struct {
	mu   sync.Mutex
	cmds []string
}

func (c *localConn) note(cmd string) {
	c.mu.Lock()
	c.cmds = append(c.cmds, cmd)
	c.mu.Unlock()
}

// commands is how many commands it ran.
func (c *localConn) commands() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cmds)
}

func (c *localConn) Run(ctx context.Context, cmd string) (manager.Result, error) {
	return c.RunInput(ctx, cmd, nil)
}

func (c *localConn) RunInput(ctx context.Context, cmd string, stdin []byte) (manager.Result, error) {
	c.note(cmd)
	x := exec.CommandContext(ctx, "sh", "-c", cmd)
	var stdout, stderr bytes.Buffer
	x.Stdout, x.Stderr = &stdout, &stderr
	if stdin != nil {
		x.Stdin = bytes.NewReader(stdin)
	}
	x.WaitDelay = 2 * time.Second
	err := x.Run()
	res := manager.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		res.ExitCode = exitErr.ExitCode()
		return res, nil
	}
	if err != nil && ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, err
}

func (c *localConn) Stream(ctx context.Context, cmd string, stdout, stderr io.Writer) (int, error) {
	res, err := c.Run(ctx, cmd)
	_, _ = stdout.Write(res.Stdout)
	_, _ = stderr.Write(res.Stderr)
	return res.ExitCode, err
}

func (c *localConn) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("localConn: no dialling")
}

// localHosts hands out one localConn for every host, counting releases.
type localHosts struct {
	conn     *localConn
	refuse   map[string]error // hosts that cannot be connected to
	mu       sync.Mutex
	released int
}

func (h *localHosts) Connect(_ context.Context, host *inventory.Host) (Conn, error) {
	if err := h.refuse[host.Name]; err != nil {
		return nil, err
	}
	return h.conn, nil
}

func (h *localHosts) Release(Conn) {
	h.mu.Lock()
	h.released++
	h.mu.Unlock()
}

// secretValue is the value of the secret env key in every config test:
// no returned string or JSON may contain it.
const secretValue = "s3cr3t-hunter2-value"

// configFixture is an inventory whose command-manager service app (on
// h1) declares env with a secret from_env, an env_file, and files with
// validate and on_change restart/none, all under one temporary directory;
// h2 runs plain, which declares nothing; h3 runs sd, a systemd service
// with a drop-in and a reload file (planner and dry-run paths only).
type configFixture struct {
	dir, etc, src string
	envFile       string
	appConf       string // validated (must hold "good"), on_change restart
	motd          string // on_change none
	sdConf        string // sd's file, on_change reload
	upFile        string // app's status: it runs while this exists
	invPath       string
	inv           *inventory.Inventory
	reg           registry.Store
	hosts         *localHosts
}

func newConfigFixture(t *testing.T, extra string) *configFixture {
	t.Helper()
	t.Setenv("OMNI_TEST_APP_PW", secretValue)
	dir := t.TempDir()
	f := &configFixture{dir: dir, etc: filepath.Join(dir, "etc"), src: filepath.Join(dir, "config")}
	f.envFile = filepath.Join(f.etc, "env", "app.env")
	f.appConf = filepath.Join(f.etc, "app", "app.conf")
	f.motd = filepath.Join(f.etc, "motd")
	f.sdConf = filepath.Join(f.etc, "sd", "sd.conf")
	f.upFile = filepath.Join(dir, "app.up")
	for _, d := range []string{f.src, f.etc} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.writeSource(t, "app.conf", "mode good\nworkers 4\n")
	f.writeSource(t, "motd", "hello\n")
	f.writeSource(t, "sd.conf", "sd 1\n")
	inv := `version: 1
hosts:
  h1: {address: 127.0.0.1, roles: [app]}
  h2: {address: 127.0.0.2, roles: [other]}
  h3: {address: 127.0.0.3, roles: [sys]}
roles:
  app: [app]
  other: [plain]
  sys: [sd]
services:
  app:
    manager: command
    commands: {start: 'touch ` + f.upFile + `', stop: 'rm -f ` + f.upFile + `', status: 'test -f ` + f.upFile + `', logs: 'true'}
    env:
      PORT: 8080
      DB_PASSWORD: {secret: true, from_env: OMNI_TEST_APP_PW}
    env_file: ` + f.envFile + `
    files:
      - {path: ` + f.appConf + `, source: config/app.conf, mode: "0640", validate: "grep -q good %s"}
      - {path: ` + f.motd + `, source: config/motd, on_change: none}
  plain:
    manager: command
    commands: {start: 'true', status: 'true'}
  sd:
    manager: systemd
    dropin: {Service: {LimitNOFILE: 1024}}
    env: {MODE: fast}
    env_file: ` + filepath.Join(f.etc, "env", "sd.env") + `
    files:
      - {path: ` + f.sdConf + `, source: config/sd.conf, on_change: reload}
` + extra
	f.invPath = filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(f.invPath, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	f.load(t)
	reg, err := registry.Open(context.Background(), filepath.Join(t.TempDir(), "registry.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	f.reg = reg
	f.hosts = &localHosts{conn: &localConn{}}
	return f
}

// load (re)reads the inventory, after a source changed.
func (f *configFixture) load(t *testing.T) {
	t.Helper()
	inv, err := inventory.Load(f.invPath)
	if err != nil {
		t.Fatal(err)
	}
	f.inv = inv
}

func (f *configFixture) writeSource(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.src, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *configFixture) env() ConfigEnv {
	return ConfigEnv{Inventory: f.inv, Connect: func() (Connector, func(), error) { return f.hosts, func() {}, nil }}
}

// noSecret fails when s holds the secret value.
func noSecret(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, secretValue) {
		t.Fatalf("%s holds the secret value:\n%s", what, s)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
