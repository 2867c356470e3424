package shell

import "strings"

// Quote returns s as one POSIX shell word: s wrapped in single quotes, where
// each single quote inside s closes the quoting, adds an escaped quote (\')
// and reopens it. Nothing is expanded inside single quotes, so the result
// is safe for any s, including the empty string and newlines. (Pass "--"
// before operands that may start with a dash.)
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
