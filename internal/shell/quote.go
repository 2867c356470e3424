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

// QuoteAny returns s as one word that every login shell omni meets reads
// as s, not only POSIX shells (sh, dash, bash, zsh, ksh) but fish too, and
// csh and tcsh for an s without a newline (they refuse a newline inside
// quotes): s in single quotes, where each ', \ and ! closes the quoting
// and is written after a backslash. fish reads \\ and \' inside single
// quotes as escapes, and csh expands ! there; outside quotes, a backslash
// makes the next character itself in all of them. It is for the command
// line sshd hands the login shell (`$SHELL -c LINE`); what sh then runs
// is quoted with Quote.
func QuoteAny(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	open := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\'' || c == '\\' || c == '!' {
			if open {
				b.WriteByte('\'')
				open = false
			}
			b.WriteByte('\\')
			b.WriteByte(c)
			continue
		}
		if !open {
			b.WriteByte('\'')
			open = true
		}
		b.WriteByte(c)
	}
	switch {
	case open:
		b.WriteByte('\'')
	case b.Len() == 0:
		b.WriteString("''")
	}
	return b.String()
}
