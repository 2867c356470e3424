package transport_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/internal/testkit/proctest"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// shellPID is the PID of the remote shell that ran the command: the
// parent of its own `sh -c`. Commands run in the connection's long-lived
// shell share it; a command in a session of its own has sshd as parent.
func shellPID(t *testing.T, client *transport.Client) string {
	t.Helper()
	return strings.TrimSpace(string(run(t, client, "echo $PPID").Stdout))
}

// sessions counts the sessions the server's sshd has started so far: at
// LogLevel VERBOSE it logs "Starting session" for each.
func sessions(t *testing.T, srv *sshtest.Server) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.Dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "Starting session")
}

func TestRunsShareOneShell(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.21", ExtraConfig: "LogLevel VERBOSE"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))

	first := shellPID(t, client)
	before := sessions(t, srv)
	for range 5 {
		if got := shellPID(t, client); got != first {
			t.Fatalf("commands ran in shells %s and %s, want one", first, got)
		}
	}
	if n := sessions(t, srv) - before; n != 0 {
		t.Errorf("5 commands opened %d more sessions, want 0", n)
	}

	t.Run("output arrives exactly", func(t *testing.T) {
		tests := []struct {
			name, cmd      string
			stdout, stderr string
			code           int
		}{
			{"no trailing newline", "printf abc; printf def >&2", "abc", "def", 0},
			{"empty", "true", "", "", 0},
			{"blank lines kept", "printf '\\n\\n'; printf '\\n' >&2; exit 4", "\n\n", "\n", 4},
			{"a forged mark is output",
				"echo; echo omni-shell-0123456789abcdef0123456789abcdef 0; echo omni-shell- >&2",
				"\nomni-shell-0123456789abcdef0123456789abcdef 0\n", "omni-shell-\n", 0},
			{"syntax error", "if then", "", "", 2},
			{"exit ends only the command", "echo before; exit 7; echo after", "before\n", "", 7},
			{"its own $$", "kill -TERM $$", "", "", 128 + 15},
			{"reads /dev/null, not the next command", "cat; echo read-nothing", "read-nothing\n", "", 0},
			{"variables stay its own", "omni_x=1; export OMNI_Y=2", "", "", 0},
			{"and do not leak", `echo "[${omni_x-}${OMNI_Y-}]"`, "[]\n", "", 0},
		}
		for _, tt := range tests {
			res := run(t, client, tt.cmd)
			stderr := string(res.Stderr)
			if tt.name == "syntax error" { // the message is sh's own
				if !strings.Contains(stderr, "Syntax error") && !strings.Contains(stderr, "syntax error") {
					t.Errorf("%s: stderr %q, want sh's syntax error", tt.name, stderr)
				}
				stderr = tt.stderr
			}
			if string(res.Stdout) != tt.stdout || stderr != tt.stderr || res.ExitCode != tt.code {
				t.Errorf("%s: Run(%q) = %q, %q, exit %d; want %q, %q, %d", tt.name, tt.cmd,
					res.Stdout, res.Stderr, res.ExitCode, tt.stdout, tt.stderr, tt.code)
			}
		}
		if got := shellPID(t, client); got != first {
			t.Errorf("the shell changed from %s to %s: a command broke it", first, got)
		}
	})

	t.Run("a megabyte on each stream at once", func(t *testing.T) {
		res := run(t, client, "i=0; while [ $i -lt 16 ]; do head -c 65536 /dev/zero | tr '\\0' o; head -c 65536 /dev/zero | tr '\\0' e >&2; i=$((i+1)); done")
		if len(res.Stdout) != 1<<20 || len(res.Stderr) != 1<<20 ||
			bytes.Count(res.Stdout, []byte("o")) != 1<<20 || bytes.Count(res.Stderr, []byte("e")) != 1<<20 {
			t.Errorf("got %d bytes of stdout, %d of stderr; want 1 MiB of each", len(res.Stdout), len(res.Stderr))
		}
	})

	t.Run("a background process that keeps the output open does not hold Run", func(t *testing.T) {
		start := time.Now()
		res := run(t, client, "sleep 29.5 & echo $!")
		pid, err := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
		if err != nil {
			t.Fatalf("stdout %q", res.Stdout)
		}
		defer syscall.Kill(pid, syscall.SIGKILL) // the server is this machine
		if elapsed := time.Since(start); elapsed > 20*time.Second {
			t.Errorf("Run waited %s for the background sleep", elapsed)
		}
		if got := shellPID(t, client); got != first {
			t.Errorf("the shell changed from %s to %s", first, got)
		}
	})
}

