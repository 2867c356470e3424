package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Names of the lab's files, relative to its directory.
const (
	stateFile      = "lab.json"
	serveFile      = "serve.json"
	endpointsFile  = "endpoints.json"
	clientKeyFile  = "client_key"
	knownHostsFile = "known_hosts"
	inventoryFile  = "inventory.yaml"
	registryFile   = "registry.db" // a bbolt file, as registry.Open makes
	// legacyRegistryFile is the registry's name in labs made before it was
	// called registry.db (it was a bbolt file then too); up and down
	// remove it with the rest.
	legacyRegistryFile = "state.json"
	logFile            = "lab.log"
	lockFile           = ".lock"
	runDir             = "run"
	logsDir            = "logs"
)

// labFiles are the files and directories Down removes.
var labFiles = []string{
	stateFile, serveFile, endpointsFile, clientKeyFile, clientKeyFile + ".pub",
	knownHostsFile, inventoryFile, registryFile, registryFile + ".lock", legacyRegistryFile, legacyRegistryFile + ".lock",
	logFile, runDir, logsDir, lockFile,
}

// EnvDir is the environment variable every command run through the lab's
// SSH gets, set to the lab directory; the services inherit it.
const EnvDir = "OMNI_LAB_DIR"

// EnvHost is set, in the same commands, to the name of the host that runs them.
const EnvHost = "OMNI_LAB_HOST"

// DefaultDir is $XDG_STATE_HOME/omni/lab, or ~/.local/state/omni/lab.
func DefaultDir() (string, error) {
	if dir := os.Getenv("XDG_STATE_HOME"); dir != "" {
		return filepath.Join(dir, "omni", "lab"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("lab: no state directory (set XDG_STATE_HOME or HOME, or pass --dir): %w", err)
	}
	return filepath.Join(home, ".local", "state", "omni", "lab"), nil
}

// absDir returns dir as a clean absolute path (DefaultDir when empty): the
// form recorded in OMNI_LAB_DIR and in serve's command line.
func absDir(dir string) (string, error) {
	if dir == "" {
		var err error
		if dir, err = DefaultDir(); err != nil {
			return "", err
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("lab directory %s: %w", dir, err)
	}
	// A symlink is the directory it points to: the lab's lock, files and
	// clean-up all work there, whichever name up, status and down are
	// given (up took its lock through the link, then removed the link and
	// built the lab in a new directory in its place).
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("lab directory %s: %w", dir, err)
	}
	return abs, nil
}

// State is the lab as `lab up` recorded it in DIR/lab.json.
type State struct {
	Version   int        `json:"version"`
	Dir       string     `json:"dir"`
	From      string     `json:"from"`      // the source inventory, absolute
	Omni      string     `json:"omni"`      // the omni binary serve and the services run
	ServePID  int        `json:"serve_pid"` // the `omni lab serve` process
	Created   time.Time  `json:"created"`
	Inventory string     `json:"inventory,omitempty"` // the lab inventory, once written
	Hosts     []Endpoint `json:"hosts,omitempty"`     // once every endpoint listens
	// ServicePorts are the ports the services listen on, by service name.
	ServicePorts map[string]int `json:"service_ports,omitempty"`
}

// Endpoint is where one lab host's SSH server listens.
type Endpoint struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	Via     string `json:"via,omitempty"`
}

func readState(dir string) (*State, error) {
	var st State
	if err := readJSON(filepath.Join(dir, stateFile), &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeJSON replaces path atomically with v as indented JSON.
func writeJSON(path string, v any, perm os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), perm)
}

// writeFileAtomic writes data to a temporary file and renames it over
// path, so that a reader never sees a half-written file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// removeLabFiles removes what the lab wrote in dir, but the lock file
// when keepLock, then dir itself if nothing else is left in it.
func removeLabFiles(dir string, keepLock bool) error {
	var errs []error
	for _, name := range labFiles {
		if keepLock && name == lockFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			errs = append(errs, err)
		}
	}
	// Temporary files of interrupted atomic writes.
	for _, name := range labFiles {
		tmps, _ := filepath.Glob(filepath.Join(dir, "."+name+".*"))
		for _, tmp := range tmps {
			os.Remove(tmp)
		}
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, ".state-*.json")) // the registry's
	for _, tmp := range tmps {
		os.Remove(tmp)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) && !isNotEmpty(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}
