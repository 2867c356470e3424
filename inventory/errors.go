package inventory

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error is one problem in an inventory file, at a line.
type Error struct {
	File string // the path as given to Load
	Line int    // 1-based; 0 when no line applies
	Msg  string
}

func (e *Error) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// ErrorList is every problem found while loading an inventory, sorted by
// line. Load returns it (as error) whenever the file is not valid.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// NotFoundError is returned by the lookups for a name the inventory does not
// define; the CLI treats it as a usage error.
type NotFoundError struct {
	Kind       string // "host", "service" or "role"
	Name       string
	Suggestion string // closest defined name, or ""
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("unknown %s %q%s", e.Kind, e.Name, didYouMean(e.Suggestion))
}

func didYouMean(suggestion string) string {
	if suggestion == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", suggestion)
}

// Suggest returns the candidate closest to name by edit distance (ignoring
// case), or "" when none is close enough to be a plausible typo. Ties go to
// the earliest candidate, so the answer is deterministic.
func Suggest(name string, candidates []string) string {
	limit := len([]rune(name)) / 3
	if limit < 1 {
		limit = 1
	}
	if limit > 3 {
		limit = 3
	}
	n := utf8.RuneCountInString(name)
	if n > maxNameLen+limit {
		return "" // no name is that long: not a typo of one
	}
	best, bestDist := "", limit+1
	for _, c := range candidates {
		// The distance is at least the difference in length: skip
		// candidates too long or short to be close before paying for
		// the comparison.
		if c == name || len(c) > 4*(n+limit) || abs(utf8.RuneCountInString(c)-n) > limit {
			continue
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// maxNameLen is the longest valid name (validName).
const maxNameLen = 63

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// editDistance counts the insertions, deletions, substitutions and swaps of
// adjacent letters that turn a into b (optimal string alignment distance):
// a swap is the commonest typo, so it costs one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
