// Package registry is omni's service registry: for each (host, service) the
// last state omni saw, since when, and when it was last active (the spec's
// "Last Active:" line). The engine talks to it through the small Registry
// interface. This first implementation is a JSON file written atomically
// (temp file, fsync, rename) under an advisory lock, so a crash or SIGKILL
// leaves either the old or the new file, never a torn one. A later store
// adds history and run locks behind the same interface.
package registry
