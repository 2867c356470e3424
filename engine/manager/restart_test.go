package manager

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

// scriptRunner answers a restart script with the output answer builds
// from the script's mark.
type scriptRunner struct {
	cmds   []string
	answer func(mark string) Result
}

var markRE = regexp.MustCompile(`omni-part-[0-9a-f]{24}`)

func (s *scriptRunner) Run(ctx context.Context, cmd string) (Result, error) {
	s.cmds = append(s.cmds, cmd)
	return s.answer(markRE.FindString(cmd)), nil
}

// parts builds a restart script's output: each part's stdout, exit code
// and centiseconds, and its stderr.
func parts(mark string, ps ...partOut) Result {
	var out, errs strings.Builder
	for _, p := range ps {
		out.WriteString(p.stdout + "\n" + mark + " end " + p.name + " " + p.rc + " " + p.cs + "\n")
		errs.WriteString(p.stderr + "\n" + mark + " end " + p.name + "\n")
	}
	return Result{Stdout: []byte(out.String()), Stderr: []byte(errs.String())}
}

type partOut struct{ name, stdout, stderr, rc, cs string }

func TestSystemdRestartScript(t *testing.T) {
	host := &inventory.Host{Name: "worker1", Sudo: true}
	svc := &inventory.Service{Name: "x", Manager: "systemd", Unit: "omni-x.service"}
	m := newManager(t, host, svc).(Restarter)
	active := string(readTestdata(t, "systemd/active.txt"))
	stopped := string(readTestdata(t, "systemd/stopped.txt"))
	o := RestartOptions{Grace: 30 * time.Second, StartTimeout: 90 * time.Second, ReadState: true}

	t.Run("all parts pass", func(t *testing.T) {
		r := &scriptRunner{answer: func(mark string) Result {
			return parts(mark,
				partOut{name: "stop", stdout: "result=stopped\n" + verifyMarker + "\n" + stopped, rc: "0", cs: "31"},
				partOut{name: "start", stdout: "since=1700000000.123456", rc: "0", cs: "7"},
				partOut{name: "status", stdout: active, rc: "0", cs: "1"})
		}}
		rep, err := m.Restart(context.Background(), r, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.cmds) != 1 || !strings.HasPrefix(r.cmds[0], "sudo -n sh -c ") {
			t.Fatalf("commands %q, want one script under sudo -n", r.cmds)
		}
		for _, want := range []string{"systemctl stop --no-block", "systemctl start", "systemctl show -p " + showProperties, "omni_gone 300 30", "@START_T@"} {
			if want == "@START_T@" {
				want = "sleep 90.00 "
			}
			if !strings.Contains(r.cmds[0], want) {
				t.Errorf("the script has no %q", want)
			}
		}
		if rep.Stop.Err != nil || rep.Stop.Duration != 310*time.Millisecond || rep.Start.Err != nil || rep.Start.Duration != 70*time.Millisecond {
			t.Errorf("stop %+v, start %+v", rep.Stop, rep.Start)
		}
		if !rep.Status.Ran || rep.Status.Err != nil || !rep.State.Running || rep.State.PID == 0 {
			t.Errorf("status %+v, state %+v, want running", rep.Status, rep.State)
		}
		if got := m.(*systemdManager).since; got != "1700000000.123456" {
			t.Errorf("since %q, want the start's clock (the log tail reads from it)", got)
		}
	})

	t.Run("still active after the stop", func(t *testing.T) {
		r := &scriptRunner{answer: func(mark string) Result {
			return parts(mark, partOut{name: "stop", stdout: "result=stopped\n" + verifyMarker + "\n" + active, rc: "3", cs: "5"})
		}}
		rep, err := m.Restart(context.Background(), r, o)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Stop.Err == nil || !strings.Contains(rep.Stop.Err.Error(), "is still active") || rep.Start.Ran || rep.Status.Ran {
			t.Errorf("report %+v, want the stop's verify failure and nothing after it", rep)
		}
	})

	t.Run("SIGKILL did not stop it", func(t *testing.T) {
		r := &scriptRunner{answer: func(mark string) Result {
			return parts(mark, partOut{name: "stop", stdout: "result=still-running", rc: "3", cs: "3500"})
		}}
		rep, err := m.Restart(context.Background(), r, o)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Stop.Err == nil || rep.Stop.Err.Error() != "omni-x.service is still running after SIGKILL" || rep.Start.Ran {
			t.Errorf("report %+v", rep)
		}
	})

	t.Run("start fails", func(t *testing.T) {
		r := &scriptRunner{answer: func(mark string) Result {
			return parts(mark,
				partOut{name: "stop", stdout: "result=stopped\n" + verifyMarker + "\n" + stopped, rc: "0", cs: "2"},
				partOut{name: "start", stdout: "since=1700000001\n" + journalMarker + "\n", stderr: "Job for omni-x.service failed.", rc: "1", cs: "4"})
		}}
		rep, err := m.Restart(context.Background(), r, o)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Start.Err == nil || !strings.Contains(rep.Start.Err.Error(), "systemctl start omni-x.service: exit 1: Job for omni-x.service failed.") || rep.Status.Ran {
			t.Errorf("report %+v", rep)
		}
	})
}

func TestReadRestart(t *testing.T) {
	const mark = "omni-part-000000000000000000000000"
	p := restartParts{
		stopResult:   func(res Result) error { return nil },
		startResult:  func(res Result) error { return startResult(res) },
		statusResult: func(res Result) (State, error) { return State{Status: string(res.Stdout)}, nil },
	}
	t.Run("the start's timeout", func(t *testing.T) {
		res := parts(mark,
			partOut{name: "stop", rc: "0", cs: "0"},
			partOut{name: "start", stdout: "starting\n" + mark + " start-timeout", rc: "137", cs: "150"})
		rep, err := readRestart(res, mark, p)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.StartTimedOut || rep.Start.Err == nil || rep.Start.Duration != 1500*time.Millisecond || rep.Status.Ran {
			t.Errorf("report %+v", rep)
		}
	})
	t.Run("output that only looks like a mark", func(t *testing.T) {
		res := parts(mark,
			partOut{name: "stop", stdout: "omni-part-1 end stop 0 1", rc: "0", cs: "1"},
			partOut{name: "start", stdout: mark + " end status 0 1", rc: "0", cs: "2"},
			partOut{name: "status", stdout: "running", rc: "0", cs: "3"})
		rep, err := readRestart(res, mark, p)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Start.Ran || rep.Start.Duration != 20*time.Millisecond || rep.State.Status != "running" {
			t.Errorf("report %+v", rep)
		}
	})
	t.Run("no end of the stop", func(t *testing.T) {
		_, err := readRestart(Result{Stdout: []byte("garbage"), ExitCode: 2}, mark, p)
		if err == nil || !strings.Contains(err.Error(), "ended before its stop did") {
			t.Errorf("err %v", err)
		}
	})
}
