package cli

import (
	"bytes"
	"sync"
	"testing"
)

// TestTerminalSafe: a host's log shown on a terminal keeps its text, lines
// and tabs, and loses its power over the terminal: escape sequences,
// carriage returns, NUL and invalid UTF-8 are "?"; a character cut in two
// between writes arrives whole.
func TestTerminalSafe(t *testing.T) {
	var out bytes.Buffer
	w := &terminalSafe{w: &out}
	for _, chunk := range []string{"ok\tline\n\x1b]0;pwned\a\x1b[2J\x1b[31mred\r", "forged\x00\xff caf\xc3", "\xa9\n"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	w.flush()
	if got, want := out.String(), "ok\tline\n?]0;pwned??[2J?[31mred?forged?? café\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestFleetLogLineCannotPoseAsAnotherHost: on a terminal, a carriage
// return in worker1's line cannot bring the cursor back over its prefix
// to print another host's.
func TestFleetLogLineCannotPoseAsAnotherHost(t *testing.T) {
	var out bytes.Buffer
	p := &prefixWriter{mu: &sync.Mutex{}, w: &out, prefix: "worker1         | ", clean: true}
	p.Write([]byte("x\rprimary-bastion | FORGED\n"))
	if got, want := out.String(), "worker1         | x?primary-bastion | FORGED\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
