package lab_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/lab"
	"github.com/omni-fleet/omni/registry"
)

// These tests run the omni binary, built once for the test binary, as real
// processes: `lab up` leaves a background process behind, which an
// in-process cli.Run could not.

var omniBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "omni-labtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	omniBin = filepath.Join(dir, "omni")
	build := exec.Command("go", "build", "-o", omniBin, "github.com/omni-fleet/omni")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build omni: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const exampleInventory = "../examples/inventory.yaml"

// omni runs the omni binary and returns its outputs and exit code.
func omni(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, omniBin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &exit):
		return out.String(), errOut.String(), exit.ExitCode()
	}
	t.Fatalf("omni %s: %v", strings.Join(args, " "), err)
	return "", "", 0
}

func mustOmni(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := omni(t, args...)
	if code != 0 {
		t.Fatalf("omni %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// newLab returns a lab directory that is taken down, whatever happens,
// when the test ends.
func newLab(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		omni(t, "lab", "down", "--dir", dir)
		for _, pid := range labPIDs(dir) { // belt and braces
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return dir
}

func status(t *testing.T, dir string) lab.StatusReport {
	t.Helper()
	var rep lab.StatusReport
	out := mustOmni(t, "lab", "status", "--dir", dir, "--output", "json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("lab status --output json: %v\n%s", err, out)
	}
	return rep
}

// labPIDs scans /proc for live processes whose environment has
// OMNI_LAB_DIR=dir.
func labPIDs(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		for _, kv := range bytes.Split(env, []byte{0}) {
			if string(kv) == lab.EnvDir+"="+dir {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// alive reports whether pid runs (a zombie has exited).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

func listening(addr string, port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// checkGone verifies that nothing of the lab is left: no process, no
// listening port, no directory.
func checkGone(t *testing.T, dir string, rep lab.StatusReport, pids []int) {
	t.Helper()
	if left := labPIDs(dir); len(left) > 0 {
		t.Errorf("processes with %s=%s left: %v", lab.EnvDir, dir, left)
	}
	for _, pid := range append([]int{rep.ServePID}, pids...) {
		if alive(pid) {
			t.Errorf("process %d (%q) still running", pid, cmdline(pid))
		}
	}
	for _, h := range rep.Hosts {
		if listening(h.Address, h.Port) {
			t.Errorf("%s: SSH endpoint %s:%d still listening", h.Name, h.Address, h.Port)
		}
		for _, s := range h.Services {
			if listening(h.Address, s.Port) {
				t.Errorf("%s: %s still listening on %s:%d", h.Name, s.Name, h.Address, s.Port)
			}
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		entries, _ := os.ReadDir(dir)
		t.Errorf("lab directory left: %v %v", err, entries)
	}
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(b), "\x00", " ")
}

// The spec's restart block, without the emoji when not on a terminal.
var restartBlock = regexp.MustCompile(`^(🔄 )?Restarting api-gateway on primary-bastion\.\.\.
(✓ )?Service restarted successfully!

Service Status:
Name:             api-gateway
Host:             primary-bastion
Status:           Running
Uptime:           0m \d+s
Health Check:     Passed
$`)

// TestLabExampleFleet brings the example fleet up, runs the spec's
// restart on a bastion and on a worker behind it, and takes it all down.
func TestLabExampleFleet(t *testing.T) {
	t.Parallel()
	dir := newLab(t)
	out := mustOmni(t, "lab", "up", "--from", exampleInventory, "--dir", dir)
	inv := filepath.Join(dir, "inventory.yaml")
	for _, want := range []string{
		"Lab up in ", ": 6 hosts, 24 of 24 services running.",
		"primary-bastion", "127.77.", "worker1",
		"-i " + inv + " service restart primary-bastion api-gateway",
		"-i " + inv + " service stop worker1 container-runtime --yes",
		"lab down --dir " + dir,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lab up output lacks %q:\n%s", want, out)
		}
	}
	rep := status(t, dir)
	if rep.State != lab.StateRunning || len(rep.Hosts) != 6 || rep.ServicesTotal != 24 || rep.ServicesRunning != 24 {
		t.Fatalf("status after up: %+v", rep)
	}
	if _, err := inventory.Load(inv); err != nil {
		t.Fatalf("the lab inventory does not load: %v", err)
	}
	// Its services were started as any run is, through engine.Run: one
	// finished event each in the lab's registry, under the run lock.
	checkStartEvents(t, dir, 24)
	pidOf := func(rep lab.StatusReport, host, service string) int {
		for _, h := range rep.Hosts {
			for _, s := range h.Services {
				if h.Name == host && s.Name == service {
					return s.PID
				}
			}
		}
		return 0
	}

	// The spec's restart, on a bastion. The lab drains api-gateway through
	// its hooks first: a slow request in flight when the restart begins
	// completes with 200, and meanwhile new requests get 503 (draining).
	before := pidOf(rep, "primary-bastion", "api-gateway")
	gw := gatewayAddr(t, rep)
	inFlight := slowRequest(t, gw, 2500*time.Millisecond)
	saw503 := watchFor503(gw)
	out = mustOmni(t, "-i", inv, "service", "restart", "primary-bastion", "api-gateway")
	if !restartBlock.MatchString(out) {
		t.Errorf("restart output is not the spec's:\n%s", out)
	}
	if err := <-inFlight; err != nil {
		t.Errorf("the request in flight when the restart began: %v", err)
	}
	if !saw503() {
		t.Error("api-gateway never answered 503 (draining) during its restart: its pre_stop hook did not drain it")
	}
	// And on a worker reached through the bastion.
	workerBefore := pidOf(rep, "worker1", "container-runtime")
	out = mustOmni(t, "-i", inv, "service", "restart", "worker1", "container-runtime")
	if !strings.Contains(out, "Service restarted successfully!") || !strings.Contains(out, "Health Check:     Passed") {
		t.Errorf("restart worker1 container-runtime:\n%s", out)
	}
	logs := mustOmni(t, "-i", inv, "service", "logs", "worker1", "container-runtime", "-n", "50")
	if !strings.Contains(logs, "container-runtime[") || !strings.Contains(logs, "stopping (SIGTERM)") {
		t.Errorf("logs of worker1 container-runtime:\n%s", logs)
	}

	rep = status(t, dir)
	after, workerAfter := pidOf(rep, "primary-bastion", "api-gateway"), pidOf(rep, "worker1", "container-runtime")
	if after == 0 || after == before || alive(before) || workerAfter == 0 || workerAfter == workerBefore || alive(workerBefore) {
		t.Errorf("restarts: api-gateway pid %d -> %d, container-runtime pid %d -> %d", before, after, workerBefore, workerAfter)
	}
	if rep.ServicesRunning != 24 {
		t.Errorf("%d of 24 services running after the restarts", rep.ServicesRunning)
	}
	text := mustOmni(t, "lab", "status", "--dir", dir)
	for _, want := range []string{"Lab running in " + dir, "24 of 24 services running", "worker1", "container-runtime"} {
		if !strings.Contains(text, want) {
			t.Errorf("lab status lacks %q:\n%s", want, text)
		}
	}

	// A second lab up in the same directory is refused, and changes nothing.
	_, errOut, code := omni(t, "lab", "up", "--from", exampleInventory, "--dir", dir)
	if code != 5 || !strings.Contains(errOut, "already running in "+dir) || !strings.Contains(errOut, "lab down") {
		t.Errorf("second lab up: exit %d\n%s", code, errOut)
	}
	if again := status(t, dir); again.ServePID != rep.ServePID || again.ServicesRunning != 24 {
		t.Errorf("the second lab up changed the lab: %+v", again)
	}

	var pids []int
	for _, h := range rep.Hosts {
		for _, s := range h.Services {
			pids = append(pids, s.PID)
		}
	}
	var down lab.DownResult
	if err := json.Unmarshal([]byte(mustOmni(t, "lab", "down", "--dir", dir, "--output", "json")), &down); err != nil {
		t.Fatal(err)
	}
	if !down.Found || down.ServePID != rep.ServePID || len(down.Stopped) < 25 || len(down.Killed) != 0 || !down.Removed {
		t.Errorf("lab down: %+v (want serve and 24 services stopped by SIGTERM alone)", down)
	}
	checkGone(t, dir, rep, pids)

	out, _, code = omni(t, "lab", "down", "--dir", dir)
	if code != 0 || !strings.Contains(out, "No lab in "+dir) {
		t.Errorf("lab down without a lab: exit %d: %s", code, out)
	}
}

// TestLabManyHosts brings up 60 hosts without services: every one runs
// commands, reached as the lab inventory says (behind the bastion for the
// workers), through omni's own transport.
func TestLabManyHosts(t *testing.T) {
	t.Parallel()
	dir := newLab(t)
	mustOmni(t, "lab", "up", "--from", exampleInventory, "--dir", dir, "--hosts", "60", "--no-services")
	inv, err := inventory.Load(filepath.Join(dir, "inventory.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Hosts) != 60 || inv.Hosts[59].Name != "worker57" || inv.Hosts[59].Via != "primary-bastion" {
		t.Fatalf("60 hosts: got %d, the last %+v", len(inv.Hosts), inv.Hosts[len(inv.Hosts)-1])
	}
	pool := transport.NewPool(transport.Options{})
	defer pool.Close()
	hosts := &engine.SSHConnector{Pool: pool, Inventory: inv}
	var wg sync.WaitGroup
	errs := make(chan error, len(inv.Hosts))
	for _, h := range inv.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := hosts.Connect(ctx, h)
			if err != nil {
				errs <- err
				return
			}
			res, err := c.Run(ctx, `echo "$OMNI_LAB_HOST"`)
			if err != nil || string(res.Stdout) != h.Name+"\n" || res.ExitCode != 0 {
				errs <- fmt.Errorf("%s: %q exit %d, %v", h.Name, res.Stdout, res.ExitCode, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	pool.Close()

	rep := status(t, dir)
	if rep.State != lab.StateRunning || len(rep.Hosts) != 60 || rep.ServicesRunning != 0 || rep.ServicesTotal != 240 {
		t.Errorf("status: state %s, %d hosts, %d of %d services", rep.State, len(rep.Hosts), rep.ServicesRunning, rep.ServicesTotal)
	}
	mustOmni(t, "lab", "down", "--dir", dir)
	checkGone(t, dir, rep, nil)
}

// TestLabServiceFailure: a service that fails its health check is
// reported, those that require it are not started, the rest run, and the
// lab stays up (exit 3, partial).
func TestLabServiceFailure(t *testing.T) {
	t.Parallel()
	src := filepath.Join(t.TempDir(), "fleet.yaml")
	err := os.WriteFile(src, []byte(`version: 1
hosts:
  app1: {address: 10.1.0.1, roles: [app]}
roles:
  app: [good, bad, dependent]
services:
  good:
    health: {http: {port: 19001, path: /ready, expect: 204}}
  bad: # the lab's service answers the HTTP port only: the port check fails
    health: {port: 19002, http: {port: 19003}, retries: 1, interval: 100ms, timeout: 500ms}
  dependent:
    requires: [bad]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	dir := newLab(t)
	out, errOut, code := omni(t, "lab", "up", "--from", src, "--dir", dir)
	if code != 3 {
		t.Errorf("lab up with a failing service: exit %d, want 3\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"ok good on app1", "FAILED bad on app1: health: port 19002", "FAILED dependent on app1: not started: it requires bad@app1", "2 of 3 services did not start"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	rep := status(t, dir)
	if rep.State != lab.StateRunning || rep.ServicesRunning != 2 || rep.ServicesTotal != 3 {
		t.Errorf("status: %+v", rep)
	}
	mustOmni(t, "lab", "down", "--dir", dir)
	checkGone(t, dir, rep, nil)
}

func TestLabUsageErrors(t *testing.T) {
	t.Parallel()
	dir := newLab(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"lab", "up", "--from", exampleInventory, "--hosts", "3"}, 2, "--hosts 3 is fewer than the 6 hosts"},
		{[]string{"lab", "up", "--from", "no-such.yaml"}, 2, "inventory no-such.yaml not found"},
		{[]string{"lab", "up", "--from", exampleInventory, "--port", "7400"}, 2, "listens on port 7400"},
		{[]string{"lab", "up", "--from", exampleInventory, "--parallel", "0"}, 2, "--parallel"},
	} {
		_, errOut, code := omni(t, append(c.args, "--dir", dir)...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("omni %s: exit %d, want %d with %q:\n%s", strings.Join(c.args, " "), code, c.code, c.want, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "lab.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused lab up left lab.json: %v", err)
	}
	out := mustOmni(t, "lab", "status", "--dir", dir)
	if !strings.Contains(out, "No lab in "+dir) {
		t.Errorf("status without a lab: %s", out)
	}
	out = mustOmni(t, "lab", "down", "--dir", dir)
	if !strings.Contains(out, "No lab in "+dir) {
		t.Errorf("down without a lab: %s", out)
	}
}

// TestLabStale: a lab whose serve process died is reported stale, and the
// next lab up stops what is left of it first.
func TestLabStale(t *testing.T) {
	t.Parallel()
	dir := newLab(t)
	mustOmni(t, "lab", "up", "--from", exampleInventory, "--dir", dir, "--no-services")
	inv := filepath.Join(dir, "inventory.yaml")
	mustOmni(t, "-i", inv, "service", "start", "primary-bastion", "network-agent")
	old := status(t, dir)
	var svc int
	for _, s := range old.Hosts[0].Services {
		if s.Name == "network-agent" {
			svc = s.PID
		}
	}
	if old.State != lab.StateRunning || svc == 0 || old.ServicesRunning != 1 {
		t.Fatalf("status: %+v", old)
	}
	syscall.Kill(old.ServePID, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for alive(old.ServePID) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if rep := status(t, dir); rep.State != lab.StateStale || rep.ServePID != 0 {
		t.Errorf("after the serve process died: state %s, serve pid %d", rep.State, rep.ServePID)
	}
	text := mustOmni(t, "lab", "status", "--dir", dir)
	if !strings.Contains(text, "is not running") || !strings.Contains(text, "lab down --dir "+dir) {
		t.Errorf("stale status:\n%s", text)
	}

	_, errOut, code := omni(t, "lab", "up", "--from", exampleInventory, "--dir", dir, "--no-services")
	if code != 0 || !strings.Contains(errOut, "Stopping 1 process left by an earlier lab in "+dir) {
		t.Errorf("lab up over a stale lab: exit %d\n%s", code, errOut)
	}
	if alive(svc) {
		t.Errorf("the old lab's network-agent (pid %d) still runs", svc)
	}
	rep := status(t, dir)
	if rep.State != lab.StateRunning || rep.ServePID == old.ServePID || rep.ServicesRunning != 0 {
		t.Errorf("new lab: %+v", rep)
	}
	mustOmni(t, "lab", "down", "--dir", dir)
	checkGone(t, dir, rep, []int{svc, old.ServePID})
}

// checkStartEvents checks that the lab's registry holds want finished
// start events, one per service, each ok.
func checkStartEvents(t *testing.T, dir string, want int) {
	t.Helper()
	reg, err := registry.Open(context.Background(), filepath.Join(dir, "registry.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	events, err := reg.Events(registry.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range events {
		key := e.Service + "@" + e.Host
		if seen[key] || !e.Complete || e.Result != "ok" || e.Command != "start --no-deps "+e.Host+" "+e.Service || len(e.Steps) == 0 {
			t.Errorf("start event of %s: %+v", key, e)
		}
		seen[key] = true
	}
	if len(events) != want {
		t.Errorf("%d events in the lab's registry after lab up, want %d (one per service)", len(events), want)
	}
}

// gatewayAddr is the HOST:PORT of the lab's api-gateway on primary-bastion.
func gatewayAddr(t *testing.T, rep lab.StatusReport) string {
	t.Helper()
	for _, h := range rep.Hosts {
		for _, s := range h.Services {
			if h.Name == "primary-bastion" && s.Name == "api-gateway" {
				return net.JoinHostPort(h.Address, strconv.Itoa(s.Port))
			}
		}
	}
	t.Fatal("no api-gateway on primary-bastion in the lab")
	return ""
}

// slowRequest sends GET /slow to addr and returns once the service counts
// it in flight; the channel gets nil when it ends with 200, else why not.
func slowRequest(t *testing.T, addr string, d time.Duration) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/slow?ms=%d", addr, d.Milliseconds()))
		if err != nil {
			done <- err
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("status %s", resp.Status)
			return
		}
		done <- nil
	}()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/inflight")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(b)) == "1" {
				return done
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the slow request to %s never showed in flight", addr)
	return nil
}

// watchFor503 asks addr's health path every 20 ms until the returned
// function is called, which says whether one answer was 503.
func watchFor503(addr string) func() bool {
	stop := make(chan struct{})
	seen := make(chan bool, 1)
	go func() {
		client := &http.Client{Timeout: time.Second}
		saw := false
		for {
			select {
			case <-stop:
				seen <- saw
				return
			case <-time.After(20 * time.Millisecond):
			}
			if resp, err := client.Get("http://" + addr + "/healthz"); err == nil {
				saw = saw || resp.StatusCode == http.StatusServiceUnavailable
				resp.Body.Close()
			}
		}
	}()
	return func() bool { close(stop); return <-seen }
}
