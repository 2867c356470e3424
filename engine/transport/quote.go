package transport

import "strings"

// Quote quotes s as one word for a POSIX shell. Words made only of
// characters no shell treats specially are returned as they are; anything
// else is put in single quotes, where the shell interprets nothing, and each
// single quote inside is written as: close quote, backslash, quote, reopen.
// '=' is never left bare, so that a word can never become an assignment.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, needsQuoting) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func needsQuoting(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	case strings.ContainsRune("@%+:,./_-", r):
		return false
	}
	return true
}

// Sudo wraps cmd to run as root through a shell: sudo -n (never prompt: a
// missing sudo rule fails at once instead of hanging) sh -c 'cmd'.
func Sudo(cmd string) string {
	return "sudo -n sh -c " + Quote(cmd)
}
