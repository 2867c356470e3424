package cli

import (
	"io"
	"unicode"
	"unicode/utf8"
)

// terminalSafe writes a host's output (`service logs` of one host) to a
// terminal through appendTerminalSafe: a log line cannot change the
// terminal's title, clear the screen, recolour what follows or, with a
// carriage return, write over the start of its own line. A character cut
// in two by the end of a write waits for the rest. Piped elsewhere, logs
// are written as they are.
type terminalSafe struct {
	w     io.Writer
	carry []byte
}

func (t *terminalSafe) Write(p []byte) (int, error) {
	b := append(t.carry, p...)
	out, held := appendTerminalSafe(make([]byte, 0, len(b)), b)
	t.carry = append([]byte(nil), b[len(b)-held:]...) // the rest comes in the next write
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

// appendTerminalSafe appends b to dst as a host's output is shown on a
// terminal, by the logs of one host and of a fleet alike: control
// characters (escape sequences, carriage returns) and invalid UTF-8 as
// "?", newlines and tabs kept (docs/json.md). A character that b's end
// cuts in two is not appended: held is its length, for the caller to
// hold until the rest comes.
func appendTerminalSafe(dst, b []byte) (out []byte, held int) {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 && !utf8.FullRune(b) {
			return dst, len(b)
		}
		switch {
		case r == '\n' || r == '\t':
			dst = append(dst, byte(r))
		case r == utf8.RuneError && n <= 1, unicode.IsControl(r):
			dst = append(dst, '?')
		default:
			dst = append(dst, b[:n]...)
		}
		b = b[n:]
	}
	return dst, 0
}
