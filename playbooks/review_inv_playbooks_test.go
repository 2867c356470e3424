package playbooks_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/playbooks"
)

// reviewPlaybookLine loads a --playbooks directory holding stop.yaml with
// content and returns the line its error names (0 when it names none).
func reviewPlaybookLine(t *testing.T, content string) (int, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stop.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := playbooks.LoadDir(dir, engine.Vocabulary())
	if err == nil {
		t.Fatalf("%q: no error", content)
	}
	m := regexp.MustCompile(`stop\.yaml:(\d+): `).FindStringSubmatch(err.Error())
	if m == nil {
		return 0, err
	}
	n, _ := strconv.Atoi(m[1])
	return n, err
}

// TestReviewInvPlaybookSyntaxErrorLine: an operator's stop.yaml override
// forgets the closing bracket of a flow list on line 5 (lines 3-4 blank):
//
//	5: steps: [{step: confirm}, {step: stop}, {step: record}
//
// Expected (docs/playbooks.md: "errors carry the file and line"): line 5.
//
// Observed: `omni: DIR/stop.yaml:4: did not find expected ',' or ']'`, a
// blank line. yaml.v3 gives a parser error at its context mark, a 0-based
// line it does not add 1 to. Cause: playbooks/playbooks.go:yamlError takes
// yaml.v3's "line N" as it is (yamlbound.ErrorLine corrects only the tab
// message).
func TestReviewInvPlaybookSyntaxErrorLine(t *testing.T) {
	line, err := reviewPlaybookLine(t, "name: stop\ndescription: x\n\n\nsteps: [{step: confirm}, {step: stop}, {step: record}\n")
	if line < 5 {
		t.Errorf("got %v: line %d, want 5 (where the list opens; nothing is wrong before it)", err, line)
	}
}

// TestReviewInvPlaybookInvalidUTF8Line: a stop.yaml override with a byte
// that is not UTF-8 on line 4 (a Latin-1 "é" in a comment pasted from an
// old file). Expected: "stop.yaml:4: ...", exit 2 (docs/playbooks.md:
// "errors carry the file and line").
//
// Observed: `omni: DIR/stop.yaml: invalid leading UTF-8 octet`: no line at
// all. Cause: playbooks/playbooks.go:yamlError returns "source: msg" when
// yaml.v3's message has no "line N" (it has none for encoding errors).
func TestReviewInvPlaybookInvalidUTF8Line(t *testing.T) {
	line, err := reviewPlaybookLine(t, "name: stop\nsteps:\n  - step: confirm\n  - step: stop   # caf\xe9\n  - step: record\n")
	if line != 4 {
		t.Errorf("got %v: want it at stop.yaml:4 (the line with the byte 0xe9)", err)
	}
}
