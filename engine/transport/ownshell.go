package transport

import "strings"

// ownShell matches a command that already runs its script in an sh of its
// own: `sh -c WORD` or `sudo -n sh -c WORD`, WORD one single-quoted word
// as Quote writes it (what the service managers send). The shell can exec
// such a command as it stands: wrapping it in one more `sh -c` would do
// the same with one more process.
var ownShell ownShellMatcher

// ownShellMatcher is the regular expression
// ^(?:sudo -n )?sh -c (?:'[^']*'|\\')+$ written out: one pass over the
// command, where the regexp package took a sixth of a millisecond on a
// status script, 2% of a 1,000-host status's CPU.
type ownShellMatcher struct{}

// MatchString reports whether cmd runs its script in an sh of its own.
func (ownShellMatcher) MatchString(cmd string) bool {
	rest := strings.TrimPrefix(cmd, "sudo -n ")
	rest, ok := strings.CutPrefix(rest, "sh -c ")
	if !ok || rest == "" {
		return false
	}
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, `\'`):
			rest = rest[2:]
		case rest[0] == '\'':
			end := strings.IndexByte(rest[1:], '\'')
			if end < 0 {
				return false
			}
			rest = rest[end+2:]
		default:
			return false
		}
	}
	return true
}
