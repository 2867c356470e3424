package config_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// sshRunner runs commands on a real sshd over the transport, counting
// them and keeping their text (the only place a command is kept).
type sshRunner struct {
	c    *transport.Client
	mu   sync.Mutex
	cmds []string
}

func (r *sshRunner) note(cmd string) {
	r.mu.Lock()
	r.cmds = append(r.cmds, cmd)
	r.mu.Unlock()
}

func (r *sshRunner) Run(ctx context.Context, cmd string) (manager.Result, error) {
	r.note(cmd)
	res, err := r.c.Run(ctx, cmd)
	return manager.Result{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, err
}

func (r *sshRunner) RunInput(ctx context.Context, cmd string, stdin []byte) (manager.Result, error) {
	r.note(cmd)
	res, err := r.c.RunInput(ctx, cmd, stdin)
	return manager.Result{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, err
}

func (r *sshRunner) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cmds)
}

// runOnly hides RunInput: contents then go inside the script.
type runOnly struct{ r *sshRunner }

func (o runOnly) Run(ctx context.Context, cmd string) (manager.Result, error) {
	return o.r.Run(ctx, cmd)
}

func newRunner(t *testing.T, addr string) *sshRunner {
	t.Helper()
	srv := sshtest.Start(t, sshtest.Options{Addr: addr})
	pool := transport.NewPool(transport.Options{})
	t.Cleanup(func() { pool.Close() })
	c, err := pool.Client(testCtx(t), srv.Endpoint("h1"))
	if err != nil {
		t.Fatal(err)
	}
	return &sshRunner{c: c}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func readLive(t *testing.T, r manager.Runner, files []config.File) []config.Live {
	t.Helper()
	live, err := config.ReadLive(testCtx(t), r, false, files, false)
	if err != nil {
		t.Fatal(err)
	}
	return live
}

// inode is a file's inode and mtime.
func inode(t *testing.T, p string) (uint64, time.Time) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino, fi.ModTime()
}

// temps lists omni's temporary files in dir.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.omni-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
