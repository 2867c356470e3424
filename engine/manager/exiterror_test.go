package manager

import (
	"strings"
	"testing"
)

// TestExitErrorIsPrintable: a failed command's output goes into the error
// omni prints (a start's, a stop's, a status read's). A host's escape
// sequences (a title change, a screen clear, colours), carriage returns
// and invalid UTF-8 arrive as "?", never raw on the operator's terminal;
// its lines stay lines.
func TestExitErrorIsPrintable(t *testing.T) {
	res := Result{ExitCode: 1, Stderr: []byte("\x1b]0;pwned\a\x1b[2J\x1b[31mEVIL\r\nsecond\x00 line \xff\n")}
	got := exitError(res).Error()
	if strings.ContainsAny(got, "\x1b\a\r\x00") || !strings.Contains(got, "EVIL") {
		t.Errorf("exitError = %q", got)
	}
	if want := "exit 1: ?]0;pwned??[2J?[31mEVIL\nsecond? line ?"; got != want {
		t.Errorf("exitError = %q, want %q", got, want)
	}
}
