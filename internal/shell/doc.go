// Package shell quotes values for POSIX shell command lines. Every value
// omni puts into a remote command goes through Quote; it is the one place
// that knows how. It also holds the shell functions that more than one
// remote script needs: reading /proc (ProcReaders) and killing a process
// with everything below it (KillTree), for the service managers' scripts
// and for the transport's kill of a cancelled command.
package shell
