// Package shell quotes values for POSIX shell command lines. Every value
// omni puts into a remote command goes through Quote; it is the one place
// that knows how.
package shell
