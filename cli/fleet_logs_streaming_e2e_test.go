package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/proctest"
	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// safeBuffer is a bytes.Buffer safe to read while omni writes it.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFleetLogsFollowSaysAtOnceThatAHostIsDown (found by review): during an incident
// an operator follows a role's logs, `omni service logs worker app -f`,
// and watches. worker2's sshd is down (connection refused at once).
//
// Expected: worker2 is named on stderr as soon as omni knows it could
// not be read (docs/fleet.md: "a host that could not be read is named on
// stderr (`omni: worker4: …`)"), so that the operator does not take its
// silence for a quiet log. worker1's lines stream meanwhile.
//
// Observed before the fix: nothing on stderr for as long as the follow lasts: the
// failure is printed only after Ctrl-C ("omni: worker2: worker2
// (127.0.51.33:…): unreachable: …"), because cli/fleetout.go:fleetLogs
// prints the hosts' errors only once engine.Run has returned, and with -f
// it returns only on Ctrl-C. The operator watching a role's live logs sees
// worker1's lines and silence from worker2, which looks like a healthy,
// quiet host.
func TestFleetLogsFollowSaysAtOnceThatAHostIsDown(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	raw := "    commands:\n" +
		"      start: 'true'\n" +
		"      status: 'exit 3'\n" +
		"      logs: 'exec tail -n \"$OMNI_LINES\" -F " + dir + "/$OMNI_HOST.log'\n"
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.51.31", WorkerAddr: "127.0.51.32",
		MoreWorkers: []string{"127.0.51.33"},
		Extra:       []testfleet.Service{{Name: "app", Role: "worker", Raw: raw}}})
	os.WriteFile(filepath.Join(dir, "worker1.log"), []byte("worker1 says hello\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "worker2.log"), []byte("worker2 says hello\n"), 0o644)
	defer proctest.Kill("tail", "-n", "5", "-F", filepath.Join(dir, "worker1.log"))
	f.Workers[0].Stop() // worker2

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := &safeBuffer{}, &safeBuffer{}
	s := Streams{In: strings.NewReader(""), Out: out, Err: errOut, NoColor: true}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"-i", f.Inventory, "service", "logs", "worker", "app", "-n", "5", "-f"}, s)
	}()
	// Wait for both: worker2's failure may well be said before worker1's
	// first line arrives.
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) &&
		!(strings.Contains(errOut.String(), "worker2") && strings.Contains(out.String(), "worker1 | worker1 says hello")) {
		time.Sleep(100 * time.Millisecond)
	}
	during, streamed := errOut.String(), out.String()
	cancel() // Ctrl-C
	code := <-done
	t.Logf("while following: stdout %q stderr %q; after Ctrl-C: exit %d, stderr %q", streamed, during, code, errOut.String())
	if !strings.Contains(streamed, "worker1 | worker1 says hello") {
		t.Fatalf("precondition: worker1's log is followed: %q", streamed)
	}
	if !strings.Contains(during, "worker2") {
		t.Errorf("`omni service logs worker app -f` with worker2 unreachable: after 8s of following, stderr is %q: "+
			"worker2 is named only after Ctrl-C (%q)", during, strings.TrimSpace(errOut.String()))
	}
}

// TestFleetLogsErrorNamesHostOnce (found by review): an operator reads a role's logs
// and one host's logs command fails (its log file is missing).
//
// Expected: the host is named once, as docs/fleet.md shows (`omni:
// worker4: …`) and as the logs of one host say it ("omni: web1: app:
// logs: logs command exited with status 1").
//
// Observed before the fix: "omni: web1: web1: app: logs: logs command exited with status
// 1": cli/fleetout.go:fleetLogs prefixes the host to an error
// (engine.Words(h.Err)) whose text already starts with it.
func TestFleetLogsErrorNamesHostOnce(t *testing.T) {
	inv, _, _ := reviewHost(t, "127.0.51.24", "", "root", "", "app", logsFileApp) // no app.log
	_, single, code1, _ := omniInv(t, 30*time.Second, inv, "service", "logs", "web1", "app")
	_, fleet, code2, _ := omniInv(t, 30*time.Second, inv, "service", "logs", "web", "app")
	t.Logf("web1: exit %d, stderr %q\nweb: exit %d, stderr %q", code1, single, code2, fleet)
	if !strings.Contains(single, "omni: web1: app: logs:") || code2 == 0 {
		t.Fatalf("precondition: the logs command fails")
	}
	if strings.Contains(fleet, "web1: web1:") {
		t.Errorf("the logs of role web name the host twice: %q", strings.TrimSpace(lastLine(fleet)))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestFleetLogsGiantLineIsNotKeptWhole (found by review): a service wrote one huge
// line without a newline (a binary dump, a JSON blob, a progress bar drawn
// with \r): here 96 MB. The operator reads the logs of its role, `omni
// service logs web app -n 1` (the same happens with -f).
//
// Expected: omni streams it, as it does for one host (`service logs web1
// app -n 1` goes through in about a second, holding a few MB):
// docs/reliability.md says "`service logs` keeps nothing, it streams".
//
// Observed before the fix: the fleet's prefixWriter (cli/fleetout.go) appends everything
// to its buffer until it sees a newline, and rescans the whole buffer
// (bytes.IndexByte) on every write: omni holds the whole line in memory
// (+284 MB of heap for this 96 MB line, in 6.5 s, against +4 MB in 0.8 s
// for `web1`; 750 MB of RSS for a 300 MB line) and its time grows with
// the square of the line's length (a 300 MB line never makes it: "logs:
// timed out after 30s", what was read so far printed as a cut line).
func TestFleetLogsGiantLineIsNotKeptWhole(t *testing.T) {
	inv, _, run := reviewHost(t, "127.0.51.25", "", "root", "", "app", logsFileApp)
	logPath := filepath.Join(run, "app.log")
	const size = 96 << 20
	if err := os.WriteFile(logPath, bytes.Repeat([]byte("x"), size), 0o644); err != nil {
		t.Fatal(err)
	}
	peak := func(target string) (uint64, int, time.Duration, string) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		var top atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > base && m.HeapAlloc-base > top.Load() {
					top.Store(m.HeapAlloc - base)
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		n := &countWriter{}
		s := Streams{In: strings.NewReader(""), Out: n, Err: io.Discard, NoColor: true}
		errOut := &safeBuffer{}
		s.Err = errOut
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		start := time.Now()
		code := Run(ctx, []string{"-i", inv, "service", "logs", target, "app", "-n", "1"}, s)
		took := time.Since(start)
		close(stop)
		wg.Wait()
		return top.Load(), code, took, fmt.Sprintf("%d bytes out, stderr %q", n.n.Load(), errOut.String())
	}
	one, code1, took1, said1 := peak("web1")
	t.Logf("web1: exit %d in %s, peak heap +%d MB, %s", code1, took1.Round(time.Millisecond), one>>20, said1)
	if code1 != 0 {
		t.Fatalf("precondition: the logs of one host are read")
	}
	fleet, code2, took2, said2 := peak("web")
	t.Logf("web:  exit %d in %s, peak heap +%d MB, %s", code2, took2.Round(time.Millisecond), fleet>>20, said2)
	if fleet > 32<<20 {
		t.Errorf("`omni service logs web app -n 1` of a %d MB line without newline held +%d MB of heap (exit %d in %s); "+
			"the same log of one host: +%d MB in %s", size>>20, fleet>>20, code2, took2.Round(time.Millisecond), one>>20, took1.Round(time.Millisecond))
	}
}

type countWriter struct{ n atomic.Int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }
