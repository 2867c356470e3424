package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// Round trips of the config commands on one host running two services
// with declared configuration (an env file and a file each), after
// authentication (transport.RoundTrips says what counts):
//
// The first session of a connection is opened with the login (its open
// sent behind the signed request, its confirmation back with the login's
// success: transport's dial.go, EarlySession), so it waits for nothing.
//
// config apply, nothing to write:
//
//	the shell's session (opened with the login)                  0
//	one command reads every file of both services (hashes)       1
//	                                                             1
const applyUnchangedTrips = 1

// config apply, one service's env changed (its restart then runs on
// connections of its own, counted apart as `service restart`'s):
//
//	the shell's session (opened with the login)                  0
//	one command reads every file of both services                1
//	the write: a session of its own (the content goes on its     2
//	  stdin) opened, and its command started
//	the status of the service that owes a restart (running?)     1
//	                                                             4
const applyChangedTrips = 4

// config diff:
//
//	the shell's session (opened with the login)                  0
//	one command reads every file with its content                1
//	the services' states: a command-manager service's status     2
//	  command each (systemd units: one systemctl show for all,
//	  and one more for their NeedDaemonReload)
//	                                                             3
const diffTrips = 3

// TestConfigRoundTrips pins the round trips of config apply (unchanged
// and changed) and config diff on one host with two services: -v says
// them on stderr, -o json reports them per host.
func TestConfigRoundTrips(t *testing.T) {
	dir := t.TempDir()
	keys := func(name string) string {
		src := filepath.Join(dir, "src", name+".conf")
		if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, src, "name "+name+"\n")
		return "env: {GREETING: hello}\n    env_file: " + filepath.Join(dir, "env", name+".env") + "\n" +
			"    files: [{path: " + filepath.Join(dir, "etc", name+".conf") + ", source: " + src + "}]"
	}
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.181.3", WorkerAddr: "127.0.181.4",
		Extra: []testfleet.Service{{Name: "alpha", Role: "worker", Keys: keys("alpha")}, {Name: "beta", Role: "worker", Keys: keys("beta")}}})
	mustRun(t, f, "service", "start", "worker1", "alpha")
	mustRun(t, f, "service", "start", "worker1", "beta")

	line := func(n int) string {
		return fmt.Sprintf("worker1: %s after authentication\n", plural.N(n, "round trip", "round trips"))
	}
	_, errOut, code := omni(t, f, "config", "apply", "-v", "worker1")
	if code != 0 || !strings.HasSuffix(errOut, line(applyUnchangedTrips)) {
		t.Fatalf("unchanged apply -v: exit %d, stderr does not end with %q:\n%s", code, line(applyUnchangedTrips), errOut)
	}
	out := mustRun(t, f, "-o", "json", "config", "apply", "worker1")
	var doc struct {
		Hosts []struct {
			Host       string
			RoundTrips *int `json:"round_trips"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Hosts) != 1 || doc.Hosts[0].RoundTrips == nil || *doc.Hosts[0].RoundTrips != applyUnchangedTrips {
		t.Fatalf("unchanged apply -o json: %v, want round_trips %d\n%s", err, applyUnchangedTrips, out)
	}

	_, errOut, code = omni(t, f, "config", "diff", "-v", "worker1")
	if code != 0 || !strings.HasSuffix(errOut, line(diffTrips)) {
		t.Fatalf("diff -v: exit %d, stderr does not end with %q:\n%s", code, line(diffTrips), errOut)
	}
	out, _, _ = omni(t, f, "-o", "json", "config", "diff", "worker1")
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Hosts) != 1 || doc.Hosts[0].RoundTrips == nil || *doc.Hosts[0].RoundTrips != diffTrips {
		t.Fatalf("diff -o json: %v, want round_trips %d\n%s", err, diffTrips, out)
	}

	b, err := os.ReadFile(f.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.Inventory, []byte(strings.Replace(string(b), "GREETING: hello", "GREETING: bonjour", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = omni(t, f, "config", "apply", "-v", "worker1")
	if code != 0 || !strings.Contains(errOut, line(applyChangedTrips)) || !strings.Contains(errOut, "(restart of alpha)") {
		t.Fatalf("changed apply -v: exit %d, stderr lacks %q and the restart's own count:\n%s%s", code, line(applyChangedTrips), out, errOut)
	}
}
