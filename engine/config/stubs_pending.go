package config

// TEMPORARY: the signatures the render and remote helpers of issue 18
// deliver; deleted once they land on main.

import (
	"context"
	"errors"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
)

var errPending = errors.New("config: not yet merged")

// Render is the service's declared configuration on the host.
func Render(inv *inventory.Inventory, host, service string) (Set, error) {
	return Set{Host: host, Service: service}, nil
}

// Declares reports whether the service declares configuration.
func Declares(inv *inventory.Inventory, host, service string) bool { return false }

// EnvFile is the env file of the service on the host, "" when no env is declared.
func EnvFile(inv *inventory.Inventory, host, service string) string { return "" }

// ReadLive reads what the host has at each file's path.
func ReadLive(ctx context.Context, r manager.Runner, sudo bool, files []File, withContent bool) ([]Live, error) {
	return nil, errPending
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	DaemonReload bool
	Timeout      time.Duration
}

// Action is what Apply did to one file.
type Action string

// The actions of Apply.
const (
	Written    Action = "written"
	AttrsFixed Action = "attrs fixed"
	Unchanged  Action = "unchanged"
)

// FileResult is what Apply did to one file.
type FileResult struct {
	Path    string
	Action  Action
	OldHash string
	NewHash string
}

// ApplyResult is what Apply did.
type ApplyResult struct {
	Files          []FileResult
	DaemonReloaded bool
}

// Apply writes the changed files.
func Apply(ctx context.Context, r manager.Runner, sudo bool, files []File, live []Live, opts ApplyOptions) (ApplyResult, error) {
	return ApplyResult{}, errPending
}

// EnvEntry is one key of an environment file and its value.
type EnvEntry struct {
	Key   string
	Value string
}

// ParseEnv reads an environment file written in omni's format.
func ParseEnv(content []byte) ([]EnvEntry, error) { return nil, errPending }
