package transport

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// A persistent connection (Options.ControlPersist) is omni's own take on
// OpenSSH's ControlMaster/ControlPersist: the first run that needs a host
// starts, beside its own fresh connection, a background process (the
// master: the same binary, re-executed with MasterArg) that connects to
// the host through the usual path (host key verified, bastions,
// keepalives) and serves that connection on a Unix socket. The next runs
// speak SSH to the master over the socket instead of connecting to the
// host: the TCP connect, the key exchange and the login, some six round
// trips over a WAN, are gone; every channel and request still crosses the
// link and is counted as before. See master.go for the master's side.

// MasterArg is the hidden first argument with which omni's binary runs as
// a master (MasterMain); main dispatches on it.
const MasterArg = "__omni-control-master"

// ControlPersistEnv is the environment variable that sets ControlPersist
// for one run (a Go duration; "0" turns it off), over the inventory.
const ControlPersistEnv = "OMNI_CONTROL_PERSIST"

// DefaultControlDir is the directory of the masters' sockets:
// $XDG_RUNTIME_DIR/omni, else /tmp/omni-UID. It must belong to the user
// and be closed to everyone else (0700); omni creates it so.
func DefaultControlDir() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, "omni")
	}
	return filepath.Join(os.TempDir(), "omni-"+strconv.Itoa(os.Getuid()))
}

// controlPaths are the files of one endpoint's master, in the control
// directory: the socket, the master's public host key (which clients pin),
// the lock its master holds (with its PID in it), and its log.
type controlPaths struct {
	sock, key, lock, log string
}

// controlPathsFor names ep's master by a hash of what makes the
// connection: user, address, port, identity files, known_hosts file and
// the bastions it goes through, each with theirs. Two endpoints that
// differ in any of them never share a master.
func controlPathsFor(dir string, ep Endpoint) controlPaths {
	type identity struct {
		User, Address string
		Port          int
		Identities    []string
		KnownHosts    string
		More          []string `json:",omitempty"`
		Only          bool     `json:",omitempty"` // IdentitiesOnly
		Via           any
	}
	var id func(ep *Endpoint) any
	id = func(ep *Endpoint) any {
		if ep == nil {
			return nil
		}
		return identity{ep.User, ep.Address, ep.Port, ep.IdentityFiles, ep.KnownHosts, ep.MoreKnownHosts, ep.IdentitiesOnly, id(ep.Via)}
	}
	blob, _ := json.Marshal(id(&ep))
	sum := sha256.Sum256(blob)
	base := filepath.Join(dir, hex.EncodeToString(sum[:10]))
	return controlPaths{sock: base + ".sock", key: base + ".key", lock: base + ".lock", log: base + ".log"}
}

// ensureControlDir creates dir (0700) when missing and checks, on every
// use as OpenSSH does, that it is a directory (not a link) owned by the
// user and closed to group and others. A directory that fails the check
// is refused: no persistent connection.
func ensureControlDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("control directory %s: %w", dir, err)
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("control directory %s: %w", dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("control directory %s is not a directory", dir)
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("control directory %s belongs to uid %d, not to this user (uid %d)", dir, st.Uid, os.Getuid())
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("control directory %s has mode %#o: it must be closed to group and others (0700)", dir, perm)
	}
	return nil
}

// tryLock takes the master's lock file without waiting; false when
// another process holds it (a master is running or starting).
func tryLock(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return f, true, nil
}
