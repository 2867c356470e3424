package main

import (
	"os"

	"github.com/omni-fleet/omni/lab/demosvc"
)

func main() {
	os.Exit(demosvc.Main(os.Args[1:]))
}
