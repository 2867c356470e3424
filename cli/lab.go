package cli

import (
	"context"

	"github.com/alecthomas/kingpin/v2"
)

// addLabCommands registers `omni lab up|down|status`.
func addLabCommands(app *kingpin.Application, g *globalOptions, s Streams, run *func(context.Context) error) {
}
