// Package warm runs short-lived functions on goroutines that ran such
// functions before, rather than on new ones: a new goroutine starts with a
// small stack, and one that runs an SSH handshake or a command over a
// nested connection grows it several times over, each time by copying it
// (runtime.newstack: 9% of the CPU of a 1,000-host status, two thirds of
// it in omni's own goroutines). A goroutine that has finished its
// function waits a while for the next one, its stack already grown.
//
// A Pool belongs to its owner (transport.Pool has one), not to the
// process: goroutines started by a test inside a testing/synctest bubble
// then stay in it, as that package requires.
package warm
