package engine

import (
	"github.com/omni-fleet/omni/inventory"
)

// DeclaresConfig reports whether the service declares configuration on
// the host (on any host when h is nil): env, a drop-in or files, its own
// or a host's override.
func DeclaresConfig(inv *inventory.Inventory, h *inventory.Host, svc *inventory.Service) bool {
	if h != nil {
		return !inv.ConfigOf(h, svc).Empty()
	}
	if !svc.Config.Empty() {
		return true
	}
	for _, h := range inv.Hosts {
		if o := h.Config[svc.Name]; o != nil && len(o.Env)+len(o.Dropin)+len(o.Files) > 0 {
			return true
		}
	}
	return false
}

// declares is DeclaresConfig by names.
func declares(inv *inventory.Inventory, host, service string) bool {
	h, err := inv.Host(host)
	if err != nil {
		return false
	}
	svc, err := inv.Service(service)
	if err != nil {
		return false
	}
	return DeclaresConfig(inv, h, svc)
}

// envFileOf is the service's environment file on the host when it
// declares env, else "": what the command manager exports.
func envFileOf(inv *inventory.Inventory, h *inventory.Host, svc *inventory.Service) string {
	if inv == nil || h == nil || svc == nil {
		return ""
	}
	if svc.Config.Empty() && h.Config[svc.Name] == nil {
		return "" // the common case, without copying anything
	}
	c := inv.ConfigOf(h, svc)
	if len(c.Env) == 0 {
		return ""
	}
	return c.EnvFile
}
