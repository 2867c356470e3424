package manager

import (
	"iter"
	"strings"
)

// keyValues yields the KEY=VALUE lines of out in order: the key is what
// comes before the first "=", the value the rest of the line. A line
// without "=" is skipped; line ends (\n or \r\n) are dropped; a line has
// no length limit. It is the one reader of KEY=VALUE output: systemctl
// show's (parseShow, blockIsUnit) and the command manager's scripts'
// (parseReport).
func keyValues(out []byte) iter.Seq2[string, string] {
	return func(yield func(key, value string) bool) {
		for line := range strings.Lines(string(out)) {
			key, value, ok := strings.Cut(strings.TrimRight(line, "\r\n"), "=")
			if ok && !yield(key, value) {
				return
			}
		}
	}
}
