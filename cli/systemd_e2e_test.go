package cli

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/demosvctest"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
	"github.com/omni-fleet/omni/internal/testkit/systemdtest"
)

// The systemd manager against real systemd: two hosts booted by
// systemdtest (systemd as PID 1 of namespaces of their own, on a
// throw-away root), each running the demo service as a unit. sd1 is
// reached as root; sd2 as the user deploy, with `sudo -n`.

const sdPort = 17601

// sdFleet is the two hosts and an inventory for them.
type sdFleet struct {
	hosts     map[string]*systemdtest.Host
	inventory string
}

func (f *sdFleet) omni(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	s, out, errOut := TestStreams("", false)
	code := Run(context.Background(), append([]string{"-i", f.inventory}, args...), s)
	return out.String(), errOut.String(), code
}

// units are the host's units: demo (healthy), broken (cannot start) and
// flaky (crashes 1.5 s after each start; systemd restarts it). systemd
// unloads an inactive unit that nothing refers to, and its timestamps
// with it; on a real host the units omni manages are enabled, so their
// target refers to them. Here refs (active, started at boot) refers to
// them with After=, which keeps them loaded without starting them.
func units(addr string) map[string]string {
	svc := "/usr/local/bin/omni-demo-svc"
	return map[string]string{
		"/etc/systemd/system/refs.service": "[Unit]\nAfter=demo.service broken.service flaky.service\n\n" +
			"[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
		"/etc/systemd/system/demo.service": "[Unit]\nDescription=omni demo\n\n[Service]\nExecStart=" + svc +
			" --name demo --listen " + addr + ":" + strconv.Itoa(sdPort) + "\n",
		"/etc/systemd/system/broken.service": "[Unit]\nDescription=cannot start\n\n[Service]\nType=exec\nExecStart=/usr/local/bin/no-such-program\n",
		"/etc/systemd/system/flaky.service": "[Unit]\nDescription=crash loop\nStartLimitIntervalSec=0\n\n[Service]\nExecStart=" + svc +
			" --name flaky --listen " + addr + ":" + strconv.Itoa(sdPort+1) + " --exit-after 1500ms\nRestart=on-failure\nRestartSec=300ms\n",
	}
}

