package cli

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestPrefixWriterCutsAGiantLine: a line longer than maxLinePart is
// written in parts of that size, each a line with the prefix; the newline
// that ends it right after a part adds no empty line; a character that
// the cut would split goes whole into the next part. (Found by review: the
// writer held a whole line, however long, and rescanned it on each write.)
func TestPrefixWriterCutsAGiantLine(t *testing.T) {
	var out bytes.Buffer
	p := &prefixWriter{mu: &sync.Mutex{}, w: &out, prefix: "w1 | "}
	giant := strings.Repeat("x", maxLinePart-1) + "é" + strings.Repeat("y", maxLinePart-2) + "\nnext\n"
	for chunk := range pieces(giant, 1000) {
		if n, err := p.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	p.flush()
	want := "w1 | " + strings.Repeat("x", maxLinePart-1) + "\n" +
		"w1 | é" + strings.Repeat("y", maxLinePart-2) + "\n" +
		"w1 | next\n"
	if got := out.String(); got != want {
		t.Errorf("got %d bytes in %d lines, want %d in %d", len(got), strings.Count(got, "\n"), len(want), strings.Count(want, "\n"))
	}
	if cap(p.buf) > 2*maxLinePart {
		t.Errorf("the writer holds a buffer of %d bytes", cap(p.buf))
	}
}

// pieces yields s in pieces of n bytes (the last shorter).
func pieces(s string, n int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// TestPrefixWriterKeepsTabsOnATerminal: on a terminal a fleet's lines are
// shown by the rules of the logs of one host: tabs kept, control
// characters as "?". (Found by review: tabs were turned into spaces.)
func TestPrefixWriterKeepsTabsOnATerminal(t *testing.T) {
	var out bytes.Buffer
	p := &prefixWriter{mu: &sync.Mutex{}, w: &out, prefix: "w1 | ", clean: true}
	p.Write([]byte("boom\n\tat Foo.bar\x1b[2J\n"))
	if got, want := out.String(), "w1 | boom\nw1 | \tat Foo.bar?[2J\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestPrefixWriterFailureIsTold: the first failed write is told (the run
// ends on it), and every write after it fails without writing.
func TestPrefixWriterFailureIsTold(t *testing.T) {
	var told []error
	w := &failAfter{}
	p := &prefixWriter{mu: &sync.Mutex{}, w: w, prefix: "w1 | ", failed: func(err error) { told = append(told, err) }}
	if _, err := p.Write([]byte("one\ntwo\n")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write: %v, want EPIPE", err)
	}
	if _, err := p.Write([]byte("three\n")); !errors.Is(err, syscall.EPIPE) || w.writes != 2 {
		t.Errorf("a write after the failure: %v, %d writes", err, w.writes)
	}
	if len(told) != 1 {
		t.Errorf("the failure was told %d times", len(told))
	}
}

// failAfter takes one write, then fails with EPIPE.
type failAfter struct{ writes int }

func (f *failAfter) Write(p []byte) (int, error) {
	f.writes++
	if f.writes > 1 {
		return 0, syscall.EPIPE
	}
	return len(p), nil
}

// TestOneLine: an error's lines are joined with " | ", the whole text
// kept; blank lines and line ends' spaces go.
func TestOneLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"start: exit 1: port in use", "start: exit 1: port in use"},
		{"start: exit 1: error: port 8080 in use\nhint: stop the other process", "start: exit 1: error: port 8080 in use | hint: stop the other process"},
		{"a\r\n\r\n  b  \n", "a |   b"},
	} {
		if got := oneLine(c.in); got != c.want {
			t.Errorf("oneLine(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
