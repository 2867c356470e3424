// Package sshconfig reads the OpenSSH client configuration (~/.ssh/config)
// for the settings omni honours when it connects to a host: HostName, Port,
// User, IdentityFile, ProxyJump (and ProxyCommand, only to refuse it),
// UserKnownHostsFile, ServerAliveInterval and ServerAliveCountMax.
//
// omni walks the file's structure itself, as OpenSSH's readconf.c does
// (include.go): Host and Match blocks, evaluated with OpenSSH's pattern
// rules (pattern.go: `*` any run, `?` exactly one character, `!` negates,
// host names without regard to case), and Include, whose files get the
// same treatment as the top file and apply only within the block that
// holds the Include line. github.com/kevinburke/ssh_config parses only
// the "Keyword value" lines. Like OpenSSH, the first value found for a
// key wins, in the order the lines are read, `Host *` blocks included.
// This package also gives typed values with the file and line of a bad
// one, ProxyJump lists, the expansion of ~, %-tokens and ${VAR} in paths,
// and ignores, with a warning, the Match blocks it cannot evaluate
// instead of failing the whole file.
//
// How these settings combine with the inventory's is decided by the engine
// (engine.Endpoint); docs/ssh-config.md describes it for users.
package sshconfig
