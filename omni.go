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
)

func main() {
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
	code := cli.Run(cli.WithHardStop(ctx, hard), os.Args[1:], cli.System())
	signal.Stop(signals)
	os.Exit(code)
}
