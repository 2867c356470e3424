package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/internal/plural"
)

func addInventoryCommands(app *kingpin.Application, g *globalOptions, s Streams, run *func(context.Context) error) {
	inv := app.Command("inventory", "Work with the inventory.")
	inv.Command("check", "Validate the inventory (no connection is opened) and list hosts, roles and services.").
		Action(func(*kingpin.ParseContext) error {
			*run = func(context.Context) error { return inventoryCheck(g, s) }
			return nil
		})
	addGraphCommand(inv, g, s, run)
}

// inventoryCheck validates the inventory and prints one row per host.
func inventoryCheck(g *globalOptions, s Streams) error {
	inv, err := loadInventory(g)
	if err != nil {
		return err
	}
	if _, err := loadPlaybooks(g); err != nil {
		return err
	}
	if g.Output == "json" {
		return writeJSON(s.Out, newInventoryDoc(g.Inventory, inv))
	}
	table := newTable("Host", "Address", "Via", "Roles", "Services")
	for _, h := range inv.Hosts {
		via := h.Via
		if via == "" {
			via = "-"
		}
		addr := h.Address
		if h.Port != 22 {
			addr += ":" + strconv.Itoa(h.Port)
		}
		table.append(h.Name, addr, via, strings.Join(h.Roles, ", "), strings.Join(inv.HostServices(h), ", "))
	}
	if err := table.render(s); err != nil {
		return err
	}
	enabled := 0
	for _, svc := range inv.Services {
		if svc.Enabled {
			enabled++
		}
	}
	fmt.Fprintf(s.Out, "%s%s is valid: %s, %s, %s (%d enabled).\n", styleFor(s).ok(), g.Inventory,
		plural.N(len(inv.Hosts), "host", "hosts"), plural.N(len(inv.Roles), "role", "roles"), plural.N(len(inv.Services), "service", "services"), enabled)
	return nil
}
