package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsCache parses each known_hosts file once per pool, not once per
// connection: on a fleet of N hosts sharing one file, parsing it for every
// handshake costs O(N²) and kept a parsed copy per open connection.
//
// Every lookup checks the file first (one stat): when its size, mtime,
// device or inode differ from those of the parsed copy, or the file
// appeared or disappeared, the file is read again. Appending a key
// (AcceptNewHostKeys) goes through the cache and drops the parsed copy, so
// the next handshake sees the new key. A parsed copy is immutable, and
// shared by the handshakes that took it.
type knownHostsCache struct {
	mu    sync.Mutex // held while a file is stat'ed, read or appended to
	files map[string]*knownHostsFile
	reads int // files parsed (tests)
}

// knownHostsFile is one file as it was read.
type knownHostsFile struct {
	id      fileID
	path    string
	db      ssh.HostKeyCallback // nil when missing
	index   *knownHostsIndex    // the exact lines, by address (nil: none)
	missing bool                // the file does not exist
}

// fileID tells whether a file changed since it was read: its size and
// mtime, and the file itself (os.SameFile: device and inode), which an
// editor or `ssh-keygen -R` replaces by renaming a new file over it.
type fileID struct {
	size  int64
	mtime time.Time
	info  fs.FileInfo
}

func (id fileID) same(other fileID) bool {
	return id.size == other.size && id.mtime.Equal(other.mtime) && os.SameFile(id.info, other.info)
}

func statID(info fs.FileInfo) fileID {
	return fileID{size: info.Size(), mtime: info.ModTime(), info: info}
}

func newKnownHostsCache() *knownHostsCache {
	return &knownHostsCache{files: make(map[string]*knownHostsFile)}
}

// get returns the file at path as it is now, parsed.
func (c *knownHostsCache) get(path string) (*knownHostsFile, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.getLocked(path)
}

func (c *knownHostsCache) getLocked(path string) (*knownHostsFile, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		delete(c.files, path)
		return &knownHostsFile{missing: true}, nil
	case err != nil:
		delete(c.files, path)
		return nil, err
	case !info.Mode().IsRegular():
		// A FIFO or a device would block the read for as long as nothing
		// writes to it, past every timeout.
		delete(c.files, path)
		return nil, fmt.Errorf("%s is not a regular file (%s): a known_hosts file must be one", path, fileKind(info.Mode()))
	}
	id := statID(info)
	if f := c.files[path]; f != nil && f.id.same(id) {
		return f, nil
	}
	// Stat'ed before it is read: a change made while it is read gives the
	// file another identity, so the next lookup reads it again. The index
	// and knownhosts read it separately: the index is kept only when the
	// file kept its identity over both reads.
	content, readErr := os.ReadFile(path)
	db, err := knownhosts.New(path)
	c.reads++
	switch {
	case errors.Is(err, fs.ErrNotExist): // removed since the stat
		delete(c.files, path)
		return &knownHostsFile{missing: true}, nil
	case err != nil:
		delete(c.files, path)
		return nil, err
	}
	f := &knownHostsFile{id: id, path: path, db: db}
	if readErr == nil {
		if after, err := os.Stat(path); err == nil && statID(after).same(id) {
			f.index = newKnownHostsIndex(content)
		}
	}
	c.files[path] = f
	return f, nil
}

// check looks key up for hostname in f; every key is unknown when the file
// is missing.
func (f *knownHostsFile) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	if f.db == nil {
		return &knownhosts.KeyError{}
	}
	if f.index.accepts(hostname, key) {
		return nil
	}
	return f.db(hostname, remote, key)
}

// acceptNew records key as hostPort's in the file at path, unless the file
// as it is now (another connection may have written it meanwhile) already
// says something about that host. It returns the file's verdict on the key
// (nil: known, or recorded now; else why it is refused) and the state of
// the file the verdict comes from, and whether the key was appended now; or
// the error of reading the file again or of appending to it.
func (c *knownHostsCache) acceptNew(path, hostPort string, remote net.Addr, key ssh.PublicKey) (verdict error, f *knownHostsFile, added bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, err = c.getLocked(path); err != nil {
		return nil, nil, false, fmt.Errorf("reading known hosts: %w", err)
	}
	verdict = f.checkFold(hostPort, remote, key)
	hostPort = strings.ToLower(hostPort) // as OpenSSH writes it
	var keyErr *knownhosts.KeyError
	if !errors.As(verdict, &keyErr) || len(keyErr.Want) > 0 {
		return verdict, f, false, nil // known now, changed, revoked, or another failure
	}
	if err := appendKnownHost(path, hostPort, key); err != nil {
		return nil, nil, false, err
	}
	delete(c.files, path) // the next lookup reads the key just written
	return nil, f, true, nil
}

// checkFold is check with the host name matched without regard to case,
// as OpenSSH matches it: as written, then lower-cased (OpenSSH writes
// names lower-cased, hashed ones too), then against the file's plain
// names in any case (an entry written as [WORKER1]:22). A host the file
// knows under another case is never unknown: its key is accepted, or
// refused as changed.
//
// A @cert-authority line is not a key of the host: a plain key (or the
// key of a certificate no authority of the file signed) checked against a
// host that only such lines cover is unknown, as for ssh, not changed.
func (f *knownHostsFile) checkFold(hostname string, remote net.Addr, key ssh.PublicKey) error {
	err := withoutAuthorities(f.check(hostname, remote, key))
	if !isUnknownKey(err) {
		return err
	}
	if lower := strings.ToLower(hostname); lower != hostname {
		if err2 := withoutAuthorities(f.check(lower, remote, key)); !isUnknownKey(err2) {
			return err2
		}
	}
	if f.path == "" {
		return err
	}
	content, rerr := os.ReadFile(f.path)
	if rerr != nil {
		return err
	}
	name := knownhosts.Normalize(hostname)
	var want []knownhosts.KnownKey
	for n, line := range bytes.Split(content, []byte("\n")) {
		marker, hosts, pub, _, _, perr := ssh.ParseKnownHosts(line)
		if perr != nil || marker != "" {
			continue
		}
		for _, h := range hosts {
			if h != name && strings.EqualFold(h, name) {
				if bytes.Equal(pub.Marshal(), key.Marshal()) {
					return nil
				}
				want = append(want, knownhosts.KnownKey{Key: pub, Filename: f.path, Line: n + 1})
			}
		}
	}
	if len(want) > 0 {
		return &knownhosts.KeyError{Want: want}
	}
	return err
}

// withoutAuthorities is err without the @cert-authority lines among the
// keys a *knownhosts.KeyError says the host has.
func withoutAuthorities(err error) error {
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) {
		return err
	}
	var want []knownhosts.KnownKey
	for _, k := range keyErr.Want {
		if !k.CertAuthority {
			want = append(want, k)
		}
	}
	if len(want) == len(keyErr.Want) {
		return err
	}
	return &knownhosts.KeyError{Want: want}
}

// isUnknownKey reports whether err says the host is not in the file.
func isUnknownKey(err error) bool {
	var keyErr *knownhosts.KeyError
	return errors.As(err, &keyErr) && len(keyErr.Want) == 0
}

// fileKind names the kind of a file that is not a regular one.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return m.Type().String()
	}
}
