// Command omni manages the services of a fleet of hosts over SSH, from a
// YAML inventory. All the work is in package cli; main only wires the
// process to it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/omni-fleet/omni/cli"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/gcfloor"
)

// forceExitAfter is how long omni may still run after a second interrupt:
// enough for the steps in flight to be cancelled, their remote processes
// killed (transport's closeGrace, 5s) and the registry written.
const forceExitAfter = 8 * time.Second

// sameRequest is how soon a repeated SIGTERM or SIGHUP counts as the
// first one delivered twice, not as a second interrupt.
const sameRequest = 100 * time.Millisecond

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
	// The first SIGINT, SIGTERM or SIGHUP (the terminal or the SSH session
	// omni runs in went away) ends ctx: a single-host command stops, a
	// fleet run touches no new host and lets the hosts in flight finish.
	// A second one also cancels the steps in flight. What does not end
	// then (omni blocked where no cancellation reaches: a hung ssh-agent,
	// a known_hosts that is a FIFO) is ended by a third signal, or
	// forceExitAfter after the second: exit 130, as after SIGKILL (the
	// registry's writes are transactions).
	//
	// A SIGTERM or SIGHUP repeated within sameRequest is the same one:
	// timeout(1) and supervisors send theirs to omni and then to its
	// process group, microseconds apart. (SIGINT is a person's key: each
	// press counts.)
	ctx, cancel := context.WithCancel(context.Background())
	hard, cancelHard := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 3)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	// A write to a pipe whose reader went away (a logger that a cron job's
	// output goes to) fails instead of killing omni in the middle of a run.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	go func() {
		first := <-signals
		at := time.Now()
		cancel()
		for s := range signals {
			if s != os.Interrupt && s == first && time.Since(at) < sameRequest {
				continue
			}
			break
		}
		cancelHard()
		select {
		case <-signals:
			fmt.Fprintln(os.Stderr, "omni: interrupted a third time: exiting now")
		case <-time.After(forceExitAfter):
			fmt.Fprintf(os.Stderr, "omni: still running %s after the second interrupt: exiting now\n", forceExitAfter)
		}
		os.Exit(130)
	}()
	stopProfile := startProfile()
	code := cli.Run(cli.WithHardStop(ctx, hard), os.Args[1:], cli.System())
	stopProfile()
	signal.Stop(signals)
	os.Exit(code)
}
