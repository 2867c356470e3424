package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// hookRun plays a hook's command: a snippet saying hook-fail exits 3
// with "boom" on stderr, one saying hook-hang runs until its context
// ends; any other exits 0.
func (c *svcConn) hookRun(ctx context.Context, cmd string) (manager.Result, error) {
	c.mu.Lock()
	c.hooks = append(c.hooks, strings.ReplaceAll(cmd, `'\''`, `'`)) // the script inside sh -c '…'

	c.mu.Unlock()
	switch {
	case strings.Contains(cmd, "hook-fail"):
		return manager.Result{ExitCode: 3, Stderr: []byte("boom\n")}, nil
	case strings.Contains(cmd, "hook-hang"):
		<-ctx.Done()
		return manager.Result{ExitCode: -1}, ctx.Err()
	}
	return manager.Result{}, nil
}

// hooksInventory is stepsInventory with hooks on web (WEB_HOOKS).
func hooksInventory(webHooks string) string {
	return strings.Replace(stepsInventory, "  web: {requires: [db],", "  web: {requires: [db], "+webHooks+",", 1)
}

const allHooks = `pre_stop: [{run: pre-stop-ok}], post_stop: [{run: post-stop-ok}], pre_start: [{run: pre-start-ok}], post_start: [{run: post-start-ok}]`

// hooksOf returns the hook commands run that say what.
func hooksSaying(c *svcConn, what string) []string {
	var out []string
	for _, h := range c.hooks {
		if strings.Contains(h, what) {
			out = append(out, h)
		}
	}
	return out
}

func running(svcs ...string) map[string]bool {
	m := map[string]bool{}
	for _, s := range svcs {
		m[s] = true
	}
	return m
}

