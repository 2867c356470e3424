package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
	"github.com/omni-fleet/omni/registry"
)

// hookFleet is a test fleet whose service app (role worker) gets the
// hooks each test writes into the inventory.
type hookFleet struct {
	*hungFleet
	orig string // the inventory as testfleet wrote it
}

func startHookFleet(t *testing.T, bastion, worker string, more ...string) *hookFleet {
	t.Helper()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: bastion, WorkerAddr: worker, MoreWorkers: more,
		Extra: []testfleet.Service{{Name: "app", Role: "worker"}}})
	b, err := os.ReadFile(f.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	return &hookFleet{hungFleet: &hungFleet{Fleet: f, t: t}, orig: string(b)}
}

// setHooks rewrites the inventory with hooks (YAML lines indented for a
// service's keys) on service, in place of any set before.
func (h *hookFleet) setHooks(service, hooks string) {
	h.t.Helper()
	key := "  " + service + ":\n"
	i := strings.Index(h.orig, key)
	if i < 0 {
		h.t.Fatalf("no %s in the inventory", service)
	}
	inv := h.orig[:i+len(key)] + hooks + h.orig[i+len(key):]
	if err := os.WriteFile(h.Inventory, []byte(inv), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// hook is one hook's YAML: run quoted, then the other keys as given.
func hook(run string, keys ...string) string {
	s := "      - run: '" + strings.ReplaceAll(run, "'", "''") + "'\n"
	for _, k := range keys {
		s += "        " + k + "\n"
	}
	return s
}

// log is a snippet appending a line (words, shell-expanded) to RUN/hooks.log.
func (h *hookFleet) log(words string) string {
	return `echo ` + words + ` >>` + filepath.Join(h.RunDir, "hooks.log")
}

func (h *hookFleet) logLines() []string {
	b, _ := os.ReadFile(filepath.Join(h.RunDir, "hooks.log"))
	os.Remove(filepath.Join(h.RunDir, "hooks.log"))
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func (h *hookFleet) record(host, service string) registry.Record {
	for _, r := range registryRecords(h.t, h.Fleet) {
		if r.Host == host && r.Service == service {
			return r
		}
	}
	return registry.Record{}
}

// TestHooksOverSSH: each kind of hook around a real restart, in order,
// with its environment, on the service's host, on another inventory host
// over its connection and on the machine running omni; shown by -v, -o
// json and the history.
func TestHooksOverSSH(t *testing.T) {
	h := startHookFleet(t, "127.0.1.121", "127.0.1.122")
	mustRun(t, h.Fleet, "service", "start", "worker1", "app")
	h.setHooks("app", "    pre_stop:\n"+hook(h.log(`"pre_stop $OMNI_HOST $OMNI_SERVICE $OMNI_OP ${OMNI_RESULT-unset} $SSH_CONNECTION"`))+
		"    post_stop:\n"+hook(h.log(`"post_stop $OMNI_HOST $OMNI_RESULT $SSH_CONNECTION"`), "on: primary-bastion")+
		"    pre_start:\n"+hook(h.log(`"pre_start local ppid=$PPID $OMNI_OP"`), "on: local")+
		"    post_start:\n"+hook(h.log(`"post_start $OMNI_RESULT $(cat `+filepath.Join(h.RunDir, "worker1.app.pid")+`)"`)))
	out, errOut, code := omni(t, h.Fleet, "service", "restart", "-v", "worker1", "app", "--yes")
	if code != ExitOK {
		t.Fatalf("restart: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, step := range []string{"pre-stop", "stop", "verify-stopped", "post-stop", "pre-start", "start", "health", "post-start", "record"} {
		if !strings.Contains(errOut, " "+step+" ") {
			t.Errorf("-v does not show %s:\n%s", step, errOut)
		}
	}
	lines := h.logLines()
	want := []string{
		"pre_stop worker1 app restart unset ", // then SSH_CONNECTION: client, port, server, port
		"post_stop worker1 stopped ",
		"pre_start local ppid=" + strconv.Itoa(os.Getpid()) + " restart",
		"post_start healthy " + strconv.Itoa(h.PID("worker1", "app")),
	}
	if len(lines) != len(want) {
		t.Fatalf("hooks ran %q, want %d lines", lines, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("hook line %d = %q, want %q…", i, lines[i], w)
		}
	}
	if !strings.HasSuffix(lines[0], " 127.0.1.122 "+strconv.Itoa(h.Worker.Port)) {
		t.Errorf("pre_stop did not run on worker1: %q", lines[0])
	}
	if !strings.HasSuffix(lines[1], " 127.0.1.121 "+strconv.Itoa(h.Bastion.Port)) {
		t.Errorf("post_stop (on: primary-bastion) did not run on the bastion: %q", lines[1])
	}

	// -o json and the history carry the hook steps.
	out, errOut, code = omni(t, h.Fleet, "-o", "json", "service", "restart", "worker1", "app", "--yes")
	if code != ExitOK {
		t.Fatalf("restart -o json: exit %d\n%s\n%s", code, out, errOut)
	}
	var doc struct {
		Steps []struct{ Step, Result, Note string }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var steps []string
	for _, s := range doc.Steps {
		steps = append(steps, s.Step+"="+s.Result)
	}
	if got := strings.Join(steps, " "); !strings.Contains(got, "pre-stop=ok stop=ok verify-stopped=ok post-stop=ok pre-start=ok start=ok health=ok post-start=ok record=ok") {
		t.Errorf("json steps: %s", got)
	}
	reg, err := registry.Open(context.Background(), filepath.Join(h.Dir, "state.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	events, err := reg.Events(registry.EventQuery{Hosts: []string{"worker1"}, Service: "app", Limit: 1})
	reg.Close()
	if err != nil || len(events) != 1 {
		t.Fatalf("history: %d events, %v", len(events), err)
	}
	var hist []string
	for _, s := range events[0].Steps {
		hist = append(hist, s.Step)
	}
	if got := strings.Join(hist, " "); !strings.Contains(got, "pre-stop stop verify-stopped post-stop pre-start start health post-start record") {
		t.Errorf("history steps: %s", got)
	}
}

// TestHookFailuresOverSSH: each kind failing, under each policy.
func TestHookFailuresOverSSH(t *testing.T) {
	h := startHookFleet(t, "127.0.1.124", "127.0.1.125")
	fail := "echo no way >&2; exit 7"
	mustRun(t, h.Fleet, "service", "start", "worker1", "app")
	pid := h.PID("worker1", "app")
	before := h.record("worker1", "app")

	// A failed pre_stop vetoes the stop: exit 1, named, nothing touched.
	h.setHooks("app", "    pre_stop:\n"+hook(fail)+"    post_stop:\n"+hook(h.log(`post_stop "$OMNI_RESULT"`)))
	out, errOut, code := omni(t, h.Fleet, "service", "stop", "worker1", "app", "--yes")
	if code != ExitFailed || !strings.Contains(errOut, "pre-stop: pre_stop hook 1 on worker1 (echo no way >&2; exit 7): exit status 7: no way (vetoed: the service was not stopped)") {
		t.Fatalf("stop with a failing pre_stop: exit %d\n%s\n%s", code, out, errOut)
	}
	if !testfleet.Alive(pid) || h.PID("worker1", "app") != pid {
		t.Fatalf("app (pid %d) was stopped", pid)
	}
	if after := h.record("worker1", "app"); after.State != before.State || !after.Since.Equal(before.Since) {
		t.Errorf("registry: %+v, was %+v", after, before)
	}
	// The post_stop hooks run after a veto too, told the stop failed, so
	// that they can undo what pre_stop began (found by review: a hook
	// drain was left on).
	if got := h.logLines(); len(got) != 1 || got[0] != "post_stop failed" {
		t.Errorf("post_stop after a vetoed stop: ran %q, want once with OMNI_RESULT=failed", got)
	}

	// on_failure: warn: the stop goes on, with a warning on stderr.
	h.setHooks("app", "    pre_stop:\n"+hook(fail, "on_failure: warn"))
	out, errOut, code = omni(t, h.Fleet, "service", "stop", "worker1", "app", "--yes")
	if code != ExitOK || !strings.Contains(errOut, "warning: worker1: app: pre-stop: pre_stop hook 1 on worker1") || testfleet.Alive(pid) {
		t.Fatalf("stop with a warning pre_stop: exit %d, alive %v\n%s\n%s", code, testfleet.Alive(pid), out, errOut)
	}

	// A failed pre_start (abort): the service is not started.
	h.setHooks("app", "    pre_start:\n"+hook(fail))
	out, errOut, code = omni(t, h.Fleet, "service", "start", "worker1", "app")
	if code != ExitFailed || !strings.Contains(errOut, "pre-start: pre_start hook 1 on worker1") || !strings.Contains(out, "Stopped") {
		t.Fatalf("start with a failing pre_start: exit %d\n%s\n%s", code, out, errOut)
	}

	// A failed post_start is a failed health check: exit 1.
	h.setHooks("app", "    post_start:\n"+hook(fail))
	out, errOut, code = omni(t, h.Fleet, "service", "start", "worker1", "app")
	if code != ExitFailed || !strings.Contains(errOut, "post-start: post_start hook 1 on worker1") || !strings.Contains(errOut, "counts as a failed health check") {
		t.Fatalf("start with a failing post_start: exit %d\n%s\n%s", code, out, errOut)
	}
	// ... and with on_failure: warn it is not.
	h.setHooks("app", "    post_start:\n"+hook(fail, "on_failure: warn"))
	out, errOut, code = omni(t, h.Fleet, "service", "restart", "worker1", "app", "--yes")
	if code != ExitOK || !strings.Contains(errOut, "warning: worker1: app: post-start:") {
		t.Fatalf("restart with a warning post_start: exit %d\n%s\n%s", code, out, errOut)
	}

	// A failed post_stop is a warning by default, an error with abort.
	h.setHooks("app", "    post_stop:\n"+hook(fail))
	out, errOut, code = omni(t, h.Fleet, "service", "stop", "worker1", "app", "--yes")
	if code != ExitOK || !strings.Contains(errOut, "warning: worker1: app: post-stop: post_stop hook 1 on worker1") {
		t.Fatalf("stop with a failing post_stop: exit %d\n%s\n%s", code, out, errOut)
	}
	mustRun(t, h.Fleet, "service", "start", "worker1", "app")
	h.setHooks("app", "    post_stop:\n"+hook(fail, "on_failure: abort"))
	out, errOut, code = omni(t, h.Fleet, "service", "stop", "worker1", "app", "--yes")
	if code != ExitFailed || !strings.Contains(errOut, "post-stop: post_stop hook 1 on worker1") {
		t.Fatalf("stop with an abort post_stop: exit %d\n%s\n%s", code, out, errOut)
	}
	if r := h.record("worker1", "app"); r.State != "stopped" {
		t.Errorf("registry after the stop: %+v", r)
	}
}

// TestHookTimeoutOverSSH: a hook past its timeout fails its step, named,
// and its process group is gone: on the service's host and on the
// machine running omni.
func TestHookTimeoutOverSSH(t *testing.T) {
	h := startHookFleet(t, "127.0.1.126", "127.0.1.127")
	mustRun(t, h.Fleet, "service", "start", "worker1", "app")
	pid := h.PID("worker1", "app")
	for _, on := range []string{"self", "local"} {
		os.Remove(filepath.Join(h.RunDir, "hook.pids"))
		h.setHooks("app", "    pre_stop:\n"+hook(h.hang("hook"), "on: "+on, "timeout: 1s"))
		out, errOut, code, took := h.run("service", "stop", "worker1", "app", "--yes")
		where := map[string]string{"self": "worker1", "local": "local"}[on]
		if code != ExitFailed || !strings.Contains(errOut, "pre-stop: pre_stop hook 1 on "+where+" (echo $$ >>") ||
			!strings.Contains(errOut, "timed out after 1s; killed with its process group") {
			t.Fatalf("on %s: exit %d\n%s\n%s", on, code, out, errOut)
		}
		within(t, "the stop on "+on, took, time.Second, 8*time.Second)
		h.assertGone("hook")
		if !testfleet.Alive(pid) {
			t.Fatalf("on %s: app was stopped after its pre_stop timed out", on)
		}
	}
}

// TestHookHostileEnvOverSSH: a service_address with quotes, $() and
// newlines (which a hook would get as OMNI_ADDRESS) is refused when the
// inventory is loaded, with its line, and nothing runs; the hook's quoting
// of such values is pinned by engine's TestHookEnvValuesAreQuoted.
func TestHookHostileEnvOverSSH(t *testing.T) {
	h := startHookFleet(t, "127.0.1.128", "127.0.1.129", "127.0.1.130")
	pwned := filepath.Join(h.RunDir, "PWNED")
	hostile := `x'; touch ` + pwned + `1; '"$(touch ` + pwned + `2)"` + "`touch " + pwned + "3`\n touch " + pwned + `4 \`
	b, err := os.ReadFile(h.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	inv := strings.Replace(string(b), "    service_address: 127.0.1.130\n", "    service_address: \""+strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(hostile)+"\"\n", 1)
	h.orig = inv
	h.setHooks("app", "    pre_start:\n"+hook("true"))
	out, errOut, code := omni(t, h.Fleet, "service", "start", "worker2", "app")
	if code != ExitUsage || !strings.Contains(errOut, "invalid service_address in host") {
		t.Fatalf("start with a hostile service_address: exit %d, want 2 and the inventory's error\n%s\n%s", code, out, errOut)
	}
	for i := 1; i <= 4; i++ {
		if _, err := os.Stat(pwned + strconv.Itoa(i)); err == nil {
			t.Errorf("PWNED%d exists: a value ran as a command", i)
		}
	}
}

// TestHooksInRollingRun: a rolling restart runs each host's hooks; a
// failed post_start on the first host stops the run there, the second
// host untouched.
func TestHooksInRollingRun(t *testing.T) {
	h := startHookFleet(t, "127.0.1.131", "127.0.1.132", "127.0.1.133")
	mustRun(t, h.Fleet, "service", "start", "worker1,worker2", "app")
	h.setHooks("app", "    pre_stop:\n"+hook(h.log("pre_stop $OMNI_HOST"))+
		"    post_start:\n"+hook(h.log("post_start $OMNI_HOST")+`; [ "$OMNI_HOST" != worker1 ] || exit 9`))
	out, errOut, code := omni(t, h.Fleet, "service", "restart", "worker1,worker2", "app", "--rolling", "--min-ready", "0s", "--yes")
	if code != ExitFailed || !strings.Contains(out+errOut, "post_start hook 1 on worker1") {
		t.Fatalf("rolling restart: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if got := strings.Join(h.logLines(), ","); got != "pre_stop worker1,post_start worker1" {
		t.Errorf("hooks ran: %s (worker2 must be untouched)", got)
	}
	h.setHooks("app", "    pre_stop:\n"+hook(h.log("pre_stop $OMNI_HOST"))+"    post_start:\n"+hook(h.log("post_start $OMNI_HOST")))
	out, errOut, code = omni(t, h.Fleet, "service", "restart", "worker1,worker2", "app", "--rolling", "--min-ready", "0s", "--yes")
	if code != ExitOK {
		t.Fatalf("rolling restart: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := strings.Join(h.logLines(), ","); got != "pre_stop worker1,post_start worker1,pre_stop worker2,post_start worker2" {
		t.Errorf("hooks ran: %s", got)
	}
}

// TestStartOfRunningServiceKeepsFailedHealth (found by review): a
// `service start` that finds the service running rewrote the recorded
// health to "" and said "already running; nothing to do" as if it were
// healthy. The record keeps what the last check found, and the start, with
// nothing to do all the same, warns that it failed.
func TestStartOfRunningServiceKeepsFailedHealth(t *testing.T) {
	h := startHookFleet(t, "127.0.96.47", "127.0.96.48")
	mustRun(t, h.Fleet, "service", "start", "worker1", "app")
	h.setHooks("app", "    post_start:\n"+hook("echo init failed >&2; exit 4"))
	if _, _, code := omni(t, h.Fleet, "service", "restart", "worker1", "app"); code != ExitFailed {
		t.Fatalf("restart with a failing post_start: exit %d", code)
	}
	out, errOut, code := omni(t, h.Fleet, "service", "start", "worker1", "app")
	if code != ExitOK || !strings.Contains(out, "already running") || !strings.Contains(errOut, "its last recorded health check failed: post_start hook 1") {
		t.Errorf("start of the running app whose post_start failed: exit %d\n%s%s", code, out, errOut)
	}
	if rec := h.record("worker1", "app"); !strings.HasPrefix(rec.Health, "failed: post_start hook 1") {
		t.Errorf("registry health %q after the start found it running", rec.Health)
	}
}
