package manager

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

// The scripts read process states from /proc and fall back to ps where
// there is no /proc. These tests run both branches through a real sh
// against a real process whose name holds ") " and "(", the case that
// breaks a naive parse of /proc/PID/stat, and compare with ps.

// probeBranches are the status script as generated (the /proc branch on
// this machine) and with the /proc test made to fail (the ps branch).
var probeBranches = map[string]func(string) string{
	"proc": func(s string) string { return s },
	"ps": func(s string) string {
		return strings.Replace(s, "[ -r /proc/self/stat ]", "[ -r /nonexistent/self/stat ]", 1)
	},
}

// oddProcess starts a copy of sleep named so that its comm holds ") " and
// "(", and returns its PID.
func oddProcess(t *testing.T) int {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "odd) x (y 1 2")
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

func runScript(t *testing.T, script string) []byte {
	t.Helper()
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, out)
	}
	return out
}

func TestStatusProbeMatchesPs(t *testing.T) {
	pid := oddProcess(t)
	time.Sleep(1100 * time.Millisecond) // at least one second old
	m := &commandManager{host: "lab1", service: "odd", address: "127.0.0.1",
		commands: inventory.Commands{Status: "echo " + strconv.Itoa(pid)}}
	for name, branch := range probeBranches {
		t.Run(name, func(t *testing.T) {
			out := runScript(t, branch(asFunction("omni_status", m.statusScript())))
			rep, err := parseStatusReport(out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			psOut, err := exec.Command("ps", "-o", "etimes=,stat=", "-p", strconv.Itoa(pid)).Output()
			if err != nil {
				t.Fatal(err)
			}
			f := strings.Fields(string(psOut))
			psEt, _ := strconv.Atoi(f[0])
			if rep.pid != pid || rep.stat == "" || rep.stat[0] != f[1][0] {
				t.Fatalf("report %+v, ps says %q\n%s", rep, psOut, out)
			}
			if d := rep.etimes - psEt; d < -1 || d > 1 || rep.etimes < 1 {
				t.Fatalf("etimes %d, ps says %d", rep.etimes, psEt)
			}
			if !rep.state(time.Now()).Running {
				t.Fatalf("a sleeping process reads as stopped: %+v", rep)
			}
		})
	}
}

func TestStatusProbeMissingProcess(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	gone := cmd.Process.Pid // exited and reaped
	m := &commandManager{host: "lab1", service: "gone", address: "127.0.0.1",
		commands: inventory.Commands{Status: "echo " + strconv.Itoa(gone)}}
	for name, branch := range probeBranches {
		t.Run(name, func(t *testing.T) {
			out := runScript(t, branch(asFunction("omni_status", m.statusScript())))
			rep, err := parseStatusReport(out)
			if err != nil {
				t.Fatal(err)
			}
			if rep.stat != "" || rep.etimes != -1 || rep.state(time.Now()).Running {
				t.Fatalf("a reaped PID reads as %+v\n%s", rep, out)
			}
		})
	}
}

func TestStopProbeBothBranches(t *testing.T) {
	for name, branch := range probeBranches {
		t.Run(name, func(t *testing.T) {
			pid := oddProcess(t)
			m := &commandManager{host: "lab1", service: "odd", address: "127.0.0.1",
				commands: inventory.Commands{Status: "kill -0 " + strconv.Itoa(pid) + " && echo " + strconv.Itoa(pid)}}
			// The test is the process's parent and reaps it only at
			// cleanup, so after SIGTERM it is a zombie: stopped.
			out := runScript(t, branch(asFunction("omni_stop", m.stopScript(3*time.Second))))
			rep, err := parseStopReport(out)
			if err != nil {
				t.Fatal(err)
			}
			if rep.result != "stopped" || rep.pid != pid {
				t.Fatalf("stop reported %+v\n%s", rep, out)
			}
		})
	}
}