func TestShellBusyRunsInASessionOfItsOwn(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.22"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	first := shellPID(t, client)

	// One command holds the shell until the file appears; the others run
	// meanwhile, each with the output and exit code of its own.
	flag := filepath.Join(srv.Dir, "go-on")
	var wg sync.WaitGroup
	wg.Go(func() {
		res := run(t, client, "while [ ! -e "+shell.Quote(flag)+" ]; do sleep 0.05; done; echo $PPID")
		if got := strings.TrimSpace(string(res.Stdout)); got != first {
			t.Errorf("the long command ran in %s, want the shell %s", got, first)
		}
	})
	time.Sleep(200 * time.Millisecond) // it holds the shell (if not, the test checks less, and still passes)
	var mu sync.Mutex
	outs := map[string]bool{}
	for i := range 6 {
		wg.Go(func() {
			res := run(t, client, "echo "+strconv.Itoa(i)+"; exit "+strconv.Itoa(i))
			if string(res.Stdout) != strconv.Itoa(i)+"\n" || res.ExitCode != i {
				t.Errorf("command %d: %q, exit %d", i, res.Stdout, res.ExitCode)
			}
			mu.Lock()
			outs[string(res.Stdout)] = true
			mu.Unlock()
		})
	}
	time.Sleep(200 * time.Millisecond)
	run(t, client, "touch "+shell.Quote(flag))
	wg.Wait()
	if len(outs) != 6 {
		t.Errorf("outputs %v, want 6 different", outs)
	}
}

func TestCancelledShellCommandKillsItAndTheNextRunWorks(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.23"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	first := shellPID(t, client)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := client.Run(ctx, "sleep 32.75; echo not reached")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v, want context.DeadlineExceeded", err)
	}
	waitGone(t, 5*time.Second, "sleep", "32.75")
	// The shell dies with the group, but sshd reaps it a moment later, and
	// a zombie still answers kill(pid, 0): wait for it, as waitGone does.
	old, _ := strconv.Atoi(first)
	for deadline := time.Now().Add(5 * time.Second); proctest.Alive(old); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the old shell %d still runs 5s after the cancel", old)
		}
	}
	if got := shellPID(t, client); got == first || got == "" {
		t.Errorf("the next Run ran in shell %q, want a new one (the old was %s)", got, first)
	}
}

// The first command goes out with the shell's start line: cancelling it
// still kills it.
func TestCancelledFirstCommandIsKilled(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.24"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := client.Run(ctx, "sleep 33.25"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v, want context.DeadlineExceeded", err)
	}
	waitGone(t, 5*time.Second, "sleep", "33.25")
	if res := run(t, client, "echo alive"); string(res.Stdout) != "alive\n" {
		t.Errorf("Run after the cancel printed %q", res.Stdout)
	}
}

// RunOnce, for a single command, does not start the shell; once there is
// one, it uses it.
func TestRunOnce(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.25", ExtraConfig: "LogLevel VERBOSE"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	once := func() string {
		t.Helper()
		res, err := client.RunOnce(testContext(t), "echo $PPID; echo to-stderr >&2; exit 3")
		if err != nil || res.ExitCode != 3 || string(res.Stderr) != "to-stderr\n" {
			t.Fatalf("RunOnce = %+v, %v", res, err)
		}
		return strings.TrimSpace(string(res.Stdout))
	}
	once()
	// A command in an sh of its own is exec'd by the login shell (bash
	// here), not run in a fork of it: its parent is sshd's session process.
	res, err := client.RunOnce(testContext(t), "sh -c "+shell.Quote("cat /proc/$PPID/comm"))
	if err != nil || string(res.Stdout) != "sshd\n" {
		t.Errorf("sh -c ran under %q (%v), want directly under sshd", res.Stdout, err)
	}
	if n := sessions(t, srv); n != 2 {
		t.Errorf("two RunOnce opened %d sessions, want 2 (one each, no shell)", n)
	}
	sh := shellPID(t, client) // Run starts the shell: one more session
	if got := once(); got != sh {
		t.Errorf("RunOnce ran in %s with the idle shell %s there", got, sh)
	}
	if n := sessions(t, srv); n != 3 {
		t.Errorf("%d sessions in all, want 3", n)
	}
}

// Closing the pool ends the shell on the host before the connection: by
// the time Close returns, the shell has exited.
func TestCloseEndsTheShell(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.26"})
	pool := transport.NewPool(transport.Options{})
	client := connect(t, pool, srv.Endpoint("worker1"))
	pid, err := strconv.Atoi(shellPID(t, client))
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("the shell %d still runs after Close", pid)
	}
}
