package transport

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"
)

// knownHostsIndex answers the common known_hosts lookups in O(1): the
// lines whose host patterns are all exact ("host", "host:port",
// "[host]:port": no wildcard, negation or hash) are indexed by host and
// port. x/crypto's knownhosts walks every line for every lookup, which on a
// fleet of N hosts sharing one file costs O(N²).
//
// The index only ever says yes: accepts reports that the file lists key for
// the address on an exact line and that nothing in the file revokes it, an
// answer x/crypto's knownhosts gives too. Every other answer (unknown,
// changed, revoked, a certificate, a line the index does not cover) comes
// from knownhosts itself, which stays the authority. The parsing below is
// knownhosts' own (v0.59.0, knownhosts.go: Read, parseLine,
// newHostnameMatcher), so a line it skips is skipped here too.
type knownHostsIndex struct {
	byAddr  map[indexAddr][]indexedKey
	revoked map[string]bool // plain key blobs of @revoked lines
	// exactOnly: every host line of the file is indexed (none has a
	// wildcard, negation or hash; no @cert-authority line), so the keys
	// listed under an address are all the keys the file has for it.
	exactOnly bool
	// unsafe: a @revoked line could not be parsed here; the index is not
	// used at all, lest it accept a key knownhosts would refuse.
	unsafe bool
}

type indexAddr struct{ host, port string }

type indexedKey struct {
	blob []byte // the key, marshalled
	typ  string
	cert bool // an @cert-authority line: never accepted by the index
}

// newKnownHostsIndex indexes the content of a known_hosts file.
func newKnownHostsIndex(content []byte) *knownHostsIndex {
	idx := &knownHostsIndex{byAddr: make(map[indexAddr][]indexedKey), revoked: make(map[string]bool), exactOnly: true}
	scanner := bufio.NewScanner(bytes.NewReader(content))
	for scanner.Scan() {
		line := bytes.Trim(scanner.Bytes(), " \t")
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		marker, pattern, key, err := parseKnownHostsLine(line)
		switch {
		case err != nil && bytes.HasPrefix(line, []byte("@revoked")):
			idx.unsafe = true
		case err != nil: // knownhosts skips it too
		case marker == "@revoked":
			idx.revoked[plainKeyBlob(key)] = true
		default:
			idx.add(marker == "@cert-authority", pattern, key)
		}
	}
	if scanner.Err() != nil { // knownhosts.New fails on the same file
		idx.unsafe = true
	}
	return idx
}

// add indexes one host line under each of its addresses, when all its
// patterns are exact.
func (idx *knownHostsIndex) add(cert bool, pattern string, key ssh.PublicKey) {
	if cert {
		idx.exactOnly = false
	}
	if pattern[0] == '|' {
		idx.exactOnly = false
		return
	}
	var addrs []indexAddr
	for _, p := range strings.Split(pattern, ",") {
		if len(p) == 0 {
			continue
		}
		if p[0] == '!' || strings.ContainsAny(p, "*?") {
			idx.exactOnly = false
			return
		}
		var a indexAddr
		var err error
		if p[0] == '[' {
			if a.host, a.port, err = net.SplitHostPort(p); err != nil {
				return // knownhosts skips the line
			}
		} else if a.host, a.port, err = net.SplitHostPort(p); err != nil {
			a.host, a.port = p, "22"
		}
		addrs = append(addrs, a)
	}
	k := indexedKey{blob: key.Marshal(), typ: key.Type(), cert: cert}
	for _, a := range addrs {
		idx.byAddr[a] = append(idx.byAddr[a], k)
	}
}

// accepts reports whether the file lists key for hostPort on an exact line
// and does not revoke it: then knownhosts accepts it too. False means "ask
// knownhosts", not "refused".
func (idx *knownHostsIndex) accepts(hostPort string, key ssh.PublicKey) bool {
	if idx == nil || idx.unsafe {
		return false
	}
	if _, isCert := key.(*ssh.Certificate); isCert {
		return false
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	blob := key.Marshal()
	if idx.revoked[string(blob)] { // plainKeyBlob of a key that is no certificate
		return false
	}
	for _, k := range idx.byAddr[indexAddr{host, port}] {
		if !k.cert && bytes.Equal(k.blob, blob) {
			return true
		}
	}
	return false
}

// keyTypes returns the types of the keys the file lists for hostPort, in
// the file's order, and whether the index knows them all (else ask
// knownhosts).
func (idx *knownHostsIndex) keyTypes(hostPort string) ([]string, bool) {
	if idx == nil || idx.unsafe || !idx.exactOnly {
		return nil, false
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return nil, false
	}
	keys := idx.byAddr[indexAddr{host, port}]
	types := make([]string, len(keys))
	for i, k := range keys {
		types[i] = k.typ
	}
	return types, true
}

// parseKnownHostsLine is knownhosts' parseLine: the marker, the host
// pattern and the key of one line.
func parseKnownHostsLine(line []byte) (marker, host string, key ssh.PublicKey, err error) {
	if w, next := knownHostsWord(line); w == "@cert-authority" || w == "@revoked" {
		marker = w
		line = next
	}
	host, line = knownHostsWord(line)
	if len(host) > 0 && host[0] == '@' {
		return "", "", nil, errIndexSkip
	}
	if len(line) == 0 {
		return "", "", nil, errIndexSkip
	}
	wantType, line := knownHostsWord(line)
	if len(line) == 0 {
		return "", "", nil, errIndexSkip
	}
	keyBlob, _ := knownHostsWord(line)
	keyBytes, err := base64.StdEncoding.DecodeString(keyBlob)
	if err != nil {
		return "", "", nil, err
	}
	if key, err = ssh.ParsePublicKey(keyBytes); err != nil {
		return "", "", nil, err
	}
	if key.Type() != wantType {
		return "", "", nil, errIndexSkip
	}
	return marker, host, key, nil
}

func knownHostsWord(line []byte) (string, []byte) {
	i := bytes.IndexAny(line, "\t ")
	if i == -1 {
		return string(line), nil
	}
	return string(line[:i]), bytes.Trim(line[i:], " \t")
}

// errIndexSkip marks a line knownhosts would skip.
var errIndexSkip = &indexSkipError{}

type indexSkipError struct{}

func (*indexSkipError) Error() string { return "known_hosts line skipped" }

// plainKeyBlob is knownhosts' key of its revoked keys: for a certificate
// the certified key, otherwise the key itself.
func plainKeyBlob(key ssh.PublicKey) string {
	if cert, ok := key.(*ssh.Certificate); ok {
		return string(cert.Key.Marshal())
	}
	return string(key.Marshal())
}
