package cli

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPlainTableMultiLineErrorStaysOneRow (found by review): cron runs `omni service start
// web app` (a role) with its output to a file, and a person greps it the
// next morning. The start command fails and says why on two lines of
// stderr (as most do: "error: …" then "hint: …"); the service has no
// logs command, so the table's Error column carries the start's error.
//
// Expected: README ("Terminal output"): piped, "tables are plain columns
// separated by two spaces, one line per row, never wrapped, for grep and
// awk": `grep web1` finds the whole row.
//
// Observed before the fix: the row is split in two: the error's second line is a line
// of its own, indented under the Error column, with no host on it
// ("web1  app  failed  Stopped  -       -       122ms     start: start
// command: exit 1: error: port 8080 in use" then 58 spaces and "hint:
// stop the other process"). cli/table.go:renderPlain hands the cell to tablewriter,
// which breaks cells at '\n'; nothing makes the error one line
// (cli/fleetout.go shortFailure passes the error's text as it is).
func TestPlainTableMultiLineErrorStaysOneRow(t *testing.T) {
	inv, _, _ := reviewHost(t, "127.0.51.28", "", "root", "", "app", twoLineStartFailure)
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

// twoLineStartFailure is a service whose start fails saying why on
// two lines of stderr, with no logs command.
const twoLineStartFailure = "  app:\n    commands:\n      start: 'echo \"error: port 8080 in use\" >&2; echo \"hint: stop the other process\" >&2; exit 1'\n      status: 'exit 3'\n"

// TestProgressMultiLineErrorStaysOneLine (found by review): the same cron job as above
// (`omni service start web app >>/var/log/omni.log 2>&1`), whose start
// command says why it failed on two lines.
//
// Expected: docs/fleet.md ("Progress"): without a terminal, "one
// timestamped line per event, for a log a person reads the next morning"
// (continuations, like the log tail's "    log: …", indented under it).
//
// Observed before the fix: "2026-…Z web1: FAILED in 122ms: start: start command: exit 1:
// error: port 8080 in use" then a bare "hint: stop the other process" at
// the start of a line: no timestamp, no host, not indented, so that it
// reads as a line of its own and `grep web1` misses it; with many hosts
// failing it is not said whose it is. The progress printer (cli/progress.go)
// writes engine.FailureAt's text as it is.
func TestProgressMultiLineErrorStaysOneLine(t *testing.T) {
	inv, _, _ := reviewHost(t, "127.0.51.29", "", "root", "", "app", twoLineStartFailure)
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
