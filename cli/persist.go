package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
)

// controlPersist is how long the hosts' connections persist after the run
// (transport.Options.ControlPersist): OMNI_CONTROL_PERSIST when set, for a
// one-off, else the inventory's defaults.control_persist; 0, the default,
// is off.
func controlPersist(inv *inventory.Inventory) (time.Duration, error) {
	v, ok := os.LookupEnv(transport.ControlPersistEnv)
	if !ok || v == "" {
		return inv.Defaults.ControlPersist, nil
	}
	if v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: not a duration (use a number and a unit, e.g. \"10m\"; 0 is off)", transport.ControlPersistEnv, v)
	}
	return d, nil
}
