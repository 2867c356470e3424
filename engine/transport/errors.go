package transport

import (
	"errors"
	"fmt"
	"strings"
)

// UnreachableError reports a host that could not be connected to: the TCP
// connect failed or timed out, or the SSH handshake did not complete.
type UnreachableError struct {
	Host    string // inventory name
	Address string // host:port dialled
	Reason  string // short, human: "connection refused", "timed out after 10s during SSH handshake"
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%s (%s): unreachable: %s", e.Host, e.Address, e.Reason)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// OutputError reports a command's output that could not be written where
// its caller sent it (Stream's writers: a pipe whose reader left, a full
// disk): the command was killed. The failure is the caller's side, not the
// host's, which answered.
type OutputError struct {
	Host string // inventory name
	Err  error  // the writer's error
}

func (e *OutputError) Error() string {
	return fmt.Sprintf("%s: writing the command's output: %v", e.Host, e.Err)
}

func (e *OutputError) Unwrap() error { return e.Err }

// AuthError reports a server that refused every credential offered.
type AuthError struct {
	Host    string
	Address string
	User    string
	// Tried lists the credentials offered: "ssh-agent" and key file paths.
	Tried []string
	// Skipped lists credentials that could not be offered, with the reason:
	// "/home/x/.ssh/id_rsa (passphrase-protected; load it into ssh-agent)".
	Skipped []string
	Err     error
}

func (e *AuthError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): authentication as %q refused: ", e.Host, e.Address, e.User)
	if len(e.Tried) == 0 {
		b.WriteString("no credentials to offer")
	} else {
		b.WriteString("tried " + strings.Join(e.Tried, ", "))
	}
	if len(e.Skipped) > 0 {
		b.WriteString("; skipped " + strings.Join(e.Skipped, ", "))
	}
	return b.String()
}

func (e *AuthError) Unwrap() error { return e.Err }

// HostKeyError reports a host key that known_hosts does not vouch for.
type HostKeyError struct {
	Host        string
	Address     string
	KeyType     string // of the key the server offered, e.g. "ssh-ed25519"
	Fingerprint string // ssh.FingerprintSHA256 of the offered key
	// Changed is true when known_hosts has other keys for this host: the
	// key changed, or someone is in the middle. False means unknown host.
	Changed bool
	// Revoked is true when the offered key is marked @revoked.
	Revoked bool
	// KnownHosts is the file checked; Line is the line of the conflicting
	// (or revoking) entry when Changed or Revoked.
	KnownHosts string
	Line       int
	// FileMissing is true when KnownHosts does not exist.
	FileMissing bool
	// Certificate says what is wrong with the host certificate the server
	// presented, when an authority of known_hosts signed it but it cannot
	// be trusted ("it expired at …", "it is for web1, not web2"; its
	// authority @revoked): KnownHosts and Line are then the authority's.
	Certificate string
	Err         error
}

func (e *HostKeyError) Error() string {
	key := e.KeyType + " " + e.Fingerprint
	switch {
	case e.Certificate != "":
		return fmt.Sprintf("%s (%s): host certificate %s cannot be trusted: %s; connection refused",
			e.Host, e.Address, key, e.Certificate)
	case e.Revoked:
		return fmt.Sprintf("%s (%s): host key %s is REVOKED at %s:%d; connection refused",
			e.Host, e.Address, key, e.KnownHosts, e.Line)
	case e.Changed:
		return fmt.Sprintf("%s (%s): HOST KEY HAS CHANGED: server offered %s, %s:%d has a different key"+
			" — possible man-in-the-middle; connection refused", e.Host, e.Address, key, e.KnownHosts, e.Line)
	case e.FileMissing:
		return fmt.Sprintf("%s (%s): host key is not known: %s is not in %s, which does not exist"+
			" (add it, or pass --accept-new-host-keys)", e.Host, e.Address, key, e.KnownHosts)
	default:
		return fmt.Sprintf("%s (%s): host key is not known: %s is not in %s"+
			" (add it, or pass --accept-new-host-keys)", e.Host, e.Address, key, e.KnownHosts)
	}
}

func (e *HostKeyError) Unwrap() error { return e.Err }

// IsUnreachable reports whether err is a host that could not be reached:
// its connection failed, timed out or was lost (*UnreachableError), it
// refused every credential (*AuthError), or its host key is not trusted
// (*HostKeyError). It is the one classification of "unreachable": exit 4
// and a fleet host's "unreachable" result come from it, and so does every
// "host unreachable" in omni's output. Any other error (a command that
// failed or timed out, a unit that is not installed) is from a host that
// answered.
func IsUnreachable(err error) bool {
	var (
		unreachable *UnreachableError
		auth        *AuthError
		hostKey     *HostKeyError
	)
	return errors.As(err, &unreachable) || errors.As(err, &auth) || errors.As(err, &hostKey)
}
