// Package cli is omni's command line: the kingpin command tree, flag
// parsing, confirmations, and rendering of status blocks, tables and
// errors. It is the only package that talks to the terminal, and it does so
// through injected Streams so tests run it with buffers. Run returns the
// process exit code; errors are mapped to codes in one place (exitcode.go).
package cli
