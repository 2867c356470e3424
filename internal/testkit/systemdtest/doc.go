// Package systemdtest boots real systemd hosts for the tests of the
// systemd manager: systemd 252 (or whatever /lib/systemd/systemd is) as
// PID 1 of its own mount, PID, UTS, IPC and cgroup namespaces, on a
// throw-away root (an overlay of the machine's / under a tmpfs), with an
// sshd of its own listening on one loopback address.
//
// systemd never runs over the machine's own root: it would empty /tmp and
// start every enabled service. boot.sh builds the root and pivots into it
// before it execs systemd, removes every enabled unit, and masks the ones
// that would reach outside (gettys, the machine's sshd, timers, network
// and time daemons). Each host lives at most Lifetime (`timeout -s KILL`)
// and is killed at the end of its test with SIGKILL to its PID 1.
//
// It needs root, overlayfs, a cgroup2 hierarchy (the unified one of a
// hybrid host will do), util-linux (unshare, setpriv, pivot_root) and
// OpenSSH's sshd; sudo for Options.Users. On a machine without them Boot
// fails the test and says what is missing: it never skips.
package systemdtest
