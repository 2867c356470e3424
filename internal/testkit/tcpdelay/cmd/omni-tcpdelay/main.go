// Command omni-tcpdelay joins two TUN devices with a delay each way (see
// package tcpdelay). It creates both, prints "ready" once they exist, and
// forwards until it is killed; the caller moves one into a network
// namespace and gives both addresses (scripts/bench-tcpdelay.sh).
//
//	omni-tcpdelay NAME_A NAME_B DELAY      e.g. omni-tcpdelay otdA otdB 25ms
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/tcpdelay"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: omni-tcpdelay NAME_A NAME_B DELAY")
		os.Exit(2)
	}
	d, err := time.ParseDuration(os.Args[3])
	if err != nil || d < 0 {
		fmt.Fprintln(os.Stderr, "omni-tcpdelay: DELAY:", os.Args[3])
		os.Exit(2)
	}
	a, err := tcpdelay.OpenTUN(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "omni-tcpdelay:", err)
		os.Exit(1)
	}
	b, err := tcpdelay.OpenTUN(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "omni-tcpdelay:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	failed := make(chan error, 2)
	go func() { failed <- tcpdelay.Forward(b, a, d) }()
	go func() { failed <- tcpdelay.Forward(a, b, d) }()
	fmt.Fprintln(os.Stderr, "omni-tcpdelay:", <-failed)
	os.Exit(1)
}
