package transport

import (
	"strings"

	"github.com/omni-fleet/omni/internal/shell"
)

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
	_, _, ok := ownShellParts(cmd, false)
	return ok
}

// ownShellParts parses cmd as an own-shell command: sudo says whether it
// runs under `sudo -n`; script is its WORD unquoted (only when unquote).
func ownShellParts(cmd string, unquote bool) (sudo bool, script string, ok bool) {
	rest, sudo := strings.CutPrefix(cmd, "sudo -n ")
	rest, ok = strings.CutPrefix(rest, "sh -c ")
	if !ok || rest == "" {
		return false, "", false
	}
	var b strings.Builder
	if unquote {
		b.Grow(len(rest))
	}
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, `\'`):
			if unquote {
				b.WriteByte('\'')
			}
			rest = rest[2:]
		case rest[0] == '\'':
			end := strings.IndexByte(rest[1:], '\'')
			if end < 0 {
				return false, "", false
			}
			if unquote {
				b.WriteString(rest[1 : end+1])
			}
			rest = rest[end+2:]
		default:
			return false, "", false
		}
	}
	return sudo, b.String(), true
}

// loginLine is the command line omni sends a host for script, a POSIX sh
// script: what sshd hands the user's login shell, `$SHELL -c LINE`. Every
// login shell reads it the same (sh, dash, bash, zsh, ksh, fish; csh and
// tcsh when script is one line): one `exec sh -c WORD`, WORD written
// with shell.QuoteAny, so that whatever the login shell, the script runs
// in sh, which replaces the login shell and keeps its PID (the process
// group's ID, which a kill of the command uses). The login shell runs no
// command of its own: fish has no `$$`, and csh reads `2>&1` otherwise.
// A script of several lines is more than csh can read (a newline inside
// quotes): cshGuard, on the line before, ends a csh there, saying why.
func loginLine(script string) string {
	return cshGuard + "exec sh -c " + shell.QuoteAny(script)
}

// cshGuard is the first line of every command line: csh and tcsh (which
// always set $shell, $home and $cwd; no other login shell sets these
// lower-case names, and a user's start-up file that sets all three is
// not to be expected, while one that sets `shell` is: found by review)
// stop there, with a message,
// before reading the next. Without it, csh refused the line with the
// script's opening quote, then ran each following line of the script that
// it could read as a command of its own, out of its context (a line of
// the inventory's start command, on a status). Every other shell skips
// it with a builtin `test`.
const cshGuard = `test -z "$shell" || test -z "$home" || test -z "$cwd" || exec /bin/sh -c 'echo "omni: the login shell of this user, $0, is a csh: omni runs its commands through a POSIX shell (sh, bash, dash, zsh, ksh) or fish; change it with chsh" >&2; exit 1' "$shell"` + "\n"

// asScript is cmd as a line of an sh script: for `sh -c WORD`, WORD's
// text (loginLine's own sh runs it, with no sh of its own between); for
// `sudo -n sh -c WORD`, an exec of it; any other command as it stands.
func asScript(cmd string) string {
	sudo, script, ok := ownShellParts(cmd, true)
	switch {
	case !ok:
		return cmd
	case sudo:
		return "exec " + cmd
	}
	return script
}
