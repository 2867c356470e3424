// Package sshconfig reads the OpenSSH client configuration (~/.ssh/config)
// for the settings omni honours when it connects to a host: HostName, Port,
// User, IdentityFile, ProxyJump (and ProxyCommand, only to refuse it),
// UserKnownHostsFile, ServerAliveInterval and ServerAliveCountMax.
//
// github.com/kevinburke/ssh_config parses the file and matches Host
// patterns; like OpenSSH, the first value found for a key wins, in file
// order, `Host *` blocks included. This package adds what that library
// leaves to its callers: typed values with the file and line of a bad one,
// ProxyJump lists, the expansion of ~, %-tokens and ${VAR} in paths, and
// Match blocks it cannot evaluate, which are ignored with a warning instead
// of failing the whole file.
//
// How these settings combine with the inventory's is decided by the engine
// (engine.Endpoint); docs/ssh-config.md describes it for users.
package sshconfig
