package transport_test

import (
	"github.com/omni-fleet/omni/internal/shell"

	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

func TestRun(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.11"})
	if srv.Port == 22 {
		t.Fatal("the harness should not listen on port 22")
	}
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))

	tests := []struct {
		name string
		cmd  string
		want transport.Result
	}{
		{"stdout", "echo hello", transport.Result{Stdout: []byte("hello\n")}},
		{"stderr and non-zero exit are a result, not an error",
			"echo oops >&2; exit 3", transport.Result{Stderr: []byte("oops\n"), ExitCode: 3}},
		{"quoted argument arrives intact",
			"printf %s " + shell.Quote(`it's "$HOME" $(id) `+"`id`"),
			transport.Result{Stdout: []byte(`it's "$HOME" $(id) ` + "`id`")}},
		{"killed by a signal", "kill -TERM $$", transport.Result{ExitCode: 128 + 15}},
		{"does not wait for stdin", "cat", transport.Result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, client, tt.cmd)
			if !bytes.Equal(got.Stdout, tt.want.Stdout) || !bytes.Equal(got.Stderr, tt.want.Stderr) || got.ExitCode != tt.want.ExitCode {
				t.Errorf("Run(%q) = stdout %q, stderr %q, exit %d; want %q, %q, %d", tt.cmd,
					got.Stdout, got.Stderr, got.ExitCode, tt.want.Stdout, tt.want.Stderr, tt.want.ExitCode)
			}
		})
	}

	t.Run("goph client runs on the same connection", func(t *testing.T) {
		out, err := client.Goph().Run("echo via goph")
		if err != nil || string(out) != "via goph\n" {
			t.Errorf("Goph().Run = %q, %v", out, err)
		}
	})
}

func TestConcurrentCallersShareOneConnection(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.12"})
	pool := newPool(t, transport.Options{})

	const callers = 20
	clients := make([]*transport.Client, callers)
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			var err error
			clients[i], err = pool.Client(testContext(t), srv.Endpoint("worker1"))
			errs <- err
		})
	}
	wg.Wait()
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range clients {
		if c != clients[0] {
			t.Errorf("caller %d got a different client", i)
		}
	}
	if n := pool.Dials("worker1"); n != 1 {
		t.Errorf("pool dialled worker1 %d times, want 1", n)
	}

	// Many sessions at once on the one connection.
	for i := range callers {
		wg.Go(func() {
			res, err := clients[i].Run(testContext(t), fmt.Sprintf("echo %d", i))
			if err == nil && string(res.Stdout) != fmt.Sprintf("%d\n", i) {
				err = fmt.Errorf("session %d printed %q", i, res.Stdout)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestCancelledDialIsNotRemembered(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.13"})
	pool := newPool(t, transport.Options{})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := pool.Client(ctx, srv.Endpoint("worker1")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Client with a cancelled context: %v, want context.Canceled", err)
	}
	connect(t, pool, srv.Endpoint("worker1"))
}

func TestPoolClose(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.14"})
	pool := transport.NewPool(transport.Options{})
	client := connect(t, pool, srv.Endpoint("worker1"))

	if err := pool.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := client.Run(testContext(t), "true"); err == nil {
		t.Error("Run on a closed pool's client succeeded")
	}
	if _, err := pool.Client(testContext(t), srv.Endpoint("worker1")); !errors.Is(err, transport.ErrPoolClosed) {
		t.Errorf("Client after Close: %v, want ErrPoolClosed", err)
	}
}

func TestLostConnectionIsReportedAndRedialled(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.15"})
	pool := newPool(t, transport.Options{})
	client := connect(t, pool, srv.Endpoint("worker1"))

	srv.Stop()
	_, err := client.Run(testContext(t), "true")
	var unreachable *transport.UnreachableError
	if !errors.As(err, &unreachable) || !strings.Contains(err.Error(), "connection lost") {
		t.Fatalf("Run after the server died: %v, want *UnreachableError about a lost connection", err)
	}
	// The pool notices and dials again (and fails: the server is gone).
	if _, err := pool.Client(testContext(t), srv.Endpoint("worker1")); !errors.As(err, &unreachable) {
		t.Errorf("Client after the connection dropped: %v, want *UnreachableError", err)
	}
	if n := pool.Dials("worker1"); n != 2 {
		t.Errorf("dials = %d, want 2", n)
	}
}

// Not parallel: it counts the goroutines of the whole test binary.
func TestCancelledRunKillsTheCommandAndLeaksNothing(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.16"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	run(t, client, "true") // warm up: the connection's own goroutines exist from here on

	before := settledGoroutines(0)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.Run(ctx, "sleep 31.25")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Run returned %s after the context ended", elapsed)
	}
	if after := settledGoroutines(before); after > before {
		t.Errorf("goroutines: %d before Run, %d after\n%s", before, after, goroutineDump())
	}
	// The server is local: the remote sleep is a process of this machine.
	waitGone(t, 3*time.Second, "sleep", "31.25")
	// The connection is still good.
	if res := run(t, client, "echo alive"); string(res.Stdout) != "alive\n" {
		t.Errorf("Run after a cancel printed %q", res.Stdout)
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.17"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))

	t.Run("to completion", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code, err := client.Stream(testContext(t), "for i in 1 2 3; do echo line$i; done; echo warn >&2; exit 4", &stdout, &stderr)
		if err != nil || code != 4 || stdout.String() != "line1\nline2\nline3\n" || stderr.String() != "warn\n" {
			t.Errorf("Stream = %d, %v, stdout %q, stderr %q", code, err, stdout.String(), stderr.String())
		}
	})

	t.Run("follow until cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(testContext(t))
		out := &notifyingWriter{first: make(chan struct{})}
		go func() {
			<-out.first
			cancel()
		}()
		start := time.Now()
		_, err := client.Stream(ctx, "while :; do echo tick; sleep 0.1; done", out, io.Discard)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Stream: %v, want context.Canceled", err)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("Stream took %s", elapsed)
		}
		if got := out.String(); !strings.HasPrefix(got, "tick\n") {
			t.Errorf("streamed %q", got)
		}
	})
}

func TestDialContext(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.18"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))

	l, err := net.Listen("tcp", "127.0.0.18:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		conn, err := l.Accept()
		if err == nil {
			fmt.Fprint(conn, "hello from the service\n")
			conn.Close()
		}
	}()
	conn, err := client.DialContext(testContext(t), "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("DialContext: %v", err)
	}
	got, err := io.ReadAll(conn)
	conn.Close()
	if err != nil || string(got) != "hello from the service\n" {
		t.Errorf("read %q, %v", got, err)
	}

	host, port := closedPort(t, "127.0.0.18")
	_, err = client.DialContext(testContext(t), "tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("DialContext to a closed port: %v, want connection refused", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := client.DialContext(ctx, "tcp", l.Addr().String()); !errors.Is(err, context.Canceled) {
		t.Errorf("DialContext with a cancelled context: %v", err)
	}
}

func TestDialContextWithoutForwarding(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.19", DisableForwarding: true})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	_, err := client.DialContext(testContext(t), "tcp", srv.HostPort())
	if err == nil || !strings.Contains(err.Error(), "forwarding refused") {
		t.Errorf("DialContext: %v, want forwarding refused", err)
	}
}

type notifyingWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	first chan struct{}
	once  sync.Once
}

