package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSystemdFailedExecStopIsWarned (found by review): a unit whose ExecStop= fails
// (a `nginx -s quit` on a broken configuration, a `pg_ctl stop` that
// cannot reach its socket: here it prints "cannot stop: control socket
// gone" and exits 1). systemd then kills the main process with SIGTERM
// itself, and the unit ends "failed" (Result=exit-code). omni prints
// "Service stopped successfully!", no warning on stderr, and the stop
// step of -o json is ok without a warning; a restart likewise.
//
// docs/exit-codes.md (exit 0: "… or its stop command failed (a warning is
// printed: the service is stopped all the same)") and docs/json.md (a
// step's warning: "a stop … whose stop command failed or hung, with that
// command's error") promise the warning: a stop command that fails is the
// operator's first sign of a broken configuration
// (manager.StoppedAnyway). The systemd manager's stoppedAnyway warns only
// for Result=timeout; it never looks at the unit's ExecStop result.
func TestSystemdFailedExecStopIsWarned(t *testing.T) {
	const a = "127.0.84.21"
	h, f := bootSystemdHost(t, "omni-rv-execstop-sd", a, map[string]string{
		"badstop.service": "[Unit]\nDescription=stop command fails\n\n[Service]\nExecStart=/bin/sleep 1000\n" +
			"ExecStop=/bin/sh -c 'echo cannot stop: control socket gone >&2; exit 1'\n",
	}, nil,
		"  sd1: {address: "+a+", port: 22, user: root, sudo: false, roles: [worker], service_address: "+a+"}\n",
		"  badstop: {}\n")

	stopWarning := func(t *testing.T, out string) (string, bool) {
		t.Helper()
		var doc struct {
			Steps []struct{ Step, Result, Warning string }
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("-o json: %v\n%s", err, out)
		}
		for _, st := range doc.Steps {
			if st.Step == "stop" {
				return st.Warning, true
			}
		}
		return "", false
	}

	t.Run("stop", func(t *testing.T) {
		if out, errOut, code := f.omni(t, "service", "start", "sd1", "badstop"); code != 0 {
			t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
		}
		out, errOut, code := f.omni(t, "service", "stop", "sd1", "badstop", "--yes")
		p := show(t, h, "badstop.service", "ActiveState", "Result", "ExecStop")
		if !strings.Contains(p["ExecStop"], "code=exited ; status=1 ") {
			t.Fatalf("the unit's ExecStop did not fail: %v", p)
		}
		if code != 0 {
			t.Fatalf("stop: exit %d, want 0 (stopped all the same)\n%s%s", code, out, errOut)
		}
		if !strings.Contains(errOut, "warning:") {
			t.Errorf("the unit's ExecStop failed (unit %v): omni reports a plain stop, no warning\n--- stdout\n%s--- stderr\n%s", p, out, errOut)
		}
	})

	t.Run("stop -o json", func(t *testing.T) {
		if out, errOut, code := f.omni(t, "service", "start", "sd1", "badstop"); code != 0 {
			t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
		}
		out, errOut, code := f.omni(t, "service", "stop", "sd1", "badstop", "--yes", "-o", "json")
		if code != 0 {
			t.Fatalf("stop: exit %d\n%s%s", code, out, errOut)
		}
		if w, ok := stopWarning(t, out); !ok || w == "" {
			t.Errorf("the unit's ExecStop failed: the stop step of -o json has no warning\n%s", out)
		}
	})

	t.Run("restart", func(t *testing.T) {
		if out, errOut, code := f.omni(t, "service", "start", "sd1", "badstop"); code != 0 {
			t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
		}
		out, errOut, code := f.omni(t, "service", "restart", "sd1", "badstop", "-o", "json")
		if code != 0 {
			t.Fatalf("restart: exit %d\n%s%s", code, out, errOut)
		}
		if w, ok := stopWarning(t, out); !ok || w == "" {
			t.Errorf("the unit's ExecStop failed during the restart: the stop step of -o json has no warning\n%s", out)
		}
	})
}
