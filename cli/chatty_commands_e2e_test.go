package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestChattyCommandsDoNotFailTheirStep: a start, stop or status command
// that prints more than omni keeps of a command's output (32 MiB: a start
// script that cats a large file, a status command with a debug flag left
// on) and otherwise does its job. omni keeps the ends of such output, not
// all of it; the step's result is the command's, and the service's own
// last words are still the end of what it printed. Before, the whole
// script's output was thrown away: a restart whose stop and start both
// succeeded said "Failed to restart …: stop: …: output passed 32 MiB",
// exit 1, with the service running; a status said the host's command
// failed. (Found by an earlier review, left until now.)
func TestChattyCommandsDoNotFailTheirStep(t *testing.T) {
	t.Parallel()
	run := t.TempDir()
	pid := func(name string) string { return filepath.Join(run, name+".pid") }
	// 40 MB of x on the command's stdout (start) or stderr (status, stop),
	// then the job.
	const flood = `head -c 40000000 /dev/zero | tr '\0' x`
	launch := func(name string) string {
		return `setsid sleep 300 >/dev/null 2>&1 </dev/null & echo $! > ` + pid(name)
	}
	status := func(name string) string {
		return `p=$(cat ` + pid(name) + ` 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"`
	}
	svc := func(start, stop, status string) string {
		s := "    commands:\n      start: '" + yq(start) + "'\n      status: '" + yq(status) + "'\n"
		if stop != "" {
			s += "      stop: '" + yq(stop) + "'\n"
		}
		return s + "    health: {process: true, retries: 20, interval: 100ms}"
	}
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.4.11", WorkerAddr: "127.0.4.12",
		Extra: []testfleet.Service{
			{Name: "loudstart", Role: "worker", Raw: svc(flood+"; echo last words of the start; "+launch("loudstart"), "", status("loudstart"))},
			{Name: "loudstatus", Role: "worker", Raw: svc(launch("loudstatus"), "", flood+" >&2; "+status("loudstatus"))},
			{Name: "loudstop", Role: "worker", Raw: svc(launch("loudstop"), flood+` >&2; kill "$(cat `+pid("loudstop")+`)"`, status("loudstop"))},
			{Name: "loudfail", Role: "worker", Raw: svc(flood+" >&2; echo 'fatal: /etc/loud.conf line 3: bad key' >&2; exit 1", "", status("loudfail"))},
		}})
	for _, name := range []string{"loudstart", "loudstatus", "loudstop"} {
		t.Cleanup(func() { omni(t, f, "service", "stop", "worker1", name) })
	}

	for _, c := range []struct{ action, service, says string }{
		{"start", "loudstart", "started successfully"},
		{"restart", "loudstart", "restarted successfully"},
		{"start", "loudstatus", "started successfully"},
		{"status", "loudstatus", "Running"},
		{"restart", "loudstatus", "restarted successfully"},
		{"start", "loudstop", "started successfully"},
		{"restart", "loudstop", "restarted successfully"},
		{"stop", "loudstop", "stopped successfully"},
	} {
		out, errOut, code := omni(t, f, "service", c.action, "worker1", c.service)
		if code != 0 || !strings.Contains(out, c.says) || strings.Contains(out+errOut, "MiB") {
			t.Errorf("%s %s: exit %d, want 0 and %q (the command did its job; only its output was large)\n%s%s",
				c.action, c.service, code, c.says, out, limit(errOut))
		}
	}
	// A start that floods, then fails: its last words are the reason.
	for _, action := range []string{"start", "restart"} {
		out, errOut, code := omni(t, f, "service", action, "worker1", "loudfail")
		if code != 1 || !strings.Contains(errOut, "Failed to "+action+" loudfail on worker1: start: ") ||
			!strings.Contains(errOut, "fatal: /etc/loud.conf line 3: bad key") || strings.Contains(errOut, "MiB") {
			t.Errorf("%s loudfail: exit %d, want 1 with the start's last words\n%s%s", action, code, out, limit(errOut))
		}
	}
}

// limit shortens s for a failure message.
func limit(s string) string {
	if len(s) > 4000 {
		return s[:2000] + "\n…\n" + s[len(s)-2000:]
	}
	return s
}

// yq quotes s for a single-quoted YAML scalar.
func yq(s string) string { return strings.ReplaceAll(s, "'", "''") }
