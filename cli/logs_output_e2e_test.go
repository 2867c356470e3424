package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// printingLogsApp is a command-manager service whose logs command
// prints what it is given (YAML single-quoted) and nothing else.
func printingLogsApp(logs string) string {
	return "  app:\n    commands:\n      start: 'true'\n      status: 'exit 3'\n      logs: '" + logs + "'\n"
}

// TestLogsJSONFailureDoesNotTrailTheLog (found by review): a script reads a service's
// logs with the global `-o json` it uses for every omni command
// (`omni -o json service logs web1 app > app.log`); the logs command
// prints its lines, then fails (exit 1: a rotated-away file, a permission
// denied half-way).
//
// Expected: stdout is one thing or the other: the log as it is (docs/json.md:
// "`omni service logs` prints the logs as they are, whatever the output
// format"), the failure on stderr and in the exit code, as the logs of a
// role do for the very same failure; or one JSON document.
//
// Observed before the fix: for one host, stdout is the log's lines followed by a JSON
// error document ({"result": "failed", "exit_code": 1, "error": "web1:
// app: logs: logs command exited with status 1"}): neither a log nor JSON,
// and the document lands in the middle of the saved log file. For the role
// `web` (the same host) no document is printed. The one-host path returns
// the logs' error to cli/app.go:Run, which appends an errorDoc to stdout
// for any error when -o json (cli/service.go:serviceRun returns out.Err
// for logs).
func TestLogsJSONFailureDoesNotTrailTheLog(t *testing.T) {
	inv, _, _ := reviewHost(t, "127.0.51.26", "", "root", "", "app",
		printingLogsApp(`echo "log line one"; echo "log line two"; echo "rotated away" >&2; exit 1`))
	out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "-o", "json", "service", "logs", "web1", "app")
	fout, ferr, fcode, _ := omniInv(t, 30*time.Second, inv, "-o", "json", "service", "logs", "web", "app")
	t.Logf("web1: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	t.Logf("web: exit %d\nstdout:\n%s\nstderr:\n%s", fcode, fout, ferr)
	if !strings.Contains(out, "log line one\nlog line two\n") || code == 0 {
		t.Fatalf("precondition: the log's lines are printed and the failure is in the exit code")
	}
	if !json.Valid([]byte(out)) && strings.Contains(out, `"exit_code"`) {
		t.Errorf("`omni -o json service logs web1 app`: stdout is the log with a JSON document after it, "+
			"neither the log as it is nor JSON (the role's logs print no document):\n%s", out)
	}
}

// TestFleetLogsOnTerminalKeepTabs (found by review): an operator reads the logs of a
// role on a terminal; the service is a Java one whose stack traces are
// indented with tabs ("\tat com.example.Foo.bar(Foo.java:42)").
//
// Expected: docs/json.md: "On a terminal, their control characters
// (escape sequences, carriage returns) and invalid UTF-8 are shown as
// `?`, newlines and tabs kept", as the logs of one host keep them.
//
// Observed before the fix: the logs of a role turn each tab into one space
// ("web1 | java.lang.IllegalStateException: boom" then "web1 |  at
// com.example…"): cli/fleetout.go prefixWriter cleans lines with
// manager.Printable, which maps '\t' to ' ' (made for one-line log
// tails), not with the terminalSafe rules the docs give.
func TestFleetLogsOnTerminalKeepTabs(t *testing.T) {
	inv, _, _ := reviewHost(t, "127.0.51.27", "", "root", "", "app",
		printingLogsApp(`printf "java.lang.IllegalStateException: boom\n\tat com.example.Foo.bar(Foo.java:42)\n"`))
	run := func(target string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, out, _ := TestStreams("", true) // a terminal
		code := Run(ctx, []string{"-i", inv, "service", "logs", target, "app"}, s)
		return out.String(), code
	}
	one, code1 := run("web1")
	fleet, code2 := run("web")
	t.Logf("web1 (exit %d): %q\nweb (exit %d): %q", code1, one, code2, fleet)
	if !strings.Contains(one, "\tat com.example") || code1 != 0 || code2 != 0 {
		t.Fatalf("precondition: the logs of one host keep the tab on a terminal")
	}
	if !strings.Contains(fleet, "web1 | \tat com.example") {
		t.Errorf("the logs of role web on a terminal lose the stack trace's tab: %q", fleet)
	}
}

// TestLogsFollowThatDoesNotFollowIsSaid (found by review): an operator's inventory
// declares its legacy service's logs the way README.md and
// examples/inventory.yaml show it, `logs: tail -n "$OMNI_LINES"
// /var/log/legacy.log`, and during an incident runs `omni service logs
// web1 legacy -f` to watch for the next error.
//
// Expected: `-f` "Keep printing new lines until Ctrl-C" (the flag's help):
// either omni follows, or, when the logs command ends by itself while
// following, it says so on stderr (that the logs command does not follow:
// it should honour OMNI_FOLLOW), instead of a silent success.
//
// Observed before the fix: omni prints the last lines and returns at once, exit 0, with
// nothing on stderr: the operator's prompt comes back as if the follow had
// been ended, or, in a terminal multiplexer pane, it reads as a log with no
// new lines. engine/step_logs.go:runLogs treats a logs command that exits
// 0 under --follow as a finished follow.
func TestLogsFollowThatDoesNotFollowIsSaid(t *testing.T) {
	inv, _, run := reviewHost(t, "127.0.51.30", "", "root", "", "legacy",
		"  legacy:\n    commands:\n      start: 'true'\n      status: 'exit 3'\n      logs: tail -n \"$OMNI_LINES\" @RUN@/legacy.log\n")
	if err := os.WriteFile(filepath.Join(run, "legacy.log"), []byte("12:00 ok\n12:01 ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code, took := omniInv(t, 8*time.Second, inv, "service", "logs", "web1", "legacy", "-f")
	t.Logf("exit %d after %s\nstdout:\n%s\nstderr:\n%s", code, took.Round(time.Millisecond), out, errOut)
	if !strings.Contains(out, "12:01 ok") {
		t.Fatalf("precondition: the last lines are shown")
	}
	if took < 7*time.Second && code == 0 && strings.TrimSpace(errOut) == "" {
		t.Errorf("`omni service logs web1 legacy -f` with the documented logs command: returned after %s, exit 0, "+
			"nothing on stderr: not following, and not saying so", took.Round(time.Millisecond))
	}
}
