package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// The reason of a failed start with the command manager, over real sshd:
// the service's last words, read with its logs command, are in the text,
// the JSON and the history of the failed start and restart, and in the
// fleet table.
func TestCommandFailedStartSaysWhy(t *testing.T) {
	logs := t.TempDir()
	log := filepath.Join(logs, `"$OMNI_HOST.$OMNI_SERVICE.log"`)
	const bindErr = "error: listen tcp 127.0.1.171:7777: bind: address already in use"
	const keyErr = `fatal: /etc/legacy.conf line 7: unknown key "colour"`
	// dies: its start command launches it and returns 0; it writes its
	// error to its log and exits at once. badconf: the start command itself
	// fails after logging why.
	dies := `    commands:
      start: 'sh -c "echo starting >> ` + log + `; echo ` + bindErr + ` >> ` + log + `; exit 1" >/dev/null 2>&1 </dev/null &'
      status: 'exit 3'
      logs: 'tail -n "$OMNI_LINES" ` + log + `'
    health: {process: true, retries: 3, interval: 100ms}`
	badconf := `    commands:
      start: 'echo ''` + keyErr + `'' >> ` + log + `; echo "start failed" >&2; exit 1'
      status: 'exit 3'
      logs: 'tail -n "$OMNI_LINES" ` + log + `'`
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.171", WorkerAddr: "127.0.1.172",
		MoreWorkers: []string{"127.0.1.173"},
		Extra:       []testfleet.Service{{Name: "dies", Role: "worker", Raw: dies}, {Name: "badconf", Role: "worker", Raw: badconf}}})

	for _, c := range []struct{ action, service, step, reason string }{
		{"start", "dies", "health", bindErr},
		{"restart", "dies", "health", bindErr},
		{"start", "badconf", "start", keyErr},
		{"restart", "badconf", "start", keyErr},
	} {
		out, errOut, code := omni(t, f, "service", c.action, "worker1", c.service)
		if code != 1 || !strings.Contains(errOut, "Failed to "+c.action+" "+c.service+" on worker1: "+c.step+": ") ||
			!strings.Contains(errOut, "\n  Log (the logs command, last ") || !strings.Contains(errOut, "\n    "+c.reason+"\n") {
			t.Errorf("%s %s: exit %d, want 1 with the service's last words under the ✗ line\n%s%s", c.action, c.service, code, out, errOut)
		}
		out, errOut, code = omni(t, f, "-o", "json", "service", c.action, "worker1", c.service)
		doc := failedDoc(t, out, errOut, code)
		if doc.Reason != c.reason || doc.step.Step != c.step || doc.step.Reason != c.reason ||
			!containsLine(doc.step.LogTail, c.reason) || doc.step.LogSource != "the logs command" {
			t.Errorf("%s %s -o json: reason %q, failed step %+v, want %q\n%s", c.action, c.service, doc.Reason, doc.step, c.reason, out)
		}
	}

	// The history: each failed run with its reason and tail.
	out, errOut, code := omni(t, f, "-o", "json", "service", "history", "worker1")
	var hist struct {
		Events []struct {
			Command, Service, Reason string
			Steps                    []reasonStep
		}
	}
	if err := json.Unmarshal([]byte(out), &hist); err != nil || code != 0 {
		t.Fatalf("history -o json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	failed := 0
	for _, e := range hist.Events {
		want := map[string]string{"dies": bindErr, "badconf": keyErr}[e.Service]
		for _, st := range e.Steps {
			if st.Result == "failed" {
				failed++
				if e.Reason != want || st.Reason != want || !containsLine(st.LogTail, want) {
					t.Errorf("history of %s %s: reason %q, step %+v, want %q", e.Command, e.Service, e.Reason, st, want)
				}
			}
		}
	}
	if failed != 8 {
		t.Errorf("history has %d failed steps, want 8 (4 runs × text and JSON):\n%s", failed, out)
	}
	out, _, _ = omni(t, f, "service", "history", "worker1", "badconf")
	if !strings.Contains(out, "start: "+keyErr) {
		t.Errorf("history table, want the reason:\n%s", out)
	}

	// A fleet run: the table's error is the step and the service's last
	// words; the JSON has each host's reason.
	os.WriteFile(filepath.Join(logs, "worker2.dies.log"), []byte("an older line\n"), 0o644)
	out, errOut, code = omni(t, f, "service", "start", "worker", "dies")
	if code == 0 || regexp.MustCompile(`(?m)^worker[12] .*  health: `+regexp.QuoteMeta(bindErr)+`$`).FindAllString(out, -1) == nil ||
		strings.Count(out, "health: "+bindErr) != 2 || !strings.Contains(errOut, "    log: "+bindErr) {
		t.Errorf("fleet start: exit %d, want both rows with the service's last words\n%s%s", code, out, errOut)
	}
	out, errOut, code = omni(t, f, "-o", "json", "service", "start", "worker", "dies")
	var fdoc struct {
		Hosts []struct{ Host, Result, Reason string }
	}
	if err := json.Unmarshal([]byte(out), &fdoc); err != nil || code == 0 || len(fdoc.Hosts) != 2 {
		t.Fatalf("fleet start -o json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	for _, h := range fdoc.Hosts {
		if h.Result != "failed" || h.Reason != bindErr {
			t.Errorf("fleet start -o json, host %s: %s, reason %q, want %q", h.Host, h.Result, h.Reason, bindErr)
		}
	}
}
