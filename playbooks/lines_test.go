package playbooks_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/playbooks"
)

// playbookErrorLine loads a --playbooks directory holding stop.yaml with
// content and returns the line its error names (0 when it names none).
func playbookErrorLine(t *testing.T, content string) (int, error) {
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

// TestPlaybookSyntaxErrorLine: an operator's stop.yaml override forgets the
// closing bracket of a flow list on line 5 (lines 3-4 blank):
//
//	5: steps: [{step: confirm}, {step: stop}, {step: record}
//
// The error names line 5. It named the blank line 4: yaml.v3 counts a
// parser error's line from 0 (found by review). A scanner error (a tab in
// the indentation) keeps its line.
func TestPlaybookSyntaxErrorLine(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          int
	}{
		{"parser error", "name: stop\ndescription: x\n\n\nsteps: [{step: confirm}, {step: stop}, {step: record}\n", 5},
		{"parser error on the first line", "name: [stop\n", 1},
		{"scanner error", "name: stop\nsteps:\n  - step: confirm\n\t- step: stop\n", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, err := playbookErrorLine(t, tc.content)
			if line != tc.want {
				t.Errorf("got %v: line %d, want %d", err, line, tc.want)
			}
		})
	}
}

// TestPlaybookInvalidUTF8Line: a stop.yaml override with a byte that is
// not UTF-8 on line 4 (a Latin-1 "é" in a comment pasted from an old
// file). The error is "stop.yaml:4: ...", naming the byte; it had no line
// at all, since yaml.v3 gives none for it (found by review).
func TestPlaybookInvalidUTF8Line(t *testing.T) {
	line, err := playbookErrorLine(t, "name: stop\nsteps:\n  - step: confirm\n  - step: stop   # caf\xe9\n  - step: record\n")
	if line != 4 || !strings.Contains(err.Error(), "byte 0xe9 at column 23 is not UTF-8") {
		t.Errorf("got %v: want it at stop.yaml:4, naming the byte 0xe9 at column 23", err)
	}
}
