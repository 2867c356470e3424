package manager

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/command")

var legacyCommands = inventory.Commands{
	Start:  `setsid nohup /opt/legacy/bin/legacy-app --listen "$OMNI_ADDRESS:8080" --pidfile /run/legacy-app.pid >/dev/null 2>&1 </dev/null &`,
	Status: `cat /run/legacy-app.pid 2>/dev/null && kill -0 "$(cat /run/legacy-app.pid)"`,
	Stop:   `/opt/legacy/bin/legacy-ctl stop`,
	Logs:   `if [ "$OMNI_FOLLOW" = 1 ]; then tail -n "$OMNI_LINES" -F /var/log/legacy-app.log; else tail -n "$OMNI_LINES" /var/log/legacy-app.log; fi`,
}

func commandTarget(sudo bool, cmds inventory.Commands) (*inventory.Host, *inventory.Service) {
	return &inventory.Host{Name: "worker1", ServiceAddress: "10.20.0.11", Sudo: sudo},
		&inventory.Service{Name: "legacy-app", Manager: "command", Commands: cmds}
}

// TestCommandScripts pins the exact remote commands of the command
// manager in golden files (go test -update rewrites them). The same
// scripts run through a real shell in command_local_test.go.
func TestCommandScripts(t *testing.T) {
	noStop := legacyCommands
	noStop.Stop = ""
	noLogs := legacyCommands
	noLogs.Logs = ""
	oddHost := &inventory.Host{Name: "we'ird host", ServiceAddress: "$(reboot)"}
	oddService := &inventory.Service{Name: "a;b", Manager: "command", Commands: legacyCommands}

	type op func(Manager, Runner) error
	logs := func(lines int, follow bool) op {
		return func(m Manager, r Runner) error {
			_, err := r.Run(context.Background(), m.LogsCommand(lines, follow))
			return err
		}
	}
	tests := []struct {
		golden string
		host   *inventory.Host
		svc    *inventory.Service
		result Result
		op     op
	}{
		{golden: "start", op: start},
		{golden: "start-sudo", op: start, host: commandTargetHost(true)},
		{golden: "start-odd-values", op: start, host: oddHost, svc: oddService},
		{golden: "status", op: status, result: Result{Stdout: []byte("rc=1\npid=\n")}},
		{golden: "status-sudo", op: status, result: Result{Stdout: []byte("rc=1\npid=\n")},
			host: commandTargetHost(true)},
		{golden: "stop-signal-30s", op: stop(30 * time.Second), result: Result{Stdout: []byte("pid=\nresult=not-running\n")},
			svc: &inventory.Service{Name: "legacy-app", Manager: "command", Commands: noStop}},
		{golden: "stop-command-10s", op: stop(10 * time.Second), result: Result{Stdout: []byte("pid=\nresult=not-running\n")}},
		{golden: "logs-100", op: logs(100, false)},
		{golden: "logs-follow-sudo", op: logs(20, true), host: commandTargetHost(true)},
		{golden: "logs-none", op: logs(100, false),
			svc: &inventory.Service{Name: "legacy-app", Manager: "command", Commands: noLogs}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			host, svc := commandTarget(false, legacyCommands)
			if tt.host != nil {
				host = tt.host
			}
			if tt.svc != nil {
				svc = tt.svc
			}
			r := &fakeRunner{results: []Result{tt.result}}
			if err := tt.op(newManager(t, host, svc), r); err != nil && err != ErrWasNotRunning {
				t.Fatal(err)
			}
			if len(r.cmds) != 1 {
				t.Fatalf("%d round trips, want 1: %q", len(r.cmds), r.cmds)
			}
			checkGolden(t, filepath.Join("testdata", "command", tt.golden+".golden"), r.cmds[0]+"\n")
		})
	}
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("command differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestCommandStatusReport(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		out       string
		running   bool
		pid       int
		sinceBack time.Duration // Since is about now minus this; 0 for zero Since
	}{
		{"running", "rc=0\npid=4211\netimes=75\nstat=Ssl\n", true, 4211, 75 * time.Second},
		{"running, high priority", "rc=0\npid=4211\netimes=    75\nstat=S<l\n", true, 4211, 75 * time.Second},
		{"zombie counts as stopped", "rc=0\npid=4211\netimes=3\nstat=Z\n", false, 0, 0},
		{"zombie session leader", "rc=0\npid=4211\netimes=3\nstat=Zs\n", false, 0, 0},
		{"pid gone", "rc=0\npid=4211\netimes=\nstat=\n", false, 0, 0},
		{"status fails", "rc=1\npid=\n", false, 0, 0},
		{"status fails, pid alive (reused pid)", "rc=3\npid=4211\netimes=9\nstat=S\n", false, 0, 0},
		{"running without pid", "rc=0\npid=\n", true, 0, 0},
		{"pid 0 names no process", "rc=0\npid=0\n", false, 0, 0},
		{"largest pid", "rc=0\npid=4194304\netimes=5\nstat=S\n", true, 4194304, 5 * time.Second},
		{"number above any pid: no pid", "rc=0\npid=4194305\n", true, 0, 0},
		{"number too big for an int: no pid", "rc=0\npid=99999999999999999999\n", true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := parseStatusReport([]byte(tt.out))
			if err != nil {
				t.Fatal(err)
			}
			st := rep.state(now)
			wantStatus := "stopped"
			if tt.running {
				wantStatus = "running"
			}
			if st.Running != tt.running || st.Status != wantStatus || st.PID != tt.pid {
				t.Errorf("state = %+v, want running=%v status=%s pid=%d", st, tt.running, wantStatus, tt.pid)
			}
			if tt.sinceBack == 0 && !st.Since.IsZero() {
				t.Errorf("Since = %v, want zero", st.Since)
			}
			if tt.sinceBack != 0 {
				if d := now.Sub(st.Since) - tt.sinceBack; d < 0 || d > time.Second {
					t.Errorf("Since = %v, want about now - %s", st.Since, tt.sinceBack)
				}
			}
		})
	}
}

