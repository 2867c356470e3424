package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// reviewLogsPrinting is a command-manager service whose logs command
// prints what it is given (YAML single-quoted) and nothing else.
func reviewLogsPrinting(logs string) string {
	return "  app:\n    commands:\n      start: 'true'\n      status: 'exit 3'\n      logs: '" + logs + "'\n"
}

// TestReviewLogsJSONFailureDoesNotTrailTheLog: a script reads a service's
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
// Observed: for one host, stdout is the log's lines followed by a JSON
// error document ({"result": "failed", "exit_code": 1, "error": "web1:
// app: logs: logs command exited with status 1"}): neither a log nor JSON,
// and the document lands in the middle of the saved log file. For the role
// `web` (the same host) no document is printed. The one-host path returns
// the logs' error to cli/app.go:Run, which appends an errorDoc to stdout
// for any error when -o json (cli/service.go:serviceRun returns out.Err
// for logs).
func TestReviewLogsJSONFailureDoesNotTrailTheLog(t *testing.T) {
	inv, _, _ := reviewHost(t, "127.0.51.26", "", "root", "", "app",
		reviewLogsPrinting(`echo "log line one"; echo "log line two"; echo "rotated away" >&2; exit 1`))
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

// TestReviewLogsFleetOnTerminalKeepsTabs: an operator reads the logs of a
// role on a terminal; the service is a Java one whose stack traces are
// indented with tabs ("\tat com.example.Foo.bar(Foo.java:42)").
//
// Expected: docs/json.md: "On a terminal, their control characters
// (escape sequences, carriage returns) and invalid UTF-8 are shown as
// `?`, newlines and tabs kept", as the logs of one host keep them.
//
// Observed: the logs of a role turn each tab into one space
// ("web1 | java.lang.IllegalStateException: boom" then "web1 |  at
// com.example…"): cli/fleetout.go prefixWriter cleans lines with
// manager.Printable, which maps '\t' to ' ' (made for one-line log
// tails), not with the terminalSafe rules the docs give.
func TestReviewLogsFleetOnTerminalKeepsTabs(t *testing.T) {
	inv, _, _ := reviewHost(t, "127.0.51.27", "", "root", "", "app",
		reviewLogsPrinting(`printf "java.lang.IllegalStateException: boom\n\tat com.example.Foo.bar(Foo.java:42)\n"`))
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

// TestReviewLogsPlainTableOneLinePerRow: cron runs `omni service start
// web app` (a role) with its output to a file, and a person greps it the
// next morning. The start command fails and says why on two lines of
// stderr (as most do: "error: …" then "hint: …"); the service has no
// logs command, so the table's Error column carries the start's error.
//
// Expected: README ("Terminal output"): piped, "tables are plain columns
// separated by two spaces, one line per row, never wrapped, for grep and
// awk": `grep web1` finds the whole row.
//
// Observed: the row is split in two: the error's second line is a line
// of its own, indented under the Error column, with no host on it
// ("web1  app  failed  Stopped  -       -       122ms     start: start
// command: exit 1: error: port 8080 in use" then 58 spaces and "hint:
// stop the other process"). cli/table.go:renderPlain hands the cell to tablewriter,
// which breaks cells at '\n'; nothing makes the error one line
// (cli/fleetout.go shortFailure passes the error's text as it is).
func TestReviewLogsPlainTableOneLinePerRow(t *testing.T) {
	inv, _, _ := reviewHost(t, "127.0.51.28", "", "root", "", "app", reviewTwoLineStartFailure)
	out, errOut, code, _ := omniInv(t, 60*time.Second, inv, "service", "start", "web", "app")
	t.Logf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	if code != ExitFailed || !strings.Contains(out, "hint: stop the other process") {
		t.Fatalf("precondition: the start fails with its two lines in the table")
	}
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.Contains(line, "hint: stop the other process") && !strings.HasPrefix(line, "web1 ") {
			t.Errorf("the plain table's row of web1 is broken over two lines; this one has no host: %q", line)
		}
	}
}

// reviewTwoLineStartFailure is a service whose start fails saying why on
// two lines of stderr, with no logs command.
const reviewTwoLineStartFailure = "  app:\n    commands:\n      start: 'echo \"error: port 8080 in use\" >&2; echo \"hint: stop the other process\" >&2; exit 1'\n      status: 'exit 3'\n"

// TestReviewLogsProgressOneLinePerEvent: the same cron job as above
// (`omni service start web app >>/var/log/omni.log 2>&1`), whose start
// command says why it failed on two lines.
//
// Expected: docs/fleet.md ("Progress"): without a terminal, "one
// timestamped line per event, for a log a person reads the next morning"
// (continuations, like the log tail's "    log: …", indented under it).
//
// Observed: "2026-…Z web1: FAILED in 122ms: start: start command: exit 1:
// error: port 8080 in use" then a bare "hint: stop the other process" at
// the start of a line: no timestamp, no host, not indented, so that it
// reads as a line of its own and `grep web1` misses it; with many hosts
// failing it is not said whose it is. The progress printer (cli/progress.go)
// writes engine.FailureAt's text as it is.
func TestReviewLogsProgressOneLinePerEvent(t *testing.T) {
	inv, _, _ := reviewHost(t, "127.0.51.29", "", "root", "", "app", reviewTwoLineStartFailure)
	out, errOut, code, _ := omniInv(t, 60*time.Second, inv, "service", "start", "web", "app")
	t.Logf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	if code != ExitFailed || !strings.Contains(errOut, "hint: stop the other process") {
		t.Fatalf("precondition: the start fails, its two lines in the progress")
	}
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ `)
	for _, line := range strings.Split(strings.TrimRight(errOut, "\n"), "\n") {
		if !stamp.MatchString(line) && !strings.HasPrefix(line, " ") {
			t.Errorf("a progress line without timestamp nor indentation (whose is it?): %q", line)
		}
	}
}

// TestReviewLogsFollowThatDoesNotFollowIsSaid: an operator's inventory
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
// Observed: omni prints the last lines and returns at once, exit 0, with
// nothing on stderr: the operator's prompt comes back as if the follow had
// been ended, or, in a terminal multiplexer pane, it reads as a log with no
// new lines. engine/step_logs.go:runLogs treats a logs command that exits
// 0 under --follow as a finished follow.
func TestReviewLogsFollowThatDoesNotFollowIsSaid(t *testing.T) {
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
