package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

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
	// verified is the key the callback accepted: the one presented, or
	// the plain key of a certificate it checked as a plain key; verifiedAs
	// the name known_hosts knows it for ("host:port", or "host:22" when
	// found without the port).
	verified   ssh.PublicKey
	verifiedAs string
}

// knows reports whether the files list key for hostPort.
func (h *hostKeyCheck) knows(hostPort string, remote net.Addr, key ssh.PublicKey) bool {
	return h.checkAll(h.file.checkFold(hostPort, remote, key), hostPort, remote, key) == nil
}

// knowsPlain is knows for hostPort, else for the host without the port.
func (h *hostKeyCheck) knowsPlain(hostPort string, remote net.Addr, key ssh.PublicKey) bool {
	if h.knows(hostPort, remote, key) {
		return true
	}
	bare, ok := withoutPort(hostPort)
	return ok && h.knows(bare, remote, key)
}

// withoutPort is hostPort with ssh's default port, for the second lookup
// ssh makes for a host on another port that known_hosts does not list:
// "checking without port identifier" (an entry for the plain host name
// then counts). False when hostPort is on port 22 already.
func withoutPort(hostPort string) (string, bool) {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil || port == "22" {
		return "", false
	}
	return net.JoinHostPort(host, "22"), true
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
	files := append([]*knownHostsFile{h.file}, h.more...)
	for _, f := range files {
		t, ca := f.keyTypes(h.ep.hostPort())
		types, authority = append(types, t...), authority || ca
	}
	if bare, ok := withoutPort(h.ep.hostPort()); ok && len(types) == 0 && !authority {
		// Nothing for [host]:port: what the host itself is known by
		// counts, as in the check (withoutPort).
		for _, f := range files {
			t, ca := f.keyTypes(bare)
			types, authority = append(types, t...), authority || ca
		}
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
	if cert, ok := key.(*ssh.Certificate); ok {
		refusal, trusted, name := h.checkCertificate(hostname, remote, cert)
		if refusal == nil && !trusted {
			if bare, ok := withoutPort(hostname); ok {
				// No authority covers [host]:port: ssh checks again
				// "without port identifier".
				refusal, trusted, name = h.checkCertificate(bare, remote, cert)
			}
		}
		if trusted {
			h.verified, h.verifiedAs = key, name
			return nil
		}
		if refusal != nil && (refusal.Certificate == "" || refusal.Revoked || !h.knowsPlain(hostname, remote, cert.Key)) {
			h.refused = refusal
			return refusal
		}
		// No authority of any file signed it (or it is not valid, but its
		// plain key is listed): as ssh does ("No matching CA found. Retry
		// with plain key"), the certificate's own key is checked, and
		// recorded when new and accepted, never the certificate. The
		// server proved it holds that key in the key exchange.
		key = cert.Key
	}
	// Host names are matched without regard to case, as OpenSSH does: a
	// host known as worker1 is not unknown as WORKER1 (its changed key
	// would be taken for a new one), nor the other way round.
	file := h.file
	err := h.checkAll(file.checkFold(hostname, remote, key), hostname, remote, key)
	if isUnknownKey(err) {
		if bare, ok := withoutPort(hostname); ok && h.knows(bare, remote, key) {
			// Not listed for [host]:port at all, but for the host
			// itself: ssh's "found matching key w/out port".
			h.verified, h.verifiedAs = key, bare
			return nil
		}
	}
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
		h.verified, h.verifiedAs = key, hostname
		return nil
	}
	refusal := h.refusal(key, file)
	refusal.Err = err
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

// refusal is the HostKeyError for key, as checked against file; a
// certificate is named by its type and its key's fingerprint (what
// ssh-keygen -lf prints for it).
func (h *hostKeyCheck) refusal(key ssh.PublicKey, file *knownHostsFile) *HostKeyError {
	fingerprint := ssh.FingerprintSHA256(key)
	if cert, ok := key.(*ssh.Certificate); ok {
		fingerprint = ssh.FingerprintSHA256(cert.Key)
	}
	return &HostKeyError{
		Host:        h.ep.Name,
		Address:     h.ep.hostPort(),
		KeyType:     key.Type(),
		Fingerprint: fingerprint,
		KnownHosts:  h.ep.KnownHosts,
		FileMissing: file.missing,
	}
}

// checkCertificate is the verdict of every file on a host certificate
// for hostPort, as ssh gives it: refused when its key or its authority is
// @revoked in any file; trusted when a @cert-authority line of any file
// that covers the host signed it and it is valid (type, principal, dates,
// signature), with the name the authority covers; refused, saying why in
// HostKeyError.Certificate, when such authorities signed it but it is not
// valid for any of them. Neither (refusal nil, trusted false) when no
// file has an authority for the host that signed it: a file without one
// does not know the host through a certificate, and says nothing against
// another file's authority.
func (h *hostKeyCheck) checkCertificate(hostPort string, remote net.Addr, cert *ssh.Certificate) (refusal *HostKeyError, trusted bool, name string) {
	files := append([]*knownHostsFile{h.file}, h.more...)
	for _, f := range files {
		for _, k := range []ssh.PublicKey{cert.Key, cert.SignatureKey} {
			var revoked *knownhosts.RevokedError
			if err := f.check(hostPort, remote, k); errors.As(err, &revoked) {
				refusal = h.refusal(cert, f)
				refusal.Revoked, refusal.Err = true, err
				refusal.KnownHosts, refusal.Line = revoked.Revoked.Filename, revoked.Revoked.Line
				if k == cert.SignatureKey {
					refusal.Certificate = fmt.Sprintf("its authority's key %s %s is @revoked at %s:%d",
						k.Type(), ssh.FingerprintSHA256(k), revoked.Revoked.Filename, revoked.Revoked.Line)
				}
				return refusal, false, ""
			}
		}
	}
	for _, f := range files {
		name, authority, ok := f.authorityFor(hostPort, cert.SignatureKey)
		if !ok {
			continue
		}
		err := f.db(name, remote, cert)
		if err == nil {
			return nil, true, name
		}
		if refusal == nil {
			refusal = h.refusal(cert, f)
			refusal.Err = err
			refusal.KnownHosts, refusal.Line = authority.Filename, authority.Line
			refusal.Certificate = certificateProblem(cert, name, err) +
				fmt.Sprintf(" (its authority: %s:%d)", authority.Filename, authority.Line)
		}
	}
	return refusal, false, ""
}

// authorityFor returns the @cert-authority line of f with key ca that
// covers hostname (as written, else lower-cased, as ssh matches it), and
// the name it covers.
func (f *knownHostsFile) authorityFor(hostname string, ca ssh.PublicKey) (name string, line knownhosts.KnownKey, ok bool) {
	if f.db == nil {
		return "", line, false
	}
	names := []string{hostname}
	if lower := strings.ToLower(hostname); lower != hostname {
		names = append(names, lower)
	}
	for _, name := range names {
		var keyErr *knownhosts.KeyError
		if err := f.db(name, placeholderAddr, probeKey{}); !errors.As(err, &keyErr) {
			continue
		}
		for _, known := range keyErr.Want {
			if known.CertAuthority && bytes.Equal(known.Key.Marshal(), ca.Marshal()) {
				return name, known, true
			}
		}
	}
	return "", line, false
}

// certificateProblem says what is wrong with a host certificate that an
// authority of known_hosts signed but that x/crypto's checks refused
// (err) for hostPort.
func certificateProblem(cert *ssh.Certificate, hostPort string, err error) string {
	host, _, splitErr := net.SplitHostPort(hostPort)
	if splitErr != nil {
		host = hostPort
	}
	now := time.Now()
	const layout = "2006-01-02 15:04:05 MST"
	switch {
	case cert.CertType != ssh.HostCert:
		return "it is not a host certificate"
	case len(cert.ValidPrincipals) > 0 && !slices.Contains(cert.ValidPrincipals, host):
		return fmt.Sprintf("it is for %s, not %s", strings.Join(cert.ValidPrincipals, ", "), host)
	case cert.ValidBefore != ssh.CertTimeInfinity && uint64(now.Unix()) >= cert.ValidBefore:
		return "it expired at " + time.Unix(int64(cert.ValidBefore), 0).Format(layout)
	case uint64(now.Unix()) < cert.ValidAfter:
		return "it is not valid before " + time.Unix(int64(cert.ValidAfter), 0).Format(layout)
	default:
		return strings.TrimPrefix(err.Error(), "ssh: ")
	}
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
