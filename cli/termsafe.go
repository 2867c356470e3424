package cli

import (
	"io"
	"unicode"
	"unicode/utf8"
)

// terminalSafe writes a host's output (`service logs`) to a terminal with
// its control characters shown as "?", newlines and tabs kept: a log line
// cannot change the terminal's title, clear the screen, recolour what
// follows or, with a carriage return, write over the start of its own
// line (in a fleet's logs, over the host's name). Invalid UTF-8 is "?"
// too. A character cut in two by the end of a write waits for the rest.
// Piped elsewhere, logs are written as they are.
type terminalSafe struct {
	w     io.Writer
	carry []byte
}

func (t *terminalSafe) Write(p []byte) (int, error) {
	b := append(t.carry, p...)
	t.carry = nil
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 && !utf8.FullRune(b) {
			t.carry = append([]byte(nil), b...) // the rest comes in the next write
			break
		}
		switch {
		case r == '\n' || r == '\t':
			out = append(out, byte(r))
		case r == utf8.RuneError && n <= 1, unicode.IsControl(r):
			out = append(out, '?')
		default:
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// flush writes a character left incomplete at the end.
func (t *terminalSafe) flush() {
	if len(t.carry) > 0 {
		_, _ = t.w.Write([]byte("?"))
		t.carry = nil
	}
}
