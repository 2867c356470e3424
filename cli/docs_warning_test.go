package cli

import (
	"os"
	"strings"
	"testing"
)

// TestDocsSayStopWarning: since 95adf78 a stop step that stopped
// the service otherwise than asked (SIGKILL after the grace period, a
// stop command that failed or hung) succeeds with a `warning`
// (engine/step_stop.go, restart_fused.go; docs/reliability.md says so).
// docs/json.md still defines the steps' `warning` as "a hook with
// `on_failure: warn` failed" only (as does cli/jsonout.go's comment), and
// docs/exit-codes.md lists, among the exit-0 successes that print a
// warning, only the hook's: a script that reads `warning` as "a hook
// failed" misreads every forced stop. Both should say the stop's warning.
func TestDocsSayStopWarning(t *testing.T) {
	for _, c := range []struct{ file, line string }{
		{"../docs/json.md", "| `steps` |"},
		{"../docs/exit-codes.md", "| 0 |"},
	} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		var row string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, c.line) {
				row = l
				break
			}
		}
		if row == "" {
			t.Fatalf("%s: no row %q", c.file, c.line)
		}
		if !strings.Contains(row, "SIGKILL") && !strings.Contains(row, "stop command") {
			t.Errorf("%s: the row that defines the step's warning (exit 0 with a warning) names only a hook's failure, not a stop that killed with SIGKILL or whose stop command failed:\n%s", c.file, row)
		}
	}
}
