package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyCheck verifies the key one server offers during one handshake.
type hostKeyCheck struct {
	ep     Endpoint
	file   *knownHostsFile   // ep.KnownHosts as it was when the dial began
	more   []*knownHostsFile // ep.MoreKnownHosts, read with it
	accept bool
	added  func(NewHostKey) // Options.OnNewHostKey
	cache  *knownHostsCache
	// refused is the error the callback refused the key with, reported as
	// is instead of x/crypto's "ssh: handshake failed" wrapping.
	refused error
}

func newHostKeyCheck(ep Endpoint, opts Options, cache *knownHostsCache) (*hostKeyCheck, error) {
	file, err := cache.get(ep.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("%s: reading known hosts: %w", ep.Name, err)
	}
	h := &hostKeyCheck{ep: ep, file: file, accept: opts.AcceptNewHostKeys, added: opts.OnNewHostKey, cache: cache}
	for _, path := range ep.MoreKnownHosts {
		f, err := cache.get(path)
		if err != nil {
			return nil, fmt.Errorf("%s: reading known hosts: %w", ep.Name, err)
		}
		h.more = append(h.more, f)
	}
	return h, nil
}

// checkAll is the verdict of every file on key, as OpenSSH gives it for
// several UserKnownHostsFile files: revoked in any of them, refused; else
// listed in any, known; else changed when any lists other keys for the
// host (their Want, all files'), else unknown. An error other than these
// (a file that could not be read) is returned as it is.
func (h *hostKeyCheck) checkAll(first error, hostname string, remote net.Addr, key ssh.PublicKey) error {
	if len(h.more) == 0 {
		return first
	}
	errs := []error{first}
	for _, f := range h.more {
		errs = append(errs, f.checkFold(hostname, remote, key))
	}
	var known bool
	var keyErr *knownhosts.KeyError
	merged := &knownhosts.KeyError{}
	for _, err := range errs {
		var revoked *knownhosts.RevokedError
		switch {
		case errors.As(err, &revoked):
			return err
		case err == nil:
			known = true
		case errors.As(err, &keyErr):
			merged.Want = append(merged.Want, keyErr.Want...)
		default:
			return err
		}
	}
	if known {
		return nil
	}
	return merged
}

// algorithms returns the host key algorithms to negotiate: those of the keys
// known_hosts lists for this host. Without the restriction the client and
// server could agree on, say, ECDSA for a host known by its ed25519 key, and
// the check would report a changed key. Nil (the defaults) for an unknown
// host.
func (h *hostKeyCheck) algorithms() []string {
	supported := ssh.SupportedAlgorithms().HostKeys
	var algos []string
	var types []string
	authority := false
	for _, f := range append([]*knownHostsFile{h.file}, h.more...) {
		t, ca := f.keyTypes(h.ep.hostPort())
		types, authority = append(types, t...), authority || ca
	}
	if authority {
		// A @cert-authority line covers the host: its certificate
		// algorithms first, whatever its key's type (the authority's
		// may differ), then the plain keys listed for it, as ssh does.
		for _, algo := range supported {
			if strings.HasSuffix(algo, "-cert-v01@openssh.com") {
				algos = append(algos, algo)
			}
		}
	}
	for _, keyType := range types {
		for _, algo := range algorithmsForKeyType(keyType) {
			if slices.Contains(supported, algo) && !slices.Contains(algos, algo) {
				algos = append(algos, algo)
			}
		}
	}
	return algos
}

// keyTypes returns the types of the keys f lists for hostPort, in the
// file's order: from the index when it covers the whole file, else from
// knownhosts (the keys a probe key is refused with); authority says that
// a @cert-authority line covers the host (its key is not the host's, and
// its type is not among types).
func (f *knownHostsFile) keyTypes(hostPort string) (types []string, authority bool) {
	if f.db == nil {
		return nil, false
	}
	if types, ok := f.index.keyTypes(hostPort); ok {
		return types, false
	}
	var keyErr *knownhosts.KeyError
	if err := f.check(hostPort, placeholderAddr, probeKey{}); !errors.As(err, &keyErr) {
		return nil, false
	}
	for _, known := range keyErr.Want {
		if known.CertAuthority {
			authority = true
			continue
		}
		types = append(types, known.Key.Type())
	}
	return types, authority
}

