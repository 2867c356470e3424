package engine

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
)

// TestLiveStatusScale runs LiveStatus over every host of a running lab's
// inventory, the way `omni service status all SERVICE` does, so that it can
// be profiled with go test's -cpuprofile, -memprofile and -blockprofile
// (scripts/bench-scale.sh measures the real command). It is skipped unless
// OMNI_SCALE_INVENTORY names the inventory; OMNI_SCALE_SERVICE (default
// network-agent) and OMNI_SCALE_FORKS (default 20) choose the rest, and
// OMNI_SCALE_HEAPPROFILE=FILE writes a heap profile once every host has
// been read, before the connections close:
//
//	omni lab up --hosts 1000 --dir /tmp/lab
//	OMNI_SCALE_INVENTORY=/tmp/lab/inventory.yaml go test -run LiveStatusScale \
//	    -count 1 -v -cpuprofile cpu.out ./engine/
func TestLiveStatusScale(t *testing.T) {
	path := os.Getenv("OMNI_SCALE_INVENTORY")
	if path == "" {
		t.Skip("OMNI_SCALE_INVENTORY is not set")
	}
	service := os.Getenv("OMNI_SCALE_SERVICE")
	if service == "" {
		service = "network-agent"
	}
	forks := 20
	if s := os.Getenv("OMNI_SCALE_FORKS"); s != "" {
		var err error
		if forks, err = strconv.Atoi(s); err != nil {
			t.Fatalf("OMNI_SCALE_FORKS: %v", err)
		}
	}
	inv, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var targets []Instance
	for _, h := range inv.Hosts {
		if inv.Runs(h, service) {
			targets = append(targets, Instance{Host: h.Name, Service: service})
		}
	}
	pool := transport.NewPool(transport.Options{})
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	rows := LiveStatus(ctx, inv, targets, &SSHConnector{Pool: pool, Inventory: inv}, forks)
	elapsed := time.Since(began)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("before closing: %d goroutines; heap in use %d MiB, stacks %d MiB, runtime total %d MiB",
		runtime.NumGoroutine(), ms.HeapInuse>>20, ms.StackInuse>>20, ms.Sys>>20)
	if path := os.Getenv("OMNI_SCALE_HEAPPROFILE"); path != "" {
		// While every connection is still open, as when the command prints.
		runtime.GC()
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	failed := 0
	for _, r := range rows {
		if r.Err != nil {
			if failed < 3 {
				t.Errorf("%s %s: %v", r.Host, r.Service, r.Err)
			}
			failed++
		}
	}
	t.Logf("%d instances, %d failed, forks %d: %s", len(rows), failed, forks, elapsed.Round(time.Millisecond))
}
