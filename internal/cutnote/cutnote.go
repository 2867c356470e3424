package cutnote

import (
	"fmt"
	"regexp"
)

// Note is what stands for the n bytes left out of an output. It starts
// and ends with a line break of its own, so that the lines around it stay
// whole.
func Note(n int64) []byte {
	return fmt.Appendf(nil, "\n… (%d bytes of output not kept) …\n", n)
}

var note = regexp.MustCompile("\n… \\(\\d+ bytes of output not kept\\) …\n")

// Index is where the first note in b starts and ends; -1, -1 when there
// is none.
func Index(b []byte) (start, end int) {
	m := note.FindIndex(b)
	if m == nil {
		return -1, -1
	}
	return m[0], m[1]
}