func TestExecuteHookSteps(t *testing.T) {
	for _, tc := range []stepCase{{
		name: "restart runs the four hooks around stop and start, post-start after health, stop and start kept apart",
		inv:  hooksInventory(allHooks),
		req:  Request{Action: "restart", Service: "web"},
		conn: &svcConn{running: running("db", "web")},
		want: []string{"db ensure ok", "web pre-stop ok", "web stop ok", "web verify-stopped ok", "web post-stop ok",
			"web pre-start ok", "web start ok", "web health ok", "web post-start ok", "web record ok"},
		check: func(t *testing.T, out *Outcome, c *svcConn, _ registry.Registry) {
			if len(c.scripts) != 0 {
				t.Errorf("the restart was fused (%d scripts) though hooks stand between stop and start", len(c.scripts))
			}
			if len(c.hooks) != 4 {
				t.Fatalf("%d hooks ran, want 4: %q", len(c.hooks), c.hooks)
			}
			for i, want := range []string{"OMNI_HOOK='pre_stop'", "OMNI_HOOK='post_stop'", "OMNI_HOOK='pre_start'", "OMNI_HOOK='post_start'"} {
				h := c.hooks[i]
				if !strings.Contains(h, want) || !strings.Contains(h, "OMNI_OP='restart'") || !strings.Contains(h, "OMNI_HOST='a'") || !strings.Contains(h, "OMNI_SERVICE='web'") {
					t.Errorf("hook %d: %q", i, h)
				}
			}
			if !strings.Contains(c.hooks[1], "OMNI_RESULT='stopped'") || !strings.Contains(c.hooks[3], "OMNI_RESULT='healthy'") {
				t.Errorf("OMNI_RESULT: %q, %q", c.hooks[1], c.hooks[3])
			}
			if strings.Contains(c.hooks[0], "OMNI_RESULT") {
				t.Errorf("a pre hook has OMNI_RESULT: %q", c.hooks[0])
			}
			if n := stepNote(out, "web", StepPostStart); n != "1 hook passed" {
				t.Errorf("post-start note %q", n)
			}
		},
	}, {
		name: "restart with only pre_stop and post_start keeps the fused restart",
		inv:  hooksInventory(`pre_stop: [{run: pre-stop-ok}], post_start: [{run: post-start-ok}]`),
		req:  Request{Action: "restart", Service: "web"},
		conn: &svcConn{running: running("db", "web")},
		want: []string{"db ensure ok", "web pre-stop ok", "web stop ok", "web verify-stopped ok", "web start ok", "web health ok", "web post-start ok", "web record ok"},
		check: func(t *testing.T, _ *Outcome, c *svcConn, _ registry.Registry) {
			if len(c.scripts) != 1 {
				t.Errorf("%d restart scripts, want 1 (fused)", len(c.scripts))
			}
		},
	}, {
		// The post_stop hooks run after the veto too, with
		// OMNI_RESULT=failed, so that they can undo what pre_stop began
		// (found by review: a hook drain was left on).
		name:    "a failed pre_stop vetoes the stop: nothing stopped, post_stop told it failed, the record still says running",
		inv:     hooksInventory(`pre_stop: [{run: hook-fail}], post_stop: [{run: post-stop-ok}]`),
		req:     Request{Action: "stop", Service: "web"},
		conn:    &svcConn{running: running("db", "web")},
		want:    []string{"web pre-stop failed", "web post-stop ok"},
		wantErr: []string{"a: web: pre-stop: pre_stop hook 1 on a (hook-fail): exit status 3: boom"},
		check: func(t *testing.T, out *Outcome, c *svcConn, reg registry.Registry) {
			if !c.running["web"] {
				t.Error("web was stopped")
			}
			if len(c.hooks) != 2 || !strings.Contains(c.hooks[1], "OMNI_RESULT='failed'") {
				t.Errorf("hooks run: %q", c.hooks)
			}
			if _, ok, _ := reg.Get("a", "web"); ok {
				t.Error("the registry was written")
			}
			if Classify(out.Err) != ClassFailed {
				t.Errorf("class %s", Classify(out.Err))
			}
		},
	}, {
		name: "pre_stop with on_failure warn: the stop goes on, the step is ok with a warning",
		inv:  hooksInventory(`pre_stop: [{run: hook-fail, on_failure: warn}, {run: second-ok}]`),
		req:  Request{Action: "stop", Service: "web"},
		conn: &svcConn{running: running("db", "web")},
		want: []string{"web pre-stop ok", "web stop ok", "web verify-stopped ok", "web record ok"},
		check: func(t *testing.T, out *Outcome, c *svcConn, _ registry.Registry) {
			r := out.Steps[0]
			if !strings.Contains(r.Warning, "pre_stop hook 1 on a (hook-fail): exit status 3: boom") || r.Note != "1 of 2 hooks passed" {
				t.Errorf("note %q, warning %q", r.Note, r.Warning)
			}
			if !strings.Contains(r.Text(), "warning: ") {
				t.Errorf("text %q", r.Text())
			}
			if len(hooksSaying(c, "second-ok")) != 1 {
				t.Error("the second hook did not run")
			}
		},
	}, {
		name: "a failed post_stop is a warning by default",
		inv:  hooksInventory(`post_stop: [{run: hook-fail}]`),
		req:  Request{Action: "stop", Service: "web"},
		conn: &svcConn{running: running("db", "web")},
		want: []string{"web stop ok", "web verify-stopped ok", "web post-stop ok", "web record ok"},
		check: func(t *testing.T, out *Outcome, c *svcConn, _ registry.Registry) {
			if w := out.Steps[2].Warning; !strings.Contains(w, "post_stop hook 1 on a (hook-fail): exit status 3") {
				t.Errorf("warning %q", w)
			}
		},
	}, {
		name:    "a failed post_stop with on_failure abort fails the stop",
		inv:     hooksInventory(`post_stop: [{run: hook-fail, on_failure: abort}]`),
		req:     Request{Action: "stop", Service: "web"},
		conn:    &svcConn{running: running("db", "web")},
		want:    []string{"web stop ok", "web verify-stopped ok", "web post-stop failed", "web record ok"},
		wantErr: []string{"post-stop: post_stop hook 1 on a (hook-fail): exit status 3"},
	}, {
		name:    "a failed post_start is a failed health check",
		inv:     hooksInventory(`post_start: [{run: hook-fail}]`),
		req:     Request{Action: "start", Service: "web"},
		conn:    &svcConn{running: running("db")},
		want:    []string{"web check-stopped ok", "db ensure ok", "web start ok", "web health ok", "web post-start failed", "web record ok"},
		wantErr: []string{"post-start: post_start hook 1 on a (hook-fail): exit status 3: boom (a failed post_start counts as a failed health check)"},
	}, {
		name:    "a failed pre_start fails the start before the service is started",
		inv:     hooksInventory(`pre_start: [{run: hook-fail}]`),
		req:     Request{Action: "start", Service: "web"},
		conn:    &svcConn{running: running("db")},
		want:    []string{"web check-stopped ok", "db ensure ok", "web pre-start failed", "web record ok"},
		wantErr: []string{"pre-start: pre_start hook 1 on a (hook-fail): exit status 3"},
		check: func(t *testing.T, _ *Outcome, c *svcConn, _ registry.Registry) {
			if len(c.starts) != 0 {
				t.Errorf("started %q", c.starts)
			}
		},
	}, {
		name:    "a hook past its timeout is killed and named",
		inv:     hooksInventory(`pre_stop: [{run: "hook-hang", timeout: 50ms}]`),
		req:     Request{Action: "restart", Service: "web"},
		conn:    &svcConn{running: running("db", "web")},
		want:    []string{"db ensure ok", "web pre-stop failed"},
		wantErr: []string{"a: web: pre-stop: pre_stop hook 1 on a (hook-hang): timed out after 50ms; killed with its process group"},
		check: func(t *testing.T, out *Outcome, _ *svcConn, _ registry.Registry) {
			var te *TimeoutError
			var he *HookError
			if !errors.As(out.Err, &te) || te.After != 50*time.Millisecond || !errors.As(out.Err, &he) || he.Index != 1 {
				t.Errorf("err %v: timeout %v, hook %+v", out.Err, te, he)
			}
		},
	}, {
		name:    "a failed stop still runs post_stop, with OMNI_RESULT=failed",
		inv:     hooksInventory(`post_stop: [{run: post-stop-ok}]`),
		req:     Request{Action: "stop", Service: "web"},
		conn:    &svcConn{running: running("db", "web"), stopOut: map[string]string{"web": "result=stop-failed\nerror=kill refused\n"}},
		want:    []string{"web stop failed", "web post-stop ok", "web record ok"},
		wantErr: []string{"stop"},
		check: func(t *testing.T, _ *Outcome, c *svcConn, _ registry.Registry) {
			if len(c.hooks) != 1 || !strings.Contains(c.hooks[0], "OMNI_RESULT='failed'") {
				t.Errorf("hooks %q", c.hooks)
			}
		},
	}, {
		name: "stop of a stopped service runs no hook",
		inv:  hooksInventory(allHooks),
		req:  Request{Action: "stop", Service: "web"},
		conn: &svcConn{running: running("db")},
		want: []string{"web pre-stop ok", "web record ok"},
		check: func(t *testing.T, out *Outcome, c *svcConn, _ registry.Registry) {
			if len(c.hooks) != 0 || out.Unchanged != "already stopped" {
				t.Errorf("hooks %q, unchanged %q", c.hooks, out.Unchanged)
			}
		},
	}, {
		name: "a dependency started by ensure runs its own start hooks",
		inv:  strings.Replace(stepsInventory, "  db: {", "  db: {pre_start: [{run: db-pre-ok}], post_start: [{run: db-post-ok}], ", 1),
		req:  Request{Action: "start", Service: "web"},
		conn: &svcConn{},
		want: []string{"web check-stopped ok", "db ensure ok", "web start ok", "web health ok", "web record ok"},
		check: func(t *testing.T, _ *Outcome, c *svcConn, _ registry.Registry) {
			if len(c.hooks) != 2 || !strings.Contains(c.hooks[0], "db-pre-ok") || !strings.Contains(c.hooks[1], "OMNI_RESULT='healthy'") || !strings.Contains(c.hooks[1], "OMNI_OP='start'") {
				t.Errorf("hooks %q", c.hooks)
			}
		},
	}, {
		name: "stop --cascade: the target's pre_stop first, each dependent's own hooks around its stop",
		inv:  strings.Replace(hooksInventory(`pre_stop: [{run: web-pre}], post_stop: [{run: web-post}]`), "  db: {", "  db: {pre_stop: [{run: db-pre}], ", 1),
		req:  Request{Action: "stop", Service: "db", Cascade: true},
		conn: &svcConn{running: running("db", "web")},
		want: []string{"db confirm ok", "db pre-stop ok", "api stop skipped", "api verify-stopped skipped", "api record skipped",
			"web pre-stop ok", "web stop ok", "web verify-stopped ok", "web post-stop ok", "web record ok",
			"db stop ok", "db verify-stopped ok", "db record ok"},
		check: func(t *testing.T, _ *Outcome, c *svcConn, _ registry.Registry) {
			if len(c.hooks) != 3 || !strings.Contains(c.hooks[1], "OMNI_OP='stop'") {
				t.Errorf("hooks %q", c.hooks)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) { runStepCase(t, tc) })
	}
}

// TestHookStepsAreNotPlaybookSteps: a playbook override cannot name (so
// cannot drop or move) a hook step.
func TestHookStepsAreNotPlaybookSteps(t *testing.T) {
	dir := t.TempDir()
	body := "name: stop\ndescription: x\nsteps:\n  - step: stop\n  - step: pre-stop\n  - step: record\n"
	if err := os.WriteFile(filepath.Join(dir, "stop.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPlaybooks(dir); err == nil || !strings.Contains(err.Error(), `"pre-stop"`) {
		t.Fatalf("an override naming pre-stop: %v", err)
	}
}

// TestHookStepBoundPerHook: a hook step's bound gives every hook its own
// timeout and margin, so hooks that each run out their time (warn) still
// leave the last one its whole timeout.
func TestHookStepBoundPerHook(t *testing.T) {
	hooks := []inventory.Hook{{Timeout: time.Second}, {Timeout: 2 * time.Second}, {Timeout: 30 * time.Second}}
	if got, want := hooksBound(hooks), 33*time.Second+3*hookMargin; got != want {
		t.Errorf("bound %v, want %v", got, want)
	}
	if got := hooksBound(nil); got != 0 {
		t.Errorf("no hooks: bound %v, want 0", got)
	}
}
