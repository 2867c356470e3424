package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/registry"
)

// TestFleetLogsReadEveryHost: fleet logs go through engine.Run: every host
// is read whatever --max-failures says, each line prefixed with its host;
// a host whose sshd is down is named on stderr and makes the run partial
// (exit 3, the rule of every fleet run); and, like the logs of one host,
// they take no run lock and record no event: they run while another run
// holds the lock on the service, which still refuses a restart.
func TestFleetLogsReadEveryHost(t *testing.T) {
	t.Parallel()
	f := fourWorkers(t, 101)
	f.Workers[2].Stop() // worker4
	reg, err := registry.Open(context.Background(), filepath.Join(f.Dir, "state.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	var keys []string
	for _, w := range workers {
		keys = append(keys, registry.LockKey(w, "container-runtime"))
	}
	unlock, err := reg.Lock(context.Background(), keys, registry.Owner{Operator: "alice@ops", PID: os.Getpid(), Command: "restart worker container-runtime"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	before, err := reg.Events(registry.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}

	out, errOut, code := omni(t, f, "service", "logs", "worker", "container-runtime", "-n", "3")
	if code != ExitPartial {
		t.Fatalf("logs with worker4 down: exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, w := range []string{"worker1", "worker2", "worker3"} {
		if !regexp.MustCompile(`(?m)^` + w + ` \| `).MatchString(out) {
			t.Errorf("no lines of %s:\n%s", w, out)
		}
	}
	// Named once, as the logs of worker4 alone name it: "omni: worker4
	// (ADDRESS): unreachable: …".
	if !regexp.MustCompile(`(?m)^omni: worker4[ :]`).MatchString(errOut) || strings.Contains(errOut, "worker4: worker4") || strings.Contains(errOut, "locked") {
		t.Errorf("stderr does not name worker4 (or speaks of a lock):\n%s", errOut)
	}
	after, err := reg.Events(registry.EventQuery{})
	if err != nil || len(after) != len(before) {
		t.Errorf("logs recorded events: %d before, %d after (%v)", len(before), len(after), err)
	}
	// The lock was held all along.
	_, errOut, code = omni(t, f, "service", "restart", "worker1", "container-runtime")
	if code != ExitRefused || !strings.Contains(errOut, "alice@ops") {
		t.Fatalf("restart while the lock is held: exit %d, want 5\n%s", code, errOut)
	}
}

// TestLogsReadWithoutARegistry: logs need no lock and record nothing, and
// they are what an operator reads in an incident: they do not open the
// registry at all. With a file there that is not a registry (damaged),
// the logs of one host and of a role are read, exit 0, with no word of
// the registry; the file is left as it was. (Before, the logs of one
// host ended with the registry's exit code and printed no log.)
func TestLogsReadWithoutARegistry(t *testing.T) {
	t.Parallel()
	f := fourWorkers(t, 106)
	path := filepath.Join(f.Dir, "state.json")
	junk := []byte(strings.Repeat("not a registry\n", 400))
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"worker2", "worker"} {
		out, errOut, code := omni(t, f, "service", "logs", target, "container-runtime", "-n", "3")
		if code != 0 {
			t.Fatalf("logs %s with a damaged registry: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", target, code, out, errOut)
		}
		if !strings.Contains(out, "container-runtime") {
			t.Errorf("logs %s printed no log line:\n%s", target, out)
		}
		if strings.Contains(errOut, "state.json") || strings.Contains(errOut, "registry") {
			t.Errorf("logs %s: stderr speaks of the registry, which logs do not need:\n%s", target, errOut)
		}
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, junk) {
		t.Errorf("the registry file changed (%v)", err)
	}
}
