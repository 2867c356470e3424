// Package plural writes counts with the noun that agrees with them.
package plural

import "strconv"

// N returns n and the noun that agrees with it: "1 host", "0 hosts",
// "3 hosts".
func N(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Word returns the noun (or phrase) that agrees with n, without n: one
// when n is 1, many otherwise.
func Word(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
