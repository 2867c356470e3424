package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/demosvctest"
	"github.com/omni-fleet/omni/internal/testkit/netnstest"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// reachFleet is three real sshd hosts: db1 and far each in a network
// namespace of its own, near in the test's. omni (the test) reaches all
// three; near reaches db1's address through db1's veth; far has no route
// to it. db1 runs pg; far and near run webopt (requires pg@db1, a plain
// string: an optional reach check) and webreq (reach: required).
type reachFleet struct {
	inv     string
	runDir  string
	pgAddr  string // db1's service address and pg's port, as far and near dial it
	dbNS    *netnstest.NS
	farNS   *netnstest.NS
	pidGlob string
}

func startReachFleet(t *testing.T) *reachFleet {
	t.Helper()
	dir := t.TempDir()
	f := &reachFleet{runDir: filepath.Join(dir, "run"), inv: filepath.Join(dir, "inventory.yaml")}
	if err := os.MkdirAll(f.runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	demo := demosvctest.Binary(t)
	f.dbNS, f.farNS = netnstest.New(t), netnstest.New(t)
	db := sshtest.Start(t, sshtest.Options{Addr: f.dbNS.Addr, Netns: f.dbNS.Name})
	far := sshtest.Start(t, sshtest.Options{Addr: f.farNS.Addr, Netns: f.farNS.Name})
	near := sshtest.Start(t, sshtest.Options{Addr: "127.0.1.213"})
	t.Cleanup(func() { killUnder(f.runDir) }) // before the namespaces go (cleanups run last first)
	known := filepath.Join(dir, "known_hosts")
	for _, s := range []*sshtest.Server{db, far, near} {
		s.WriteKnownHosts(known)
	}
	pgPort, optPort, reqPort := freeLoopbackPort(t), freeLoopbackPort(t), freeLoopbackPort(t)
	f.pgAddr = net.JoinHostPort(f.dbNS.Addr, strconv.Itoa(pgPort))
	svc := func(port int, health string) string {
		files := filepath.Join(f.runDir, `"$OMNI_HOST.$OMNI_SERVICE"`)
		start := fmt.Sprintf(`setsid nohup %s --name "$OMNI_SERVICE" --listen "$OMNI_ADDRESS:%d" --pidfile %s.pid --log %s.log >/dev/null 2>&1 </dev/null &`, demo, port, files, files)
		return fmt.Sprintf("    commands:\n      start: '%s'\n      status: 'cat %s.pid'\n    health: %s\n", start, files, health)
	}
	inv := fmt.Sprintf(`version: 1
defaults:
  user: %s
  identity_file: %s
  known_hosts: %s
  manager: command
  connect_timeout: 5s
  stop_grace: 5s
  start_timeout: 10s
registry:
  path: %s/state.json
hosts:
  db1: {address: %s, port: %d, roles: [db], service_address: %s}
  far: {address: %s, port: %d, roles: [app]}
  near: {address: %s, port: %d, roles: [app]}
roles:
  db: [pg]
  app: [webopt, webreq]
services:
  pg:
%s  webopt:
    requires: [pg@db1]
%s  webreq:
    requires:
      - {service: pg@db1, reach: required}
%s`, db.User, db.IdentityFile, known, dir,
		db.Addr, db.Port, db.Addr, far.Addr, far.Port, near.Addr, near.Port,
		svc(pgPort, fmt.Sprintf("{process: true, port: %d, timeout: 1s, retries: 20, interval: 100ms}", pgPort)),
		svc(optPort, "{process: true, timeout: 1s, retries: 2, interval: 100ms}"),
		svc(reqPort, "{process: true, timeout: 1s, retries: 2, interval: 100ms}"))
	if err := os.WriteFile(f.inv, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *reachFleet) omni(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, out, errOut := TestStreams("", false)
	code := Run(ctx, append([]string{"-i", f.inv}, args...), s)
	return out.String(), errOut.String(), code
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// killUnder kills, by PID, every process whose command line names dir:
// the services the test started (setsid: they are not sshd's children).
func killUnder(dir string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && strings.Contains(string(b), dir+"/") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// TestReachChecksFromTheDependentsHost: the reach check runs from the
// dependent's host, over real sshd in network namespaces. pg on db1 is
// running and healthy as omni sees it, and omni itself connects to its
// address; near reaches it, far (no route) does not. far's webopt (plain
// requires: optional) starts, degraded, named with both hosts and the
// port, shown by status and recorded; far's webreq (reach: required) fails
// its start; near's pass. --dry-run shows the checks.
func TestReachChecksFromTheDependentsHost(t *testing.T) {
	f := startReachFleet(t)
	if out, errOut, code := f.omni(t, "service", "start", "db1", "pg"); code != 0 {
		t.Fatalf("start pg on db1: exit %d\n%s%s", code, out, errOut)
	}
	c, err := net.DialTimeout("tcp", f.pgAddr, 2*time.Second)
	if err != nil {
		t.Fatalf("omni's own namespace does not reach pg at %s: %v", f.pgAddr, err)
	}
	c.Close()

	out, _, code := f.omni(t, "service", "start", "far", "webreq", "--dry-run")
	if want := "reach from far: pg@db1 at " + f.pgAddr + " (tcp, required)"; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("dry-run: exit %d, want %q in:\n%s", code, want, out)
	}

	why := "far cannot reach pg on db1 (" + f.pgAddr + `): could not connect (sshd: "open failed": no route to the address, or the network is unreachable, from this host)`
	out, errOut, code := f.omni(t, "service", "start", "far", "webopt", "-v")
	if code != 0 || !strings.Contains(out, "Health Check:     Degraded ("+why) {
		t.Fatalf("start webopt on far: exit %d, want it started and degraded (%s):\n%s%s", code, why, out, errOut)
	}
	if !strings.Contains(errOut, "passed; degraded: "+why) {
		t.Errorf("start -v: want the health step's result %q on stderr:\n%s", "passed; degraded: "+why, errOut)
	}
	out, errOut, code = f.omni(t, "service", "start", "far", "webreq")
	if code != ExitFailed || !strings.Contains(out+errOut, "reach pg@db1: "+why) {
		t.Fatalf("start webreq on far: exit %d, want %d naming %q:\n%s%s", code, ExitFailed, why, out, errOut)
	}
	for _, svc := range []string{"webopt", "webreq"} {
		out, errOut, code = f.omni(t, "service", "start", "near", svc)
		if code != 0 || !strings.Contains(out, "Health Check:     Passed") {
			t.Fatalf("start %s on near: exit %d, want passed:\n%s%s", svc, code, out, errOut)
		}
	}

	out, errOut, code = f.omni(t, "-o", "json", "service", "status")
	var doc struct {
		Services []statusRow `json:"services"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status json: %v\n%s%s", err, out, errOut)
	}
	want := map[string]string{
		"pg@db1":      "passed",
		"webopt@far":  "degraded: " + why,
		"webreq@far":  "failed: reach pg@db1: " + why,
		"webopt@near": "passed",
		"webreq@near": "passed",
	}
	wantRecorded := map[string]string{"webopt@far": "degraded: " + why, "webreq@far": "failed: reach pg@db1: " + why}
	for _, r := range doc.Services {
		key := r.Service + "@" + r.Host
		if r.Health != want[key] {
			t.Errorf("status %s: health %q, want %q", key, r.Health, want[key])
		}
		if w, ok := wantRecorded[key]; ok && !strings.HasPrefix(r.RecordedHealth, w) { // a start's check retried: "(after N attempts)"
			t.Errorf("registry %s: health %q, want %q", key, r.RecordedHealth, w)
		}
	}
	if code != ExitFailed { // webreq on far is unhealthy; a degraded service alone would not fail it
		t.Errorf("status: exit %d, want %d", code, ExitFailed)
	}
	_, errOut, _ = f.omni(t, "service", "status", "far")
	if w := "omni: 1 service is degraded: webopt@far (" + why + ")"; !strings.Contains(errOut, w) {
		t.Errorf("status table: want %q on stderr:\n%s", w, errOut)
	}
	if out, errOut, code := f.omni(t, "service", "status", "near"); code != 0 {
		t.Errorf("status near: exit %d, want 0:\n%s%s", code, out, errOut)
	}
}
