package inventory

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestNameCheckersMatchTheCountedExpressions: validName, validAccount and
// validHAProxyName check lengths in code instead of with a counted
// repetition in their expressions (which costs every start of omni its
// compilation). They accept exactly what the counted expressions did:
// the lengths at and around each bound, and random strings of the
// alphabets around them.
func TestNameCheckersMatchTheCountedExpressions(t *testing.T) {
	cases := []struct {
		name     string
		check    func(string) bool
		counted  *regexp.Regexp
		alphabet string
		bounds   []int
	}{
		{"validName", validName, regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`), "ab9._-A ", []int{1, 2, 62, 63, 64}},
		{"validAccount", validAccount, regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|[0-9]{1,10})$`), "aZ_9.-$ ", []int{1, 10, 11, 31, 32, 33, 34}},
		{"validHAProxyName", validHAProxyName, regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`), "aZ9._:- /", []int{0, 1, 63, 64, 65}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		var inputs []string
		for _, n := range c.bounds {
			for _, s := range []string{"a", "1", "_", "a$", "9$"} {
				in := strings.Repeat(s[:1], n)
				inputs = append(inputs, in, in+s[1:], strings.Repeat("1", n))
			}
		}
		for range 20000 {
			b := make([]byte, rng.IntN(70))
			for i := range b {
				b[i] = c.alphabet[rng.IntN(len(c.alphabet))]
			}
			inputs = append(inputs, string(b))
		}
		for _, in := range inputs {
			if got, want := c.check(in), c.counted.MatchString(in); got != want {
				t.Errorf("%s(%q) = %v, the counted expression says %v", c.name, in, got, want)
			}
		}
	}
}
