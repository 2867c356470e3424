package cli

import (
	"bytes"
	"io"
	"os"
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
}

// System returns the process's own streams.
func System() Streams {
	return Streams{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		InTTY:   term.IsTerminal(int(os.Stdin.Fd())),
		OutTTY:  term.IsTerminal(int(os.Stdout.Fd())),
		ErrTTY:  term.IsTerminal(int(os.Stderr.Fd())),
		NoColor: os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb",
	}
}

// TestStreams returns streams backed by buffers, input given as a string.
func TestStreams(in string, tty bool) (Streams, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return Streams{In: strings.NewReader(in), Out: out, Err: errOut, InTTY: tty, OutTTY: tty, ErrTTY: tty, NoColor: true}, out, errOut
}
