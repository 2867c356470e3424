package cli

import (
	"context"

	"github.com/alecthomas/kingpin/v2"
)

// addConfigGroup registers `omni config` with the commands of
// config_extra.go. TEMPORARY: the group's own file (with apply and diff)
// replaces this one; it calls addConfigExtraCommands(cfg, g, s, run).
func addConfigGroup(app *kingpin.Application, g *globalOptions, s Streams, run *func(context.Context) error) {
	cfg := app.Command("config", "Each service's declared configuration (env, drop-ins, files): show it, pull it from a host, its history, roll it back (docs/config.md).")
	addConfigExtraCommands(cfg, g, s, run)
}
