package manager

// ShellCommand is script as the managers send it: `sh -c SCRIPT`, or
// `sudo -n sh -c SCRIPT` when sudo is on (see wrap). Other packages that
// run scripts for a Target (engine/config) use it, so that sudo applies
// the same way everywhere.
func ShellCommand(script string, sudo bool) string { return wrap(script, sudo, true) }
