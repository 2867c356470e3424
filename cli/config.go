package cli

import (
	"context"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/inventory"
)

// configGroup is the `omni config` command; its subcommands register on
// it (config_apply.go, config_diff.go, and the others beside them).
var configGroupHelp = "Each service's declared configuration (env, systemd drop-ins, files in the inventory): " +
	"diff it against the hosts, apply it (validated, atomic, restarting only what changed)."

// configCommands are the registrations of the config subcommands, each
// from its own file.
var configCommands []func(cmd *kingpin.CmdClause, g *globalOptions, s Streams, run *func(context.Context) error)

func addConfigCommands(app *kingpin.Application, g *globalOptions, s Streams, run *func(context.Context) error) {
	cmd := app.Command("config", configGroupHelp)
	for _, add := range configCommands {
		add(cmd, g, s, run)
	}
}

// configEnv is what the engine's config commands work with: the
// inventory, the connector opened once they hold their lock, and warnings
// on stderr.
func configEnv(g *globalOptions, s Streams, inv *inventory.Inventory) engine.ConfigEnv {
	return engine.ConfigEnv{Inventory: inv, Warn: warner(s),
		Connect: func() (engine.Connector, func(), error) { return connector(g, s, inv) }}
}
