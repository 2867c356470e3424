//go:build omnipprof

package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// A build with -tags omnipprof writes a CPU profile of the whole command to
// the file OMNI_CPUPROFILE names, and a heap profile (allocations since the
// start, sampled) to OMNI_MEMPROFILE: how docs/benchmarks.md profiles
// `omni service status` over the 1,000 hosts of scripts/bench-scale.sh.
// Release builds (scripts/build.sh) leave this file out.
func init() {
	startProfile = func() func() {
		cpu, mem := os.Getenv("OMNI_CPUPROFILE"), os.Getenv("OMNI_MEMPROFILE")
		var f *os.File
		if cpu != "" {
			var err error
			if f, err = os.Create(cpu); err != nil {
				fmt.Fprintln(os.Stderr, "omni: cpu profile:", err)
			} else if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, "omni: cpu profile:", err)
			}
		}
		return func() {
			if f != nil {
				pprof.StopCPUProfile()
				f.Close()
			}
			if mem != "" {
				m, err := os.Create(mem)
				if err == nil {
					runtime.GC()
					err = pprof.Lookup("allocs").WriteTo(m, 0)
					m.Close()
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "omni: heap profile:", err)
				}
			}
		}
	}
}
