package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestServiceLogsStderrOnTerminal: `service logs` on a terminal shows a
// host's control characters as '?' on stderr as on stdout (docker logs,
// kubectl logs and journalctl write part of a service's log there); for
// one host its stderr reached the terminal raw. (Found by a review.)
func TestServiceLogsStderrOnTerminal(t *testing.T) {
	raw := "    commands:\n" +
		"      start: 'true'\n" +
		"      status: 'exit 3'\n" +
		"      logs: 'printf \"out \\033]0;pwned-out\\007\\n\"; printf \"err \\033]0;pwned-err\\007\\033[2J\\n\" >&2'\n"
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.193.11", WorkerAddr: "127.0.193.12",
		Extra: []testfleet.Service{{Name: "app", Role: "worker", Raw: raw}}})
	out, errOut, code := omniCtx(context.Background(), t, f, true, "", "service", "logs", "worker1", "app")
	t.Logf("exit %d\nstdout %q\nstderr %q", code, out, errOut)
	if !strings.Contains(out, "pwned-out") || !strings.Contains(errOut, "pwned-err") {
		t.Fatalf("precondition: the logs command's output is shown")
	}
	if strings.ContainsRune(out, '\x1b') {
		t.Errorf("stdout on a terminal carries an escape sequence: %q", out)
	}
	if strings.ContainsRune(errOut, '\x1b') || strings.ContainsRune(errOut, '\a') {
		t.Errorf("stderr on a terminal carries the host's escape sequences raw: %q", errOut)
	}
}