func bootSystemdFleet(t *testing.T) *sdFleet {
	t.Helper()
	bin := demosvctest.Binary(t)
	f := &sdFleet{hosts: map[string]*systemdtest.Host{}}
	addrs := map[string]string{"sd1": "127.0.9.11", "sd2": "127.0.9.12"}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, addr := range addrs {
		wg.Go(func() {
			h := systemdtest.Boot(t, systemdtest.Options{
				Name: "omni-e2e-" + name, Addr: addr, Files: units(addr),
				Executables: map[string]string{"/usr/local/bin/omni-demo-svc": bin},
				Users:       []string{"deploy"}, Enable: []string{"refs.service"},
			})
			mu.Lock()
			f.hosts[name] = h
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	dir := t.TempDir()
	var known []byte
	for _, name := range []string{"sd1", "sd2"} {
		b, err := os.ReadFile(f.hosts[name].KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		known = append(known, b...)
	}
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), known, 0o644); err != nil {
		t.Fatal(err)
	}
	health := func(port int) string {
		p := strconv.Itoa(port)
		return "    health: {process: true, port: " + p + ", http: {port: " + p + ", path: /healthz}, retries: 20, interval: 250ms, timeout: 2s}\n"
	}
	inv := `version: 1
defaults:
  identity_file: ` + sshtest.ClientKey(t) + `
  known_hosts: known_hosts
  manager: systemd
  stop_grace: 5s
  start_timeout: 20s
registry:
  path: registry.db
hosts:
  sd1: {address: 127.0.9.11, port: 22, user: root, sudo: false, roles: [worker], service_address: 127.0.9.11}
  sd2: {address: 127.0.9.12, port: 22, user: deploy, sudo: true, roles: [worker], service_address: 127.0.9.12}
roles:
  worker: [demo, broken, flaky, missing]
services:
  demo:
    critical: true
` + health(sdPort) + `  missing:
    unit: omni-missing.service
  broken:
    health: {process: true}
  flaky:
` + health(sdPort+1)
	f.inventory = filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(f.inventory, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// show reads properties of a unit on a host with systemctl.
func show(t *testing.T, h *systemdtest.Host, unit string, props ...string) map[string]string {
	t.Helper()
	out := h.Run(t, "systemctl show -p "+strings.Join(props, ",")+" -- "+unit)
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// TestSystemdManager drives real systemd units over SSH: start, status
// from systemctl show, logs from the journal, restart, stop; a unit that
// cannot start; the same as a non-root user through sudo -n; a rolling
// restart of both hosts; a crash loop under Restart=on-failure.
func TestSystemdManager(t *testing.T) {
	f := bootSystemdFleet(t)
	sd1, sd2 := f.hosts["sd1"], f.hosts["sd2"]

	t.Run("start, status, logs, restart, stop as root", func(t *testing.T) {
		beforeStart := time.Now()
		out, errOut, code := f.omni(t, "service", "start", "sd1", "demo")
		if code != 0 || !strings.Contains(out, "Service started successfully!") ||
			!regexp.MustCompile(`Status:           Running\nUptime:           0m \ds\nHealth Check:     Passed\n`).MatchString(out) {
			t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
		}
		p := show(t, sd1, "demo.service", "ActiveState", "MainPID", "ActiveEnterTimestampMonotonic")
		if p["ActiveState"] != "active" || p["MainPID"] == "0" {
			t.Fatalf("after start: %v", p)
		}

		time.Sleep(2 * time.Second) // an uptime to read
		out, errOut, code = f.omni(t, "service", "status", "sd1", "demo", "-o", "json")
		if code != 0 {
			t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
		}
		mainPID, _ := strconv.Atoi(p["MainPID"])
		if !strings.Contains(out, `"running"`) || !strings.Contains(out, strconv.Itoa(mainPID)) {
			t.Fatalf("status does not show the unit running with its MainPID %d:\n%s", mainPID, out)
		}
		// Uptime comes from ActiveEnterTimestamp: a few seconds, not the
		// host's (or the process's) age.
		// At least the 2 s slept, at most the time since the start was
		// asked for (a loaded machine makes that longer: the bound is
		// measured, not guessed).
		out, _, _ = f.omni(t, "service", "status", "sd1", "demo")
		most := int(time.Since(beforeStart)/time.Second) + 1
		m := regexp.MustCompile(`(?m)^sd1 +demo +Running +` + p["MainPID"] + ` +(\d+)m (\d+)s +passed `).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("status, want running, pid %s, healthy:\n%s", p["MainPID"], out)
		} else {
			mins, _ := strconv.Atoi(m[1])
			secs, _ := strconv.Atoi(m[2])
			if up := mins*60 + secs; up < 2 || up > most {
				t.Errorf("status, want up 2 to %d s (since the start was asked for), got %d s:\n%s", most, up, out)
			}
		}

		out, errOut, code = f.omni(t, "service", "logs", "sd1", "demo", "-n", "20")
		if code != 0 || !strings.Contains(out, "demo") || !strings.Contains(out, "listening") {
			t.Errorf("logs (journalctl): exit %d\n%s%s", code, out, errOut)
		}

		out, errOut, code = f.omni(t, "service", "restart", "sd1", "demo")
		q := show(t, sd1, "demo.service", "ActiveState", "MainPID")
		if code != 0 || q["ActiveState"] != "active" || q["MainPID"] == p["MainPID"] {
			t.Fatalf("restart: exit %d, unit %v (was pid %s)\n%s%s", code, q, p["MainPID"], out, errOut)
		}

		out, errOut, code = f.omni(t, "service", "stop", "sd1", "demo", "--yes")
		r := show(t, sd1, "demo.service", "ActiveState", "InactiveEnterTimestamp")
		if code != 0 || r["ActiveState"] != "inactive" {
			t.Fatalf("stop: exit %d, unit %v\n%s%s", code, r, out, errOut)
		}
		// Last Active comes from InactiveEnterTimestamp ("Thu 2026-11-26
		// 13:28:53 UTC"), to the second.
		ts := strings.Fields(r["InactiveEnterTimestamp"])
		if len(ts) < 3 {
			t.Fatalf("InactiveEnterTimestamp: %v", r)
		}
		inactive := strings.Join(ts[1:3], " ")
		if !strings.Contains(out, "Status:           Stopped\nLast Active:      "+inactive+" UTC\n") {
			t.Errorf("stop's status block, want Last Active %s:\n%s", inactive, out)
		}
		out, _, _ = f.omni(t, "service", "status", "sd1", "demo")
		if !regexp.MustCompile(`(?m)^sd1 +demo +Stopped .* ` + regexp.QuoteMeta(inactive) + ` UTC$`).MatchString(out) {
			t.Errorf("status of the stopped unit, want Last Active %s:\n%s", inactive, out)
		}
	})

	t.Run("a unit that cannot start", func(t *testing.T) {
		out, errOut, code := f.omni(t, "service", "start", "sd1", "broken")
		if code != 1 || !strings.Contains(out+errOut, "broken.service") {
			t.Fatalf("start broken: exit %d, want 1 naming the unit\n%s%s", code, out, errOut)
		}
		if s := show(t, sd1, "broken.service", "ActiveState")["ActiveState"]; s != "failed" {
			t.Errorf("broken.service is %s", s)
		}
	})

	// A unit that is not installed (LoadState=not-found): the host
	// answered, so exit 1, never 4, naming the unit and the host, on
	// status, start, stop and restart alike.
	t.Run("a unit that is not installed", func(t *testing.T) {
		for _, args := range [][]string{
			{"service", "status", "sd1", "missing"}, {"service", "status", "worker", "missing"},
			{"service", "start", "sd1", "missing"}, {"service", "restart", "sd2", "missing"},
			{"service", "stop", "sd1", "missing", "--yes"},
		} {
			out, errOut, code := f.omni(t, args...)
			text := out + errOut
			host := args[2]
			if host == "worker" {
				host = "sd2: missing:" // and sd1's, before it
			}
			if code != ExitFailed || !strings.Contains(text, "omni-missing.service") || !strings.Contains(text, host) ||
				strings.Contains(strings.ToLower(text), "unreachable") {
				t.Errorf("omni %s: exit %d, want 1 naming omni-missing.service and the host, never unreachable\n%s", strings.Join(args, " "), code, text)
			}
		}
	})

	t.Run("sudo -n as a non-root user", func(t *testing.T) {
		// Nothing runs on sd2 yet: the states in one systemctl show of all
		// the host's units, through sudo -n (not one each), and the port
		// checks started beside it and discarded (nothing listens): fewer
		// round trips than services + 2.
		if n, services := hostStatus(t, f, sd2); n >= services+2 {
			t.Errorf("status sd2: %d round trips, want fewer than %d", n, services+2)
		}
		out, errOut, code := f.omni(t, "service", "start", "sd2", "demo")
		if code != 0 || show(t, sd2, "demo.service", "ActiveState")["ActiveState"] != "active" {
			t.Fatalf("start as deploy with sudo: exit %d\n%s%s", code, out, errOut)
		}
		hostStatus(t, f, sd2) // demo running, with its MainPID
	})

	t.Run("rolling restart of both hosts", func(t *testing.T) {
		if _, errOut, code := f.omni(t, "service", "start", "worker", "demo"); code != 0 {
			t.Fatalf("start both: %d\n%s", code, errOut)
		}
		before := map[string]string{}
		for name, h := range f.hosts {
			before[name] = show(t, h, "demo.service", "MainPID")["MainPID"]
		}
		out, errOut, code := f.omni(t, "service", "restart", "worker", "demo", "--min-ready", "1s")
		if code != 0 || !strings.Contains(errOut, "batch 1/2: sd1") || !strings.Contains(errOut, "batch 2/2: sd2") {
			t.Fatalf("rolling restart: exit %d\n%s%s", code, out, errOut)
		}
		for name, h := range f.hosts {
			p := show(t, h, "demo.service", "ActiveState", "MainPID")
			if p["ActiveState"] != "active" || p["MainPID"] == before[name] {
				t.Errorf("%s after the rolling restart: %v (was pid %s)", name, p, before[name])
			}
		}
	})

	t.Run("a crash loop under Restart=on-failure", func(t *testing.T) {
		out, errOut, code := f.omni(t, "service", "restart", "worker", "flaky", "--rolling", "--max-unavailable", "2", "--min-ready", "3s", "-o", "json")
		if code != 1 || !strings.Contains(out, "crash loop") {
			t.Fatalf("crash loop: exit %d, want 1 with the crash loop reported\n%s%s", code, out, errOut)
		}
		if !strings.Contains(out, `"untouched"`) {
			t.Errorf("sd2 should be untouched after sd1's crash loop:\n%s", out)
		}
		// omni reports the loop as soon as it sees the unit activating
		// again, which may be inside RestartSec (300 ms), before systemd
		// counts the restart: give systemd a few seconds to do it.
		n := 0
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			n, _ = strconv.Atoi(show(t, sd1, "flaky.service", "NRestarts")["NRestarts"])
			if n >= 1 || time.Now().After(deadline) {
				break
			}
		}
		if n < 1 {
			t.Errorf("systemd restarted flaky %d times in the 5 s after omni saw the crash loop", n)
		}
	})
}

// hostStatus runs `omni service status` of every service of h (demo,
// broken, flaky and missing) and checks that each has the state and PID
// systemctl shows, and missing its not-installed error. It returns the
// round trips the JSON reports for h and the number of services.
func hostStatus(t *testing.T, f *sdFleet, h *systemdtest.Host) (int, int) {
	t.Helper()
	name := map[*systemdtest.Host]string{f.hosts["sd1"]: "sd1", f.hosts["sd2"]: "sd2"}[h]
	out, errOut, code := f.omni(t, "service", "status", name, "-o", "json")
	var doc struct {
		Services []struct {
			Service, State, Error string
			PID                   int
		}
		RoundTrips map[string]int `json:"round_trips"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != ExitFailed || len(doc.Services) != 4 {
		t.Fatalf("status %s: exit %d, want 1 (missing), 4 services: %v\n%s%s", name, code, err, out, errOut)
	}
	for _, row := range doc.Services {
		if row.Service == "missing" {
			if row.State != "unknown" || !strings.Contains(row.Error, "omni-missing.service") {
				t.Errorf("status %s: missing, want unknown naming the unit: %+v", name, row)
			}
			continue
		}
		p := show(t, h, row.Service+".service", "ActiveState", "MainPID")
		want := map[string]string{"active": "running", "inactive": "stopped"}[p["ActiveState"]]
		if want == "" {
			want = p["ActiveState"]
		}
		if row.State != want || strconv.Itoa(row.PID) != p["MainPID"] || row.Error != "" {
			t.Errorf("status %s: %s is %+v, systemctl shows %v", name, row.Service, row, p)
		}
	}
	n, ok := doc.RoundTrips[name]
	if !ok {
		t.Errorf("status %s: no round_trips for the host:\n%s", name, out)
	}
	t.Logf("status %s: %d round trips for %d services", name, n, len(doc.Services))
	return n, len(doc.Services)
}

// bootUnitHost boots one systemd host at addr, named name, with the given
// units (unit file name -> its body), kept loaded by a refs unit (see
// units), and writes an inventory that manages them all over systemd on
// host sd1, as root, without health checks (see bootSystemdHost).
func bootUnitHost(t *testing.T, name, addr string, unitFiles map[string]string) (*systemdtest.Host, *sdFleet) {
	t.Helper()
	var services string
	for _, n := range slices.Sorted(maps.Keys(unitFiles)) {
		services += "  " + strings.TrimSuffix(n, ".service") + ": {}\n"
	}
	return bootSystemdHost(t, name, addr, unitFiles, nil,
		"  sd1: {address: "+addr+", port: 22, user: root, sudo: false, roles: [worker], service_address: "+addr+"}\n", services)
}
