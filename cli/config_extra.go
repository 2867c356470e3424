package cli

import (
	"context"

	"github.com/alecthomas/kingpin/v2"
)

// addConfigExtraCommands registers, under the `omni config` group cfg,
// the commands that read or restore configuration without applying the
// inventory's: show, pull, history and rollback. Until the group's own
// file lands, config_group.go registers the group; then it goes, and
// this file registers itself with
//
//	func init() { configCommands = append(configCommands, addConfigExtraCommands) }
func addConfigExtraCommands(cfg *kingpin.CmdClause, g *globalOptions, s Streams, run *func(context.Context) error) {
	addConfigShowCommand(cfg, g, s, run)
	addConfigPullCommand(cfg, g, s, run)
	addConfigHistoryCommand(cfg, g, s, run)
	addConfigRollbackCommand(cfg, g, s, run)
}
