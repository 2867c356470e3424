package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

// Record is what the registry knows of one service on one host.
type Record struct {
	Host       string    `json:"host"`
	Service    string    `json:"service"`
	State      string    `json:"state"`                // "running", "stopped", "failed", ...
	Since      time.Time `json:"since,omitzero"`       // when it entered State
	LastActive time.Time `json:"last_active,omitzero"` // last time it was seen running
	Health     string    `json:"health,omitempty"`     // "passed", "failed: ...", "" when not checked
	UpdatedAt  time.Time `json:"updated_at"`           // when omni wrote this record
}

// Registry stores records. Implementations are safe for use by several
// processes at once.
type Registry interface {
	// Get returns the record of (host, service); ok is false when there is none.
	Get(host, service string) (rec Record, ok bool, err error)
	// Put replaces the record of (rec.Host, rec.Service).
	Put(rec Record) error
	// List returns every record, ordered by host then service.
	List() ([]Record, error)
}

// DefaultPath is where the embedded store lives by default:
// $XDG_STATE_HOME/omni/registry.db, or ~/.local/state/omni/registry.db.
func DefaultPath() (string, error) {
	if dir := os.Getenv("XDG_STATE_HOME"); dir != "" {
		return filepath.Join(dir, "omni", "registry.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("registry: no state directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "omni", "registry.db"), nil
}

// File is a Registry kept in one JSON file: records only, no history, no
// locks. It remains for the callers not yet moved to Store (OpenFile);
// new code uses Open.
type File struct {
	path string
}

type fileData struct {
	Version int      `json:"version"`
	Records []Record `json:"records"`
}

// OpenFile returns the registry stored at path, creating its directory.
// A file that exists but cannot be read or parsed is an error naming it.
func OpenFile(path string) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("registry %s: %w", path, err)
	}
	f := &File{path: path}
	if _, err := f.read(); err != nil {
		return nil, err
	}
	return f, nil
}

// Path is where the registry lives.
func (f *File) Path() string { return f.path }

// Get implements Registry.
func (f *File) Get(host, service string) (Record, bool, error) {
	var rec Record
	var ok bool
	err := f.locked(syscall.LOCK_SH, func() error {
		data, err := f.read()
		if err != nil {
			return err
		}
		for _, r := range data.Records {
			if r.Host == host && r.Service == service {
				rec, ok = r, true
			}
		}
		return nil
	})
	return rec, ok, err
}

// List implements Registry.
func (f *File) List() ([]Record, error) {
	var out []Record
	err := f.locked(syscall.LOCK_SH, func() error {
		data, err := f.read()
		out = data.Records
		return err
	})
	return out, err
}

// Put implements Registry.
func (f *File) Put(rec Record) error {
	return f.locked(syscall.LOCK_EX, func() error {
		data, err := f.read()
		if err != nil {
			return err
		}
		replaced := false
		for i, r := range data.Records {
			if r.Host == rec.Host && r.Service == rec.Service {
				data.Records[i], replaced = rec, true
			}
		}
		if !replaced {
			data.Records = append(data.Records, rec)
		}
		sort.Slice(data.Records, func(i, j int) bool {
			a, b := data.Records[i], data.Records[j]
			if a.Host != b.Host {
				return a.Host < b.Host
			}
			return a.Service < b.Service
		})
		return f.write(data)
	})
}

// locked runs fn holding an advisory lock on PATH.lock, so concurrent omni
// processes never lose each other's updates.
func (f *File) locked(how int, fn func() error) error {
	lf, err := os.OpenFile(f.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("registry %s: %w", f.path, err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), how); err != nil {
		return fmt.Errorf("registry %s: lock: %w", f.path, err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	return fn()
}

func (f *File) read() (fileData, error) {
	var data fileData
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return fileData{Version: 1}, nil
	}
	if err != nil {
		return data, fmt.Errorf("registry %s: %w", f.path, err)
	}
	if err := json.Unmarshal(b, &data); err != nil {
		return data, fmt.Errorf("registry %s is corrupt (%v); move it aside to start a new one", f.path, err)
	}
	return data, nil
}

// write replaces the file atomically: a crash leaves the old or the new file.
func (f *File) write(data fileData) error {
	data.Version = 1
	b, err := json.MarshalIndent(data, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".state-*.json")
	if err != nil {
		return fmt.Errorf("registry %s: %w", f.path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("registry %s: %w", f.path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("registry %s: %w", f.path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("registry %s: %w", f.path, err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("registry %s: %w", f.path, err)
	}
	return nil
}
