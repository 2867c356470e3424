package cli

import "testing"

// TestPaintResetsBeforeTheNewline: the reset sequence comes before every
// newline, so a colour never leaks into the next line.
func TestPaintResetsBeforeTheNewline(t *testing.T) {
	st := style{colour: true}
	for in, want := range map[string]string{
		"ok":           "\x1b[32mok\x1b[0m",
		"ok\n":         "\x1b[32mok\x1b[0m\n",
		"one\ntwo\n":   "\x1b[32mone\x1b[0m\n\x1b[32mtwo\x1b[0m\n",
		"one\n\nthree": "\x1b[32mone\x1b[0m\n\n\x1b[32mthree\x1b[0m",
		"\n":           "\n",
	} {
		if got := st.paint(green, in); got != want {
			t.Errorf("paint(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (style{}).paint(green, "ok\n"); got != "ok\n" {
		t.Errorf("no colour: %q", got)
	}
}
