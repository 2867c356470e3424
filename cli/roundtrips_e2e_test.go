package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// restartRoundTrips is what one restart of a healthy service with a
// process, a port and an HTTP check waits for on its host after
// authentication (transport.RoundTrips says what counts):
//
//	a session: its open went out with the login, and its           0
//	  confirmation came back with the login's success
//	one script, its exec request (the reply and the output come    1
//	  back together): stop (waits until gone), start, the state
//	  right after it (the health check's first process attempt)
//	health, first attempt: port and HTTP share one channel open    1
//	                       HTTP GET and its response               1
//	record: nothing (the state the process check read)             0
//	                                                               3
//
// It was 8 before issue 16 (shell session 1 and its start 1, stop 1,
// start 1, process 1, port 1, HTTP 2). The script is the last command the
// restart runs on the host, so it runs in a session of its own rather
// than in the long-lived shell (engine.lastCommand): the same round
// trips, two processes fewer on the host, and no shell to end. The
// session's open rides with the login (transport's dial.go, EarlySession):
// 4 before that.
const restartRoundTrips = 3

// TestRestartRoundTrips pins the round trips of one restart over a real
// sshd: -v says them on stderr and -o json reports them, the same count
// each time, since nothing in it depends on timing. The service's start
// returns only once it listens, so its first health attempt passes (a
// retry would be one more attempt, and more round trips).
func TestRestartRoundTrips(t *testing.T) {
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.93", WorkerAddr: "127.0.1.94", Extra: []testfleet.Service{
		{Name: "web", Role: "bastion"},
	}})
	inv, err := os.ReadFile(f.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	plain := f.ServiceYAML("web", "")
	if !strings.Contains(string(inv), plain) {
		t.Fatalf("the inventory has no web service body:\n%s", inv)
	}
	inv = []byte(strings.Replace(string(inv), plain, readyOnStart(f, "web"), 1))
	if err := os.WriteFile(f.Inventory, inv, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, f, "service", "start", "primary-bastion", "web")

	want := fmt.Sprintf("primary-bastion: %d round trips after authentication\n", restartRoundTrips)
	_, errOut, code := omni(t, f, "service", "restart", "-v", "primary-bastion", "web")
	if code != 0 || !strings.HasSuffix(errOut, want) {
		t.Fatalf("restart -v: exit %d, stderr does not end with %q:\n%s", code, want, errOut)
	}

	out := mustRun(t, f, "-o", "json", "service", "restart", "primary-bastion", "web")
	var doc struct {
		RoundTrips map[string]int `json:"round_trips"`
		Health     struct {
			Checks []struct {
				Check    string
				Attempts int
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(doc.RoundTrips) != 1 || doc.RoundTrips["primary-bastion"] != restartRoundTrips {
		t.Errorf("round_trips = %v, want {primary-bastion: %d}\n%s", doc.RoundTrips, restartRoundTrips, out)
	}
	if len(doc.Health.Checks) != 3 {
		t.Errorf("health checks %+v, want process, port and http", doc.Health.Checks)
	}
	for _, c := range doc.Health.Checks {
		if c.Attempts != 1 {
			t.Errorf("check %s took %d attempts, want 1: the count assumes the first passes", c.Check, c.Attempts)
		}
	}

	// A fleet run (the role bastion: one host) says the same per host.
	_, errOut, code = omni(t, f, "service", "restart", "-v", "bastion", "web")
	if code != 0 || !strings.HasSuffix(errOut, want) {
		t.Errorf("fleet restart -v: exit %d, stderr does not end with %q:\n%s", code, want, errOut)
	}
	out = mustRun(t, f, "-o", "json", "service", "restart", "bastion", "web")
	var fleetDoc struct {
		Hosts []struct {
			RoundTrips map[string]int `json:"round_trips"`
		}
	}
	if err := json.Unmarshal([]byte(out), &fleetDoc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(fleetDoc.Hosts) != 1 || fleetDoc.Hosts[0].RoundTrips["primary-bastion"] != restartRoundTrips {
		t.Errorf("fleet document: hosts %+v, want one with round_trips {primary-bastion: %d}", fleetDoc.Hosts, restartRoundTrips)
	}
}

// readyOnStart is the service body of a demo service whose start command
// returns once the service listens (bounded: 10 s).
func readyOnStart(f *testfleet.Fleet, name string) string {
	body := f.ServiceYAML(name, "--ready-after 0s")
	log := filepath.Join(f.RunDir, `"$OMNI_HOST.$OMNI_SERVICE"`) + ".log"
	wait := fmt.Sprintf(`: > %s; `, log)
	until := fmt.Sprintf(` i=0; until grep -q "ready, listening" %s; do i=$((i+1)); [ $i -gt 1000 ] && exit 1; sleep 0.01; done`, log)
	re := regexp.MustCompile(`(?m)^      start: '(.*)'$`)
	return re.ReplaceAllStringFunc(body, func(line string) string {
		cmd := re.FindStringSubmatch(line)[1]
		return "      start: '" + wait + cmd + until + "'"
	})
}
