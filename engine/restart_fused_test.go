package engine

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/registry"
)

// partMark finds the mark of the command manager's restart script.
var partMark = regexp.MustCompile(`omni-part-[0-9a-f]{24}`)

// restartScript plays the restart script on a svcConn (see playRestart).
func (c *svcConn) restartScript(ctx context.Context, cmd, mark string) (manager.Result, error) {
	c.mu.Lock()
	c.scripts = append(c.scripts, cmd)
	c.mu.Unlock()
	return playRestart(ctx, cmd, mark, c.Run)
}

// playRestart plays the command manager's restart script (a
// manager.Restarter's) with run, a fake connection's player of the
// commands apart: each part as run plays its command, its output followed
// by the part's end line, a part running only when the one before it
// succeeded. Each part "takes" 10 ms on the host.
func playRestart(ctx context.Context, cmd, mark string, run func(context.Context, string) (manager.Result, error)) (manager.Result, error) {
	svc := ""
	for _, s := range []string{"db", "web", "api"} {
		if strings.Contains(cmd, "start-"+s) {
			svc = s
		}
	}
	var out, errs strings.Builder
	end := func(part string, res manager.Result) bool {
		fmt.Fprintf(&out, "%s\n%s end %s %d 1\n", res.Stdout, mark, part, res.ExitCode)
		fmt.Fprintf(&errs, "%s\n%s end %s\n", res.Stderr, mark, part)
		return res.ExitCode == 0
	}
	result := func() (manager.Result, error) {
		return manager.Result{Stdout: []byte(out.String()), Stderr: []byte(errs.String())}, nil
	}
	// The stop part: the stop script, which exits 3 when it did not stop it.
	stop, err := run(ctx, "status-"+svc+" result=")
	if err != nil {
		return manager.Result{ExitCode: -1}, err
	}
	if r := string(stop.Stdout); !strings.HasSuffix(r, "result=stopped\n") && !strings.HasSuffix(r, "result=not-running\n") {
		stop.ExitCode = 3
	}
	if !end("stop", stop) {
		return result()
	}
	start, err := run(ctx, "start-"+svc)
	if err != nil {
		return manager.Result{ExitCode: -1}, err
	}
	if end("start", start) && strings.Contains(cmd, "[ 1 = 1 ]") {
		status, err := run(ctx, "status-"+svc)
		if err != nil {
			return manager.Result{ExitCode: -1}, err
		}
		end("status", status)
	}
	return result()
}

