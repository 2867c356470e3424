package main

import (
	"bufio"
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// The signal tests run the real omni binary over a real sshd fleet and
// send it real signals, as cron's timeout or an operator's Ctrl-C does.

func buildOmni(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "omni")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// watched runs omni, calling on(line) for each stderr line as it comes.
type watched struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	stdout bytes.Buffer
	done   chan struct{}
}

func startOmni(t *testing.T, bin string, on func(w *watched, line string), args ...string) *watched {
	t.Helper()
	w := &watched{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	w.cmd.Stdout = &w.stdout
	pipe, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			w.mu.Lock()
			w.stderr.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
			on(w, sc.Text())
		}
		_, _ = io.Copy(io.Discard, pipe)
	}()
	return w
}

func (w *watched) wait(t *testing.T, limit time.Duration) (code int, stdout, stderr string) {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(limit):
		w.cmd.Process.Kill()
		t.Fatalf("omni did not finish in %s:\n%s", limit, w.stderr.String())
	}
	err := w.cmd.Wait()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return code, w.stdout.String(), w.stderr.String()
}

func (w *watched) signal(sig syscall.Signal) { _ = w.cmd.Process.Signal(sig) }

func TestSignalsDuringARollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds omni and starts a fleet of sshd hosts: not in -short")
	}
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.86", WorkerAddr: "127.0.1.87",
		MoreWorkers: []string{"127.0.1.88", "127.0.1.89", "127.0.1.90"}})
	inv := []string{"-i", f.Inventory}
	if out, err := exec.Command(bin, append(inv, "service", "start", "worker", "container-runtime")...).CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	pids := func() map[string]int {
		m := map[string]int{}
		for _, h := range []string{"worker1", "worker2", "worker3", "worker4"} {
			m[h] = f.PID(h, "container-runtime")
		}
		return m
	}

	// SIGTERM (cron's timeout, a shutdown) once worker2's restart began: the
	// host in flight finishes its restart, no other host is touched.
	before := pids()
	var once sync.Once
	w := startOmni(t, bin, func(w *watched, line string) {
		if strings.Contains(line, "worker2: Restarting") {
			once.Do(func() { w.signal(syscall.SIGTERM) })
		}
	}, append(inv, "service", "restart", "worker", "container-runtime", "--min-ready", "0")...)
	code, out, errOut := w.wait(t, time.Minute)
	after := pids()
	if code != 130 || after["worker2"] == before["worker2"] || !testfleet.Alive(after["worker2"]) ||
		after["worker3"] != before["worker3"] || after["worker4"] != before["worker4"] {
		t.Fatalf("SIGTERM: exit %d (want 130), pids %v -> %v\nstdout:\n%s\nstderr:\n%s", code, before, after, out, errOut)
	}
	if !strings.Contains(out, "Untouched: worker3, worker4") || !strings.Contains(errOut, "Z worker2: done") {
		t.Fatalf("SIGTERM report:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}

	// Two SIGINTs (an impatient operator): the second cancels the step in
	// flight, a health check waiting for a service that takes 10 s.
	f.SetFlags("worker1", "container-runtime", "--ready-after 10s")
	began := time.Now()
	var first, second sync.Once
	w = startOmni(t, bin, func(w *watched, line string) {
		if strings.Contains(line, "ok start") {
			first.Do(func() {
				w.signal(syscall.SIGINT)
				time.AfterFunc(300*time.Millisecond, func() { second.Do(func() { w.signal(syscall.SIGINT) }) })
			})
		}
	}, append(inv, "service", "restart", "worker", "container-runtime", "--min-ready", "0", "-v")...)
	code, out, errOut = w.wait(t, time.Minute)
	if took := time.Since(began); code != 130 || took > 8*time.Second {
		t.Fatalf("two SIGINTs: exit %d after %s (want 130, well before the 10 s start)\nstdout:\n%s\nstderr:\n%s", code, took, out, errOut)
	}
	if !strings.Contains(out, "Interrupted: worker1") || !strings.Contains(out, "Untouched: worker2, worker3, worker4") {
		t.Fatalf("two SIGINTs report:\n%s\n%s", out, errOut)
	}
	// The registry says what worker1 was left as; the run's lock is free.
	status, _ := exec.Command(bin, append(inv, "service", "status", "worker1", "container-runtime")...).CombinedOutput()
	if !strings.Contains(string(status), "worker1") {
		t.Fatalf("status after the interrupt:\n%s", status)
	}
	f.SetFlags("worker1", "container-runtime", "")
	if out, err := exec.Command(bin, append(inv, "service", "restart", "worker", "container-runtime", "--resume", "--min-ready", "0")...).CombinedOutput(); err != nil {
		t.Fatalf("resume after the interrupts: %v\n%s", err, out)
	}
}
