package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// ConfigRequest is `omni config apply|diff [TARGET] [SERVICE]`.
type ConfigRequest struct {
	Target  string // a host, a role, a glob, a list, all ("" is all)
	Service string // "" every service of the hosts that declares configuration
	// Restart is apply's --restart: RestartAuto, RestartRolling or
	// RestartNone; it decides only what a skipped restart is recorded as.
	Restart     string
	DryRun      bool
	Forks       int
	LockTimeout time.Duration
}

// The --restart modes of `omni config apply`.
const (
	RestartAuto    = "auto"
	RestartRolling = "rolling"
	RestartNone    = "none"
)

// configUnit is one (host, service) with declared configuration, rendered.
type configUnit struct {
	svc *inventory.Service
	set config.Set
}

// configHost is one host of a config command and its services' sets.
type configHost struct {
	host  *inventory.Host
	units []configUnit
}

// sudo says whether the host's config commands run under sudo -n: when
// any of its services' do (a file of a sudo service may need root; sudo
// where it was not needed is harmless).
func (h configHost) sudo() bool {
	for _, u := range h.units {
		if (manager.Target{Host: h.host, Service: u.svc}).Sudo() {
			return true
		}
	}
	return false
}

// files is every file of the host's sets, in service order.
func (h configHost) files() []config.File {
	var out []config.File
	for _, u := range h.units {
		out = append(out, u.set.Files...)
	}
	return out
}

// configTargets resolves a config command's target and service into the
// hosts and rendered sets it acts on. Rendering reads the sources of
// files: and of secret values; it fails the whole command (exit 2) before
// any host is touched. A named service no host of the target runs, or
// that declares nothing, is a *UsageError; so is a target where no
// service declares configuration.
func configTargets(inv *inventory.Inventory, req ConfigRequest) ([]configHost, error) {
	target := req.Target
	if target == "" {
		target = "all"
	}
	hosts, err := inv.Select(target)
	if err != nil {
		return nil, err
	}
	if req.Service != "" {
		svc, err := inv.Service(req.Service)
		if err != nil {
			return nil, err
		}
		if !DeclaresConfig(inv, nil, svc) {
			return nil, &UsageError{fmt.Sprintf("service %q declares no configuration (env, dropin or files) in the inventory", svc.Name)}
		}
	}
	var out []configHost
	for _, h := range hosts {
		ch := configHost{host: h}
		for _, name := range inv.HostServices(h) {
			if req.Service != "" && name != req.Service {
				continue
			}
			svc, err := inv.Service(name)
			if err != nil || !svc.Enabled {
				continue
			}
			if !DeclaresConfig(inv, h, svc) {
				continue
			}
			set, err := config.Render(inv, h.Name, name)
			if err != nil {
				return nil, renderErr(h.Name, name, err)
			}
			if set.Empty() {
				continue
			}
			ch.units = append(ch.units, configUnit{svc: svc, set: set})
		}
		if len(ch.units) > 0 {
			out = append(out, ch)
		}
	}
	if len(out) == 0 {
		what := "no service declares configuration"
		if req.Service != "" {
			what = "no host runs " + req.Service
		}
		return nil, &UsageError{fmt.Sprintf("%s on %q", what, target)}
	}
	return out, nil
}

// configLockKeys are the (host, service) pairs a config command may write.
func configLockKeys(hosts []configHost) []string {
	var keys []string
	for _, h := range hosts {
		for _, u := range h.units {
			keys = append(keys, registry.LockKey(h.host.Name, u.svc.Name))
		}
	}
	sort.Strings(keys)
	return keys
}

// refuseReloadOnCommand: on_change: reload needs a manager that can
// reload; the command manager has no reload command.
func refuseReloadOnCommand(hosts []configHost) error {
	var bad []string
	seen := map[string]bool{}
	for _, h := range hosts {
		for _, u := range h.units {
			if u.svc.Manager != manager.Command || seen[u.svc.Name] {
				continue
			}
			for _, f := range u.set.Files {
				if onChangeOf(f) == config.OnChangeReload {
					seen[u.svc.Name] = true
					bad = append(bad, fmt.Sprintf("%s (%s)", u.svc.Name, f.Path))
					break
				}
			}
		}
	}
	if len(bad) > 0 {
		return &UsageError{"on_change: reload needs a systemd service (the command manager has no reload command): " +
			strings.Join(bad, ", ") + "; use on_change: restart or none"}
	}
	return nil
}
