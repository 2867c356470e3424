package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/sshtest"
	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// healthHost starts a real sshd on addr and writes an inventory with one
// host, web1, whose service_address is addr (serviceAddr when not ""), in
// role web with the services of roles, and the services' YAML (indented 2)
// services. It returns the inventory's path.
func healthHost(t *testing.T, addr, serviceAddr, roles, services string) string {
	t.Helper()
	srv := sshtest.Start(t, sshtest.Options{Addr: addr})
	if serviceAddr == "" {
		serviceAddr = addr
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yaml")
	y := fmt.Sprintf(`version: 1
defaults:
  user: %s
  identity_file: %s
  known_hosts: %s
  manager: command
  connect_timeout: 5s
  stop_grace: 2s
  start_timeout: 5s
  command_timeout: 10s
registry:
  path: %s/state.db
hosts:
  web1:
    address: %s
    port: %d
    roles: [web]
    service_address: "%s"
roles:
  web: [%s]
services:
%s`, srv.User, srv.IdentityFile, srv.KnownHostsFile, dir, srv.Addr, srv.Port, serviceAddr, roles, services)
	if err := os.WriteFile(inv, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return inv
}

// closedPort returns a port on addr that nothing listens on.
func closedPort(t *testing.T, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// serveHTTP serves h on addr (a free port) for the test's duration and
// returns the port.
func serveHTTP(t *testing.T, addr string, h http.Handler) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// TestHealthIntervalZeroIsBounded (found by review): `interval: 0s` is accepted by the
// inventory (docs/inventory.md: a check keeps trying for up to retries ×
// interval, "0 is one attempt"; docs/reliability.md bounds a check by
// start_period + attempts × timeout + retries × interval). An operator who
// writes `interval: 0s` expects a check whose budget is 0: one attempt
// (or a few back to back), then a verdict. `omni service status` makes one
// attempt of each check, so it should say "failed: port N: nothing
// listens" and exit 1 at once.
//
// omni's retry loop never ends: with interval 0 the pause is 0, the
// budget check `waited+pause > budget` is 0 > 0, false, so it retries a
// failing check back to back forever. `service status` of a running
// service whose port is closed hangs (until killed), and so does the
// health step of a start.
func TestHealthIntervalZeroIsBounded(t *testing.T) {
	t.Parallel()
	const addr = "127.0.240.11"
	port := closedPort(t, addr)
	pid := filepath.Join(t.TempDir(), "pid")
	inv := healthHost(t, addr, "", "zerointerval", fmt.Sprintf(`  zerointerval:
    commands:
      start: 'setsid sleep 300 >/dev/null 2>&1 </dev/null & echo $! > `+pid+`'
      status: 'p=$(cat `+pid+` 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"'
    health:
      port: %d
      timeout: 1s
      retries: 3
      interval: 0s
`, port))

	t.Cleanup(func() { omniInv(t, 15*time.Second, inv, "service", "stop", "web1", "zerointerval", "--yes") })
	omniInv(t, 15*time.Second, inv, "service", "start", "web1", "zerointerval") // its health fails: it runs all the same
	out, errOut, code, took := omniInv(t, 15*time.Second, inv, "service", "status", "web1", "zerointerval")
	if took > 10*time.Second || code != ExitFailed || !strings.Contains(out, "failed: port "+strconv.Itoa(port)) {
		t.Fatalf("status of a running service whose port is closed, health interval 0s: exit %d after %s; want exit 1 at once, "+
			"health \"failed: port %d: nothing listens ...\" (one attempt)\nstdout:\n%s\nstderr:\n%s", code, took.Round(time.Millisecond), port, out, errOut)
	}
	// (A start would find it running, its status command says so, and
	// have nothing to do: the restart runs the health step.)
	out, errOut, code, took = omniInv(t, 15*time.Second, inv, "service", "restart", "web1", "zerointerval")
	// 1 + retries attempts once the process check has passed (and the
	// ones made while waiting for it, side by side).
	m := regexp.MustCompile(`\(after (\d+) attempts\)`).FindStringSubmatch(errOut)
	if took > 10*time.Second || code != ExitFailed || m == nil || len(m[1]) > 1 || m[1] < "4" {
		t.Fatalf("restart, health interval 0s, retries 3, timeout 1s, port closed: exit %d after %s; want exit 1 (health: port, after 4 to 9 attempts) within "+
			"retries × interval + attempts × timeout\nstdout:\n%s\nstderr:\n%s", code, took.Round(time.Millisecond), out, errOut)
	}
}

// TestHealthHTTPInterimResponseIsNotTheAnswer (found by review): an HTTP server may send
// one or more 1xx interim responses before the final one (RFC 9110
// §15.2: "A client MUST be able to parse one or more 1xx responses
// received prior to a final response, even if the client does not expect
// one"); 103 Early Hints is sent by Go's net/http (WriteHeader(103)),
// nginx, h2o and CDNs in front of an app. An operator whose /healthz
// answers `103 Early Hints` then `200 OK` expects `health: passed`.
//
// omni's HTTP check reads only the first response (http.ReadResponse
// returns the 1xx itself) and compares its status: `status 103, want 200`.
// `omni service status` calls the healthy service unhealthy and exits 1.
func TestHealthHTTPInterimResponseIsNotTheAnswer(t *testing.T) {
	t.Parallel()
	const addr = "127.0.240.21"
	port := serveHTTP(t, addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</static/app.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("ok\n"))
	}))
	// Sanity: Go's own client sees the final answer, 200.
	resp, err := http.Get("http://" + net.JoinHostPort(addr, strconv.Itoa(port)) + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("server: %v %v", resp, err)
	}
	resp.Body.Close()

	inv := healthHost(t, addr, "", "hinted", fmt.Sprintf(`  hinted:
    commands: {start: 'true', status: 'true'}
    health:
      http: {port: %d, path: /healthz, expect: 200}
      timeout: 2s
      retries: 2
      interval: 100ms
`, port))
	out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "service", "status", "web1", "hinted")
	if code != ExitOK || strings.Contains(out, "failed") {
		t.Fatalf("status of a service whose /healthz answers 103 Early Hints, then 200: exit %d; want 0, health passed\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, errOut, code, _ = omniInv(t, 30*time.Second, inv, "service", "start", "web1", "hinted")
	if code != ExitOK {
		t.Fatalf("start (already running) of a service whose /healthz answers 103, then 200: exit %d; want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestHealthDependencyCheckSkipsTheDependencysStartPeriod (found by review): start_period is
// "wait before the first attempt" of a service's own checks: the grace a
// service gets after ITS start. A restart of api-gateway, whose required
// network-agent has been running all along, should look at network-agent
// as `service status` does (its state and one look at its checks, no
// start period: status shows it healthy at once), so the restart of
// api-gateway (start_period 0, checks passing in a fraction of a second)
// takes about as long as its own stop, start and checks.
//
// omni's ensure step and the health step's dependency check run the
// dependency's own checks with its full spec, start_period included, for
// a dependency this run did not start: with network-agent's start_period
// 6s, each of them sleeps 6 s, and the restart of api-gateway takes 12 s
// more than it should (a 5 min start_period on a database: 10 minutes per
// restart of every service that requires it).
func TestHealthDependencyCheckSkipsTheDependencysStartPeriod(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.241.1", WorkerAddr: "127.0.241.2"})
	mustRun(t, f, "service", "start", "primary-bastion", "api-gateway") // and network-agent, its dependency
	// network-agent is the first service of the inventory: its start_period.
	inv := f.Variant("start-period.yaml", "      interval: 100ms", "      interval: 100ms\n      start_period: 6s")

	// status sees both running and healthy at once.
	out, errOut, code, took := omniInv(t, 30*time.Second, inv, "service", "status", "primary-bastion")
	if code != ExitOK || took > 4*time.Second {
		t.Fatalf("status: exit %d after %s\n%s%s", code, took, out, errOut)
	}

	out, errOut, code, took = omniInv(t, 40*time.Second, inv, "-o", "json", "service", "restart", "primary-bastion", "api-gateway")
	if code != ExitOK {
		t.Fatalf("restart: exit %d\n%s%s", code, out, errOut)
	}
	var doc struct {
		Steps []struct {
			Step       string `json:"step"`
			Service    string `json:"service"`
			DurationMS int64  `json:"duration_ms"`
			Note       string `json:"note"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var slow []string
	for _, s := range doc.Steps {
		if s.DurationMS > 3000 {
			slow = append(slow, fmt.Sprintf("%s of %s: %d ms (%s)", s.Step, s.Service, s.DurationMS, s.Note))
		}
	}
	if len(slow) > 0 || took > 8*time.Second {
		t.Fatalf("restart of api-gateway (start_period 0) whose dependency network-agent (start_period 6s) ran and was healthy all along took %s; "+
			"steps that waited the dependency's start_period: %s\n%s", took.Round(time.Millisecond), strings.Join(slow, "; "), out)
	}
}

// TestHealthHTTPDoesNotReadAStreamedBody (found by review): a /healthz that answers
// `200 OK` at once and then streams its body (chunked, a line every
// 50 ms, as a status page with live metrics, or an endpoint behind a
// proxy that keeps it open, does). The check's answer is the status line
// (docs/inventory.md: http.expect, "the expected status code"); omni sent
// `Connection: close` and has no use for the body. An operator expects
// `omni service status` to say passed within a round trip or two.
//
// omni closes the response body with net/http's Body.Close, which, for a
// chunked response read by http.ReadResponse, reads the whole body to its
// end: the check sits reading the stream until its attempt's timeout
// (5 s here) closes the connection, and only then passes. Every status,
// every health step and every --min-ready poll of such a service takes
// the whole health timeout (and a service that streams fast pulls all of
// it through the SSH connection).
func TestHealthHTTPDoesNotReadAStreamedBody(t *testing.T) {
	t.Parallel()
	const addr = "127.0.240.51"
	port := serveHTTP(t, addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for {
			if _, err := w.Write([]byte("metrics: ok\n")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	inv := healthHost(t, addr, "", "streamer", fmt.Sprintf(`  streamer:
    commands: {start: 'true', status: 'true'}
    health:
      http: {port: %d, path: /healthz, expect: 200}
      timeout: 5s
      retries: 2
      interval: 100ms
`, port))
	out, errOut, code, took := omniInv(t, 30*time.Second, inv, "service", "status", "web1", "streamer")
	if code != ExitOK {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	if took > 2500*time.Millisecond {
		t.Fatalf("status of a service whose /healthz answers 200 at once, then streams its body, took %s: the HTTP check read the body "+
			"until its 5s timeout; want the verdict once the status line is in\n%s%s", took.Round(time.Millisecond), out, errOut)
	}
}
