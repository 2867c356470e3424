package cli

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"
)

// Streams are a command's standard input and outputs.
type Streams struct {
	In      io.Reader
	Out     io.Writer
	Err     io.Writer
	InTTY   bool // stdin is a terminal: omni may ask questions
	OutTTY  bool // stdout is a terminal: emoji and colour allowed
	ErrTTY  bool // stderr is a terminal: fleet runs draw a live view there
	NoColor bool // NO_COLOR is set or TERM=dumb: never colour
	Width   int  // columns of the terminal on stdout (0: unknown, 80 is assumed); tables fit in it
}

// System returns the process's own streams.
func System() Streams {
	s := Streams{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		InTTY:   term.IsTerminal(int(os.Stdin.Fd())),
		OutTTY:  term.IsTerminal(int(os.Stdout.Fd())),
		ErrTTY:  term.IsTerminal(int(os.Stderr.Fd())),
		NoColor: os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb",
	}
	if s.OutTTY {
		s.Width = terminalWidth(os.Getenv("COLUMNS"), func() (int, error) {
			w, _, err := term.GetSize(int(os.Stdout.Fd())) // TIOCGWINSZ
			return w, err
		})
	}
	return s
}

// terminalWidth is the width of the terminal: COLUMNS when it is a
// positive number (as ls and git honour it), else what the terminal
// says, else defaultWidth.
func terminalWidth(columns string, size func() (int, error)) int {
	if n, err := strconv.Atoi(strings.TrimSpace(columns)); err == nil && n > 0 {
		return n
	}
	if w, err := size(); err == nil && w > 0 {
		return w
	}
	return defaultWidth
}

// TestStreams returns streams backed by buffers, input given as a string.
func TestStreams(in string, tty bool) (Streams, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return Streams{In: strings.NewReader(in), Out: out, Err: errOut, InTTY: tty, OutTTY: tty, ErrTTY: tty, NoColor: true}, out, errOut
}
