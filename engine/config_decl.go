package engine

import (
	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/inventory"
)

// DeclaresConfig reports whether the service declares configuration on
// the host (any host when h is nil): env, a drop-in or files.
func DeclaresConfig(inv *inventory.Inventory, h *inventory.Host, svc *inventory.Service) bool {
	host := ""
	if h != nil {
		host = h.Name
	}
	return config.Declares(inv, host, svc.Name)
}
