// Package cutnote is the note that stands where the middle of a command's
// output was left out (engine/transport keeps only the ends of an output
// past its bound), and how to find it again in what was kept (the service
// managers split a script's output into its parts by marks, one of which
// may have been in the middle that went).
package cutnote
