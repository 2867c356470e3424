// Package manager drives one service on one host: it turns "start", "stop",
// "status" and "logs" into the remote shell commands of the service's
// manager (systemd or the inventory's own commands) and interprets what
// they print.
//
// The package never opens a connection itself. It talks to a host through
// the small [Runner] interface (one shell command in, stdout, stderr and the
// exit code out), which the engine adapts to the SSH transport and the tests
// implement with a local shell. Every value taken from the inventory is
// shell-quoted with [Quote] before it goes into a command; the commands of
// the `command` manager are trusted configuration and are inserted as shell
// text, and integers omni formats itself (line counts, loop bounds) need no
// quoting. When sudo is on, the whole command runs as `sudo -n sh -c
// <quoted script>`, so that a missing sudo rule fails at once
// ([ErrSudoRefused]) instead of waiting for a password.
//
// A failure to start says why in the service's own words: a [LogError]
// carries its [LogTail], the last lines of its log (the journal since the
// start for systemd, read in the start's own round trip; the logs command
// for the command manager, read by [Tailer.LogTail]).
//
// Remote commands assume a POSIX sh and a sleep that accepts fractions of a
// second. They read process states from /proc with the shell's own `read`
// (no process started per probe); on a host without /proc they use procps
// `ps -o stat=,etimes= -p PID` instead.
package manager
