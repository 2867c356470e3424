package manager

// KillTreeScript defines omni_kill_tree and what it needs, for the tests
// of the external test package.
const KillTreeScript = procReaders + "\n" + killTree
