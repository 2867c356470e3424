// Command omni manages the services of a fleet of hosts over SSH, from a
// YAML inventory. All the work is in package cli; main only wires the
// process to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/omni-fleet/omni/cli"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/gcfloor"
)

// startProfile starts profiling the process and returns what ends it. It
// does nothing unless omni is built with the tag omnipprof (profile.go).
var startProfile = func() (stop func()) { return func() {} }

func main() {
	if len(os.Args) > 1 && os.Args[1] == transport.MasterArg {
		// A persistent connection's background process (control_persist).
		os.Exit(transport.MasterMain(os.Args[2:]))
	}
	// The collector waits until Go's memory reaches gcfloor.Floor, unless
	// GOGC or GOMEMLIMIT say otherwise: fewer collections in a large run.
	gcfloor.Start(gcfloor.Floor)
	// The first SIGINT or SIGTERM ends ctx: a single-host command stops, a
	// fleet run touches no new host and lets the hosts in flight finish.
	// A second one also cancels the steps in flight.
	ctx, cancel := context.WithCancel(context.Background())
	hard, cancelHard := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		cancel()
		<-signals
		cancelHard()
	}()
	stopProfile := startProfile()
	code := cli.Run(cli.WithHardStop(ctx, hard), os.Args[1:], cli.System())
	stopProfile()
	signal.Stop(signals)
	os.Exit(code)
}
