package cli

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInterruptDuringEnsureOfRunningDependency (found by review): app
// requires dep on the same host; dep is running, and reading its state
// takes 3 s (a slow status command). `omni service restart web1 app`
// begins with the ensure step of dep, which only finds it running. One
// second into that read, the operator presses Ctrl-C.
//
// Expected (docs/reliability.md "Interrupts": a first interrupt of a run of
// one host "that has not yet begun changing the service (connecting,
// check-deps, …) stops there, exit 130, nothing changed"; what changes it
// is "the stop, the start, a dependency's start, a configuration write"):
// exit 130, app not stopped nor started (same PID), and no note that
// "what has begun changing the service is finished first".
//
// Observed: the note is printed at once, and the run goes on to stop and
// start app after the interrupt (a new PID), then says it was "finished
// first". Cause: engine.Execute counts the ensure step as changing
// (steps.go: StepEnsure Changes: true) as soon as it begins, whether or not
// the dependency needs a start, and calls Env.Changing there
// (cli/service.go interruptNote). Now the ensure says it changes the
// service only as it starts the dependency (execution.changingNow).
func TestInterruptDuringEnsureOfRunningDependency(t *testing.T) {
	bin := buildOmni(t)
	me, _ := user.Current()
	services := `  dep:
    commands:
      start: 'nohup sleep 7711 >/dev/null 2>&1 </dev/null & echo $! > @RUN@/dep.pid'
      status: 'if [ -f @RUN@/slow ]; then sleep 3; fi; cat @RUN@/dep.pid'
  app:
    requires: [dep]
    commands:
      start: 'nohup sleep 7712 >/dev/null 2>&1 </dev/null & echo $! > @RUN@/app.pid'
      stop: 'kill $(cat @RUN@/app.pid); rm -f @RUN@/app.pid'
      status: 'cat @RUN@/app.pid'
`
	inv, _, run := reviewHost(t, "127.0.55.31", "", me.Username, "", "dep, app", services)
	t.Cleanup(func() {
		reviewKillPidfile(filepath.Join(run, "dep.pid"))
		reviewKillPidfile(filepath.Join(run, "app.pid"))
	})
	if out, err := exec.Command(bin, "-i", inv, "--ssh-config", "none", "service", "start", "web1", "app").CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	before, _ := os.ReadFile(filepath.Join(run, "app.pid"))
	os.WriteFile(filepath.Join(run, "slow"), nil, 0o644)

	cmd := exec.Command(bin, "-i", inv, "--ssh-config", "none", "service", "restart", "web1", "app")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // connected, inside the 3 s read of dep's state
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	after, _ := os.ReadFile(filepath.Join(run, "app.pid"))
	code := cmd.ProcessState.ExitCode()
	if code != ExitInterrupted || strings.Contains(out.String(), interruptNoteText) || !bytes.Equal(before, after) {
		t.Errorf("Ctrl-C while ensure only read a running dependency: exit %d, app pid %q -> %q; want exit 130, app untouched, no note\noutput:\n%s",
			code, bytes.TrimSpace(before), bytes.TrimSpace(after), out.String())
	}
}