// TestRestartFused: a restart's stop, verify-stopped and start go to the
// host as one script, still reported as three steps, each with its own
// result and duration; what the script read after the start is the health
// step's first process check and the record's state. Failures stop at the
// part that failed, as apart.
func TestRestartFused(t *testing.T) {
	oneScript := func(t *testing.T, c *svcConn) {
		t.Helper()
		if len(c.scripts) != 1 {
			t.Errorf("%d restart scripts, want 1", len(c.scripts))
		}
	}
	for _, tc := range []stepCase{{
		name: "one script, the steps reported apart",
		req:  Request{Action: "restart", Service: "web"},
		conn: &svcConn{running: map[string]bool{"db": true, "web": true}},
		want: []string{"db ensure ok", "web stop ok", "web verify-stopped ok", "web start ok", "web health ok", "web record ok"},
		check: func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
			oneScript(t, c)
			if !strings.Contains(c.scripts[0], "[ 1 = 1 ]") {
				t.Error("the script does not read the state after the start, for the process check")
			}
			for _, step := range []StepName{StepStop, StepVerifyStopped, StepStart} {
				if stepNote(out, "web", step) == "(no such step)" {
					t.Errorf("no %s step reported", step)
				}
			}
			for _, r := range out.Steps {
				if r.Task.Step == StepStart && r.Duration != 10*time.Millisecond {
					t.Errorf("start took %s, want the 10ms the host measured", r.Duration)
				}
			}
			if out.Health == nil || len(out.Health.Checks) != 2 || out.Health.Checks[0].Attempts != 1 {
				t.Errorf("health %+v, want the process check passed at once", out.Health)
			}
			if !out.State.Running || out.State.PID != 4211 || recorded(t, reg, "web") != "running" {
				t.Errorf("outcome state %+v", out.State)
			}
			if len(c.starts) != 1 {
				t.Errorf("starts %v", c.starts)
			}
		},
	}, {
		name:    "the stop part fails: nothing after it ran",
		req:     Request{Action: "restart", Service: "web"},
		conn:    &svcConn{running: map[string]bool{"db": true, "web": true}, stopOut: map[string]string{"web": "pid=4211\nresult=still-running\n"}},
		want:    []string{"db ensure ok", "web stop failed", "web record ok"},
		wantErr: []string{"a: web: stop: ", "still running after SIGKILL (pid 4211)"},
		check: func(t *testing.T, out *Outcome, c *svcConn, _ registry.Registry) {
			oneScript(t, c)
			if len(c.starts) != 0 {
				t.Errorf("started %v after a failed stop", c.starts)
			}
		},
	}, {
		name:    "the start part fails: its error and the log tail",
		req:     Request{Action: "restart", Service: "web"},
		conn:    &svcConn{running: map[string]bool{"db": true, "web": true}, startErr: map[string]string{"web": "no config"}, logs: "web: bad config line 3\n"},
		want:    []string{"db ensure ok", "web stop ok", "web verify-stopped ok", "web start failed", "web record ok"},
		wantErr: []string{"a: web: start: start command: exit 1: no config"},
		check: func(t *testing.T, out *Outcome, _ *svcConn, reg registry.Registry) {
			var le *manager.LogError
			if !errors.As(out.Err, &le) || !strings.Contains(strings.Join(le.Tail.Lines, "\n"), "bad config line 3") {
				t.Errorf("error %v carries no log tail", out.Err)
			}
			if recorded(t, reg, "web") != "stopped" {
				t.Error("not recorded as stopped")
			}
		},
	}, {
		name:    "the start dies at once: the first process check fails on what the script read",
		req:     Request{Action: "restart", Service: "web"},
		conn:    &svcConn{running: map[string]bool{"db": true, "web": true}, startDies: map[string]bool{"web": true}},
		want:    []string{"db ensure ok", "web stop ok", "web verify-stopped ok", "web start ok", "web health failed", "web record ok"},
		wantErr: []string{"process: not running (stopped)"},
	}, {
		name: "the whole script times out: the stop step says so",
		inv:  strings.Replace(stepsInventory, "defaults: {manager: command}", "defaults: {manager: command, command_timeout: 100ms}", 1),
		req:  Request{Action: "restart", Service: "web"},
		conn: &svcConn{running: map[string]bool{"db": true, "web": true}, stopBlocks: map[string]bool{"web": true}},
		edit: func(p *Plan) {
			for i := range p.Tasks {
				switch p.Tasks[i].Step {
				case StepStop:
					p.Tasks[i].Timeout = 30 * time.Millisecond
				case StepStart:
					p.Tasks[i].Timeout = 20 * time.Millisecond
				}
			}
		},
		want:    []string{"db ensure ok", "web stop failed", "web record ok"},
		wantErr: []string{"a: web: stop: stop and start (one script): timed out after 150ms"},
		check: func(t *testing.T, out *Outcome, _ *svcConn, _ registry.Registry) {
			var te *TimeoutError
			if !errors.As(out.Err, &te) {
				t.Errorf("outcome error %v is not a timeout", out.Err)
			}
		},
	}, {
		name: "interrupted: the run says so",
		req:  Request{Action: "restart", Service: "web"},
		conn: &svcConn{running: map[string]bool{"db": true, "web": true}, stopBlocks: map[string]bool{"web": true}},
		ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		},
		want:    []string{"db ensure ok", "web stop failed", "web record ok"},
		wantErr: []string{"a: web: stop: interrupted: context deadline exceeded"},
	}, {
		name: "a start without a timeout of its own: the steps run apart",
		req:  Request{Action: "restart", Service: "web"},
		conn: &svcConn{running: map[string]bool{"db": true, "web": true}},
		edit: func(p *Plan) {
			for i := range p.Tasks {
				if p.Tasks[i].Step == StepStart {
					p.Tasks[i].Timeout = 0
				}
			}
		},
		want: []string{"db ensure ok", "web stop ok", "web verify-stopped ok", "web start ok", "web health ok", "web record ok"},
		check: func(t *testing.T, _ *Outcome, c *svcConn, _ registry.Registry) {
			if len(c.scripts) != 0 || len(c.starts) != 1 {
				t.Errorf("%d restart scripts, starts %v: want the steps apart", len(c.scripts), c.starts)
			}
		},
	}, {
		name: "a stop alone is no restart: its steps run apart",
		req:  Request{Action: "stop", Service: "web"},
		conn: &svcConn{running: map[string]bool{"web": true}},
		want: []string{"web stop ok", "web verify-stopped ok", "web record ok"},
		check: func(t *testing.T, _ *Outcome, c *svcConn, _ registry.Registry) {
			if len(c.scripts) != 0 {
				t.Errorf("a restart script ran for a stop")
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) { runStepCase(t, tc) })
	}
}
