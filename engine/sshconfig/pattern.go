package sshconfig

import "strings"

// matchList reports whether host matches a pattern list, as OpenSSH's
// match_pattern_list does for Host lines and Match host: some positive
// pattern matches and no negated one (!pattern) does. ssh lowercases the
// name it looks up; anyCase lowercases the patterns too (Match host, as
// match_hostname does), else they are taken as written (Host lines).
func matchList(host string, patterns []string, anyCase bool) bool {
	host = strings.ToLower(host)
	found := false
	for _, p := range patterns {
		negated := strings.HasPrefix(p, "!")
		if negated {
			p = p[1:]
		}
		if anyCase {
			p = strings.ToLower(p)
		}
		if matchPattern(host, p) {
			if negated {
				return false
			}
			found = true
		}
	}
	return found
}

// matchPattern is OpenSSH's match_pattern: `*` stands for any run of
// characters (none included), `?` for exactly one, anything else for
// itself.
func matchPattern(s, pattern string) bool {
	// Backtrack to the last `*` only: it may take one more character.
	star, starS := -1, 0
	i, j := 0, 0
	for j < len(s) {
		switch {
		case i < len(pattern) && pattern[i] == '*':
			star, starS = i, j
			i++
		case i < len(pattern) && (pattern[i] == '?' || pattern[i] == s[j]):
			i++
			j++
		case star >= 0:
			starS++
			i, j = star+1, starS
		default:
			return false
		}
	}
	for i < len(pattern) && pattern[i] == '*' {
		i++
	}
	return i == len(pattern)
}
