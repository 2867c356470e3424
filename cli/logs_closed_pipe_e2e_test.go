package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/proctest"
)

// logsFileApp is a command-manager service, app, whose logs are the
// file @RUN@/app.log, followed with `tail -F` on OMNI_FOLLOW=1 (as
// docs/inventory.md's example and testfleet write them).
const logsFileApp = `  app:
    commands:
      start: 'true'
      status: 'exit 3'
      logs: 'if [ "$OMNI_FOLLOW" = 1 ]; then exec tail -n "$OMNI_LINES" -F @RUN@/app.log; else exec tail -n "$OMNI_LINES" @RUN@/app.log; fi'
`

// runWithStdoutPipe runs omni in-process (as omni's main does: SIGPIPE is
// caught, so a write to a pipe whose reader left fails with EPIPE) with
// its stdout the write end of a real pipe. It returns the read end, and
// a channel that gets the exit code and stderr once Run returns.
func runWithStdoutPipe(ctx context.Context, inv string, args ...string) (*os.File, <-chan [2]string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	s, _, errOut := TestStreams("", false)
	s.Out = w
	done := make(chan [2]string, 1)
	go func() {
		code := Run(ctx, append([]string{"-i", inv}, args...), s)
		w.Close()
		done <- [2]string{fmt.Sprint(code), errOut.String()}
	}()
	return r, done, nil
}

// TestLogsFollowIntoClosedPipeEnds (found by review): an operator follows a service's
// log into a program that stops reading after what it wanted, e.g.
// `omni service logs web1 app -f | grep -m1 ERROR` or `| head -n 1`.
//
// Expected: once its stdout is gone (a write fails with EPIPE: omni's
// main catches SIGPIPE), omni ends, as `journalctl -f | head -1`, `tail -f
// | head -1` and `ssh host tail -f … | head -1` do, and the remote `tail
// -F` is killed like on Ctrl-C.
//
// Observed before the fix: omni never ends. The write error is dropped by the stream's
// writers (engine/transport client.exec / Stream: the session's output
// copier dies, the SSH channel's window fills, the remote tail blocks
// forever on its write), so `omni … -f | head -1` hangs until someone
// presses Ctrl-C, and until then `tail -n 1 -F …/app.log` runs on the
// host. Without a terminal (cron, a script) nobody ever does.
func TestLogsFollowIntoClosedPipeEnds(t *testing.T) {
	inv, _, run := reviewHost(t, "127.0.51.21", "", "root", "", "app", logsFileApp)
	logPath := filepath.Join(run, "app.log")
	if err := os.WriteFile(logPath, []byte("first line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer proctest.Kill("tail", "-n", "1", "-F", logPath)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, done, err := runWithStdoutPipe(ctx, inv, "service", "logs", "web1", "app", "-n", "1", "-f")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || line != "first line\n" {
		t.Fatalf("precondition: the first line is followed: %q, %v", line, err)
	}
	r.Close() // `head -n 1` has what it wanted, and exits
	// The service goes on logging.
	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(f, "later line %d %s\n", i, strings.Repeat("x", 100))
	}
	f.Close()
	select {
	case res := <-done:
		t.Logf("omni ended: exit %s, stderr %q", res[0], res[1])
	case <-time.After(10 * time.Second):
		remote := proctest.WithArgs("tail", "-n", "1", "-F", logPath)
		cancel() // Ctrl-C, to end it
		res := <-done
		t.Errorf("`omni service logs web1 app -f | head -n 1`: omni still runs 10s after its reader left "+
			"(the remote tail -F still running: pids %v); it ended only on Ctrl-C (exit %s, stderr %q)", remote, res[0], res[1])
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(proctest.WithArgs("tail", "-n", "1", "-F", logPath)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if pids := proctest.WithArgs("tail", "-n", "1", "-F", logPath); len(pids) > 0 {
		t.Errorf("omni ended, but the remote tail -F still runs on the host: %v", pids)
	}
}

// TestLogsIntoClosedPipeIsNotATimeout (found by review): an operator reads a long log
// and keeps the first lines: `omni service logs web1 app -n 200000 | head
// -n 1`.
//
// Expected: omni ends as soon as its reader is gone (like `tail -n 200000
// FILE | head -n 1` or `journalctl -n 200000 | head -n 1`), and says
// nothing false.
//
// Observed before the fix: omni sits there for the whole command_timeout (10s in this
// inventory, 30s by default), then prints "omni: web1: app: logs: timed
// out after 10s" and exits 1: the operator is told the host was too slow,
// when it was the local pipe that closed. The write error on stdout is
// dropped (engine/transport client.exec / Stream): the session's copier
// stops reading, the remote command blocks on a full channel, and only
// the step's deadline ends it.
func TestLogsIntoClosedPipeIsNotATimeout(t *testing.T) {
	inv, _, run := reviewHost(t, "127.0.51.22", "", "root", "", "app", logsFileApp)
	logPath := filepath.Join(run, "app.log")
	var b strings.Builder
	for i := 0; i < 200000; i++ {
		fmt.Fprintf(&b, "line %d %s\n", i, strings.Repeat("y", 60))
	}
	if err := os.WriteFile(logPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	r, done, err := runWithStdoutPipe(ctx, inv, "service", "logs", "web1", "app", "-n", "200000")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "line 0 ") {
		t.Fatalf("precondition: the first line is read: %q, %v", line, err)
	}
	r.Close() // `head -n 1` exits
	res := <-done
	took := time.Since(start)
	t.Logf("exit %s after %s, stderr %q", res[0], took.Round(time.Millisecond), res[1])
	if took > 5*time.Second || strings.Contains(res[1], "timed out") {
		t.Errorf("`omni service logs web1 app -n 200000 | head -n 1`: ended after %s, exit %s, saying %q: "+
			"the reader leaving is reported as the host timing out", took.Round(time.Second), res[0], strings.TrimSpace(res[1]))
	}
}

// TestLogsIntoAFullDiskIsSaid: the logs of one host and of a role written
// to a file on a full disk (/dev/full: every write fails with ENOSPC).
// omni ends at once, says that it could not write the logs, and exits 1:
// the failure is not the host's (no "timed out"), and is said once.
// (Found by review: the failed write was dropped, and the run waited for
// the host's deadline.)
func TestLogsIntoAFullDiskIsSaid(t *testing.T) {
	inv, _, run := reviewHost(t, "127.0.51.23", "", "root", "", "app", logsFileApp)
	var b strings.Builder
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(&b, "line %d %s\n", i, strings.Repeat("z", 60))
	}
	if err := os.WriteFile(filepath.Join(run, "app.log"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"web1", "web"} {
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Skip(err)
		}
		s, _, errOut := TestStreams("", false)
		s.Out = full
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		start := time.Now()
		code := Run(ctx, []string{"-i", inv, "service", "logs", target, "app", "-n", "100000"}, s)
		took := time.Since(start)
		cancel()
		full.Close()
		said := errOut.String()
		t.Logf("%s: exit %d after %s, stderr %q", target, code, took.Round(time.Millisecond), said)
		if code != ExitFailed || took > 5*time.Second || strings.Contains(said, "timed out") ||
			strings.Count(said, "omni: writing the logs: ") != 1 || !strings.Contains(said, "no space left on device") {
			t.Errorf("`omni service logs %s app > /dev/full`: exit %d after %s, stderr %q: want exit 1 at once, "+
				"saying once that the logs could not be written", target, code, took.Round(time.Second), said)
		}
	}
}