func algorithmsForKeyType(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		// One RSA key signs with any of these; prefer SHA-2.
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// callback is the ssh.HostKeyCallback of the handshake.
func (h *hostKeyCheck) callback(hostname string, remote net.Addr, key ssh.PublicKey) error {
	// Host names are matched without regard to case, as OpenSSH does: a
	// host known as worker1 is not unknown as WORKER1 (its changed key
	// would be taken for a new one), nor the other way round.
	file := h.file
	err := h.checkAll(file.checkFold(hostname, remote, key), hostname, remote, key)
	var keyErr *knownhosts.KeyError
	if h.accept && errors.As(err, &keyErr) && len(keyErr.Want) == 0 {
		// Unknown: record it, unless the file as it is now knows the host
		// (another connection recorded it meanwhile, with this key or not).
		var fileErr error
		var added bool
		err, file, added, fileErr = h.cache.acceptNew(h.ep.KnownHosts, hostname, remote, key)
		if fileErr != nil {
			h.refused = fmt.Errorf("%s (%s): accepting new host key %s %s: %w",
				h.ep.Name, h.ep.hostPort(), key.Type(), ssh.FingerprintSHA256(key), fileErr)
			return h.refused
		}
		if added && h.added != nil {
			h.added(NewHostKey{Host: h.ep.Name, Address: h.ep.hostPort(), KeyType: key.Type(),
				Fingerprint: ssh.FingerprintSHA256(key), KnownHosts: h.ep.KnownHosts})
		}
	}
	if err == nil {
		return nil
	}
	refusal := &HostKeyError{
		Host:        h.ep.Name,
		Address:     h.ep.hostPort(),
		KeyType:     key.Type(),
		Fingerprint: ssh.FingerprintSHA256(key),
		KnownHosts:  h.ep.KnownHosts,
		FileMissing: file.missing,
		Err:         err,
	}
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &revoked):
		refusal.Revoked = true
		refusal.KnownHosts, refusal.Line = revoked.Revoked.Filename, revoked.Revoked.Line
	case errors.As(err, &keyErr) && len(keyErr.Want) > 0:
		refusal.Changed = true
		refusal.KnownHosts, refusal.Line = keyErr.Want[0].Filename, keyErr.Want[0].Line
	case errors.As(err, &keyErr): // unknown, and not accepted
	default:
		h.refused = fmt.Errorf("%s (%s): host key check: %w", refusal.Host, refusal.Address, err)
		return h.refused
	}
	h.refused = refusal
	return refusal
}

// appendKnownHost records key for hostPort at the end of the known_hosts
// file at path, creating the file (0600) and its directory (0700) when
// missing. The caller holds the cache's lock.
func appendKnownHost(path, hostPort string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	host := knownhosts.Normalize(hostPort)
	if !knownHostsName(host) {
		// Never a pattern, a list or a second line: an address that is
		// not a plain host name or IP address (the inventory refuses
		// them; an ssh_config HostName too) is not written.
		return fmt.Errorf("%q is not a host name or IP address that known_hosts can hold", hostPort)
	}
	line := knownhosts.Line([]string{host}, key) + "\n"
	if missing, err := lacksFinalNewline(f); err != nil {
		f.Close()
		return err
	} else if missing {
		line = "\n" + line
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func lacksFinalNewline(f *os.File) (bool, error) {
	info, err := f.Stat()
	if err != nil || info.Size() == 0 {
		return false, err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, info.Size()-1); err != nil && err != io.EOF {
		return false, err
	}
	return last[0] != '\n', nil
}

// placeholderAddr stands in for the remote address when asking known_hosts
// which keys it has for a host: the lookup is by host name.
var placeholderAddr = &net.TCPAddr{IP: net.IPv4zero}

// probeKey matches no known key, so looking it up returns every known key of
// the host in a *knownhosts.KeyError.
type probeKey struct{}

func (probeKey) Type() string                        { return "omni-probe" }
func (probeKey) Marshal() []byte                     { return []byte("omni-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key verifies nothing") }

// knownHostsName reports whether host (knownhosts.Normalize's form:
// "name", or "[name]:port") holds only what a host name, an IPv4 or IPv6
// address (with a zone) and a port are made of: no pattern (*, ?, !),
// list (,), marker (@), comment (#), space or line break.
func knownHostsName(host string) bool {
	if host == "" {
		return false
	}
	for _, r := range host {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".-_:%[]", r):
		default:
			return false
		}
	}
	return true
}
