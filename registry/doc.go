// Package registry is omni's service registry: for each (host, service) the
// last state omni saw, since when, when it was last active (the spec's
// "Last Active:" line) and its health; the history of operations (events);
// and the run lock that keeps two runs off the same services.
//
// Store is the whole contract; Registry is its records part, all the
// engine's record step needs. Two implementations pass the same
// conformance tests:
//
//   - Bolt (OpenBolt), the default: one go.etcd.io/bbolt file in the
//     user's state directory (DefaultPath). Every operation opens the
//     file, runs one transaction and closes it, so several omni processes
//     share it; a crash leaves it as it was before or after a transaction.
//     A lock of a dead process (or, from another machine, one whose
//     heartbeat is stale) is reclaimed.
//   - Etcd (OpenEtcd), for teams running omni from several machines: keys
//     under a prefix; locks are attached to a lease that expires when
//     their run dies.
//
// Open picks one of them from the configuration. A registry file of the
// earlier JSON format is refused with a clear message, never misread.
// docs/registry.md describes the store for users.
package registry
