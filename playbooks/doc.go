// Package playbooks owns the built-in playbooks: the ordered steps of start,
// stop, restart and logs, kept as YAML data (embedded in the binary) rather
// than Go code. It loads and validates them, with file and line in every
// error, and lets a directory of files with the same names override them.
// The engine owns the steps: it hands in the vocabulary (engine.Vocabulary),
// the step names with their safety rules, and interprets the steps; this
// package keeps no step list of its own.
package playbooks
