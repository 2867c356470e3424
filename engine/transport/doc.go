// Package transport opens and shares the SSH connections omni uses to reach
// the hosts of an inventory, and runs commands over them.
//
// A Pool holds one connection per host for the life of a command, dialled
// on first use, unless its callers release it (Pool.Release) once done, as
// a status of many hosts does; hosts behind a bastion are reached through
// the bastion's own pooled connection. Every dial verifies the host key
// against a known_hosts file (host-key checking is never skipped), which the
// pool parses once and reads again whenever the file changes;
// authenticates with ssh-agent and identity files without ever prompting;
// and reports failures as typed errors (*UnreachableError, *AuthError,
// *HostKeyError) that name the host. Connecting is bounded by the
// endpoint's ConnectTimeout, the TCP connect and the handshake each; once
// connected, keepalives (ServerAliveInterval × ServerAliveCountMax, as in
// OpenSSH, on by default) find a dead link, and the connection, with every
// command on it and every connection through it, is then lost: an
// *UnreachableError that says why (keepalive.go).
//
// Commands run through Client.Run or Client.Stream, many at once on one
// connection, with a POSIX shell: every value put into a remote command
// must go through Quote (or Sudo). Run feeds its commands, one at a time,
// to one long-lived remote shell per connection, so that a restart costs
// the host one SSH session rather than one per step (shell.go). Cancelling the context of
// a running command kills it on the remote host, with its process group,
// which the SSH "signal" request alone cannot do against OpenSSH (it ignores
// the request for root logins).
//
// Each Client counts the round trips it waits for after authentication
// (Client.RoundTrips, roundtrips.go), exactly, whatever the timing.
//
// golang.org/x/crypto/ssh does the protocol work; the connected *ssh.Client
// is also wrapped in a goph.Client for callers that want goph's helpers
// (SFTP upload and download). goph's own dialing is not used: it hard-codes
// port 22, its timeout does not cover the handshake and it cannot hop
// through a bastion.
package transport
