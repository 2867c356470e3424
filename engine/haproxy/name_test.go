package haproxy

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidNameBound: validName checks the 64 characters in code; it
// accepts what `^[A-Za-z0-9._:-]{1,64}$` did.
func TestValidNameBound(t *testing.T) {
	counted := regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
	for _, n := range []int{0, 1, 63, 64, 65, 200} {
		for _, in := range []string{strings.Repeat("a", n), strings.Repeat("a", n) + " ", strings.Repeat(":", n) + ";"} {
			if got, want := validName(in), counted.MatchString(in); got != want {
				t.Errorf("validName(%d × %q) = %v, want %v", n, in[:min(len(in), 3)], got, want)
			}
		}
	}
}