func TestCommandStatusReportErrors(t *testing.T) {
	for _, out := range []string{"", "4211\n", "rc=x\n", "rc=0\npid=abc\n", "rc=0\npid=12\netimes=-3\n"} {
		if rep, err := parseStatusReport([]byte(out)); err == nil {
			t.Errorf("parseStatusReport(%q) = %+v, want an error", out, rep)
		}
	}
}

func TestCommandErrors(t *testing.T) {
	noStop := legacyCommands
	noStop.Stop = ""
	tests := []struct {
		name   string
		cmds   inventory.Commands
		sudo   bool
		result Result
		op     func(Manager, Runner) error
		want   string // "" for no error
	}{
		{name: "start fails", op: start,
			result: Result{ExitCode: 2, Stderr: []byte("legacy-app: /etc/legacy/app.conf: no such file\n")},
			want:   "start command: exit 2: legacy-app: /etc/legacy/app.conf: no such file"},
		{name: "start fails silently", op: start, result: Result{ExitCode: 127}, want: "start command: exit 127"},
		{name: "sudo refused", op: start, sudo: true,
			result: Result{ExitCode: 1, Stderr: []byte("sudo: a password is required\n")},
			want:   "start command: " + ErrSudoRefused.Error()},
		{name: "status script broken", op: status,
			result: Result{ExitCode: 2, Stderr: []byte("sh: 3: Syntax error: \")\" unexpected\n")},
			want:   "status: no rc= line in the status script's output (script exit 2: sh: 3: Syntax error: \")\" unexpected)"},
		{name: "stopped", op: stop(time.Second), result: Result{Stdout: []byte("pid=4211\nstop_rc=0\nresult=stopped\n")}},
		{name: "killed after grace", op: stop(time.Second), result: Result{Stdout: []byte("pid=4211\nresult=killed\n")},
			want: "killed with SIGKILL after the 1s grace period"},
		{name: "stop command failed, then killed", op: stop(time.Second),
			result: Result{Stdout: []byte("pid=4211\nstop_rc=1\nresult=killed\n"), Stderr: []byte("nginx: [emerg] unknown directive \"x\"\n")},
			want:   "killed with SIGKILL after the 1s grace period; its stop command failed (exit 1: nginx: [emerg] unknown directive \"x\")"},
		{name: "stop command failed, stopped anyway", op: stop(time.Second),
			result: Result{Stdout: []byte("pid=4211\nstop_rc=2\nresult=stopped\n")},
			want:   "its stop command failed (exit 2)"},
		{name: "not running", op: stop(time.Second), result: Result{Stdout: []byte("pid=\nresult=not-running\n")}, want: "it was not running"},
		{name: "unkillable", op: stop(time.Second), cmds: noStop,
			result: Result{Stdout: []byte("pid=4211\nresult=still-running\n")},
			want:   "still running after SIGKILL (pid 4211)"},
		{name: "stop command fails, no pid", op: stop(10 * time.Second),
			result: Result{Stdout: []byte("pid=\nstop_rc=1\nresult=still-running\n"), Stderr: []byte("legacy-ctl: connection refused\n")},
			want:   "still running 10s after the stop command (stop command exit 1: legacy-ctl: connection refused); no PID to SIGKILL"},
		{name: "no pid, no stop command", op: stop(time.Second), cmds: noStop,
			result: Result{Stdout: []byte("pid=\nresult=no-pid\n")},
			want:   "stop: the status command says running but printed no PID, and there is no stop command"},
		{name: "SIGTERM refused", op: stop(time.Second), cmds: noStop,
			result: Result{Stdout: []byte("pid=4211\nresult=term-failed\n"), Stderr: []byte("sh: 20: kill: Operation not permitted\n")},
			want:   "kill -TERM 4211 failed: sh: 20: kill: Operation not permitted"},
		{name: "stop script killed", op: stop(time.Second),
			result: Result{ExitCode: 137, Stdout: []byte("pid=4211\n")},
			want:   "stop script: no result= line in the stop script's output (exit 137: pid=4211)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds := legacyCommands
			if tt.cmds != (inventory.Commands{}) {
				cmds = tt.cmds
			}
			m := newManager(t, commandTargetHost(tt.sudo), &inventory.Service{Name: "legacy-app", Manager: "command", Commands: cmds})
			err := tt.op(m, &fakeRunner{results: []Result{tt.result}})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("error:\n got %v\nwant %s", err, tt.want)
			}
			if tt.sudo && !errors.Is(err, ErrSudoRefused) {
				t.Errorf("error does not wrap ErrSudoRefused")
			}
		})
	}
}

func commandTargetHost(sudo bool) *inventory.Host {
	h, _ := commandTarget(sudo, legacyCommands)
	return h
}