func (w *notifyingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.once.Do(func() { close(w.first) })
	return w.buf.Write(p)
}

func (w *notifyingWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// settledGoroutines waits up to 3s for the goroutine count to drop to
// target (0: just to stop changing) and returns it.
func settledGoroutines(target int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		m := runtime.NumGoroutine()
		if (target > 0 && m <= target) || (target == 0 && m == n) {
			return m
		}
		n = m
	}
	return n
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// processRunning reports whether a process of this machine has exactly
// the arguments args.
// waitGone fails the test unless the local process with exactly args
// (the remote command of a test server) has ended within limit.
func waitGone(t *testing.T, limit time.Duration, args ...string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for processRunning(args...) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still runs %s after cancellation", strings.Join(args, " "), limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func processRunning(args ...string) bool {
	want := strings.Join(args, "\x00") + "\x00"
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range cmdlines {
		if data, err := os.ReadFile(path); err == nil && string(data) == want {
			return true
		}
	}
	return false
}

// TestRunOnceLeavesBackgroundOutput: a command that leaves a process in the
// background with its stdout and stderr (a start command's `daemon &`
// without redirections) holds the session's output open for as long as
// that process runs, and the server closes the session only then. A
// command run in a session of its own (RunOnce, and Run when the shell is
// busy) returns once the command has ended and its output has gone
// quiet, with all it wrote before it ended (here 1 MiB, more than the
// channel's window) and its exit code.
func TestRunOnceLeavesBackgroundOutput(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.65"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	ctx := testContext(t)
	marker := fmt.Sprintf("omni-bg-%d", time.Now().UnixNano())
	t.Cleanup(func() { exec.Command("pkill", "-f", marker).Run() })
	cmd := "head -c 1048576 /dev/zero | tr '\\0' x; echo; echo err >&2; sh -c 'sleep 30; : " + marker + "' & exit 7"
	began := time.Now()
	res, err := client.RunOnce(ctx, cmd)
	took := time.Since(began)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) != 1048577 || string(res.Stderr) != "err\n" || res.ExitCode != 7 {
		t.Errorf("RunOnce: %d bytes of stdout, stderr %q, exit %d; want 1048577, \"err\\n\", 7", len(res.Stdout), res.Stderr, res.ExitCode)
	}
	if took > 5*time.Second {
		t.Errorf("RunOnce took %s: it waited for the background process", took)
	}
}

// TestRunOutputIsBounded: a host that floods its output does not grow
// omni's memory without bound: past MaxOutput the output is read and
// thrown away, and the command fails with why, in the connection's shell
// (Run) and in a session of its own (RunOnce), which then still works.
func TestRunOutputIsBounded(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.67"})
	ctx := testContext(t)
	flood := fmt.Sprintf("head -c %d /dev/zero", transport.MaxOutput+1<<20)
	// A fresh connection each: RunOnce takes a session of its own only
	// while no shell is open.
	shell := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	own := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	for _, run := range []func(context.Context, string) (transport.Result, error){shell.Run, own.RunOnce} {
		if res, err := run(ctx, flood); err == nil || !strings.Contains(err.Error(), "passed 32 MiB") {
			t.Errorf("a flood: %d bytes, %v", len(res.Stdout), err)
		}
		if res, err := run(ctx, "echo after"); err != nil || string(res.Stdout) != "after\n" {
			t.Errorf("after the flood: %q, %v", res.Stdout, err)
		}
	}
}
