package cli

import (
	"context"

	"github.com/alecthomas/kingpin/v2"
)

// addConfigExtraCommands registers, under the `omni config` group cfg,
// the commands that read or restore configuration without applying the
// inventory's: show, pull, history and rollback.
func init() { configCommands = append(configCommands, addConfigExtraCommands) }

func addConfigExtraCommands(cfg *kingpin.CmdClause, g *globalOptions, s Streams, run *func(context.Context) error) {
	addConfigShowCommand(cfg, g, s, run)
	addConfigPullCommand(cfg, g, s, run)
	addConfigHistoryCommand(cfg, g, s, run)
	addConfigRollbackCommand(cfg, g, s, run)
}
