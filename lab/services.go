package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/fanout"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
	"github.com/omni-fleet/omni/registry"
)

// ServiceResult is how the start of one service on one host went.
type ServiceResult struct {
	Host, Service string
	// Err is nil when the service runs and passed its health checks. A
	// service whose requirement failed is not started: Skipped.
	Err      error
	Skipped  bool
	Duration time.Duration
}

// instance is one service on one host, with the instances it waits for.
type instance struct {
	host *inventory.Host
	svc  *inventory.Service
	// same: same-host and svc@host requirements, all needed; anyOf:
	// svc@role requirements, each needing one started instance.
	same  []*instance
	anyOf [][]*instance
	done  chan struct{}
	err   error // valid once done is closed
}

// startServices starts every enabled service of every host of inv with
// the built-in start playbook, over SSH, through engine.Run as any run
// does (the run lock, an event in the registry at regPath): each once
// those it requires have started (same host, svc@host, and one of
// svc@role), at most parallel at a time. It starts each with --no-deps:
// the lab brings the dependencies up itself, in order, and a start does
// not lock, nor start again, what another start of the lab is bringing
// up. It returns the results in start order; the error is for what
// prevents starting at all.
func startServices(ctx context.Context, inv *inventory.Inventory, regPath string, parallel int, onResult func(ServiceResult)) ([]ServiceResult, error) {
	books, err := playbooks.Builtin(engine.Vocabulary())
	if err != nil {
		return nil, err
	}
	pb, err := books.Get("start")
	if err != nil {
		return nil, err
	}
	reg, err := registry.Open(ctx, regPath, nil)
	if err != nil {
		return nil, err
	}
	defer reg.Close()
	reg = engine.RedactedStore(reg, config.InventorySecrets(inv))
	pool := transport.NewPool(transport.Options{}) // the lab key only, no agent
	defer pool.Close()
	conn := &engine.SSHConnector{Pool: pool, Inventory: inv}
	env := engine.RunEnv{
		Inventory: inv,
		Connect:   func() (engine.Connector, func(), error) { return conn, func() {}, nil },
		Stdout:    io.Discard,
		Stderr:    io.Discard,
	}

	// In dependency order, so that an instance that has a slot and waits
	// for those it requires waits only for instances that have one too,
	// or had: no deadlock, whatever the limit.
	instances := planInstances(inv)
	var (
		mu      sync.Mutex
		results []ServiceResult
	)
	fanout.Each(len(instances), parallel, func(k int) {
		in := instances[k]
		defer close(in.done)
		r := ServiceResult{Host: in.host.Name, Service: in.svc.Name}
		if why := in.wait(ctx); why != "" {
			r.Err, r.Skipped = errors.New(why), true
		} else if ctx.Err() != nil {
			r.Err = ctx.Err()
		} else {
			began := time.Now()
			r.Err = startOne(ctx, inv, pb, reg, env, in)
			r.Duration = time.Since(began)
		}
		in.err = r.Err
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
		if onResult != nil {
			onResult(r)
		}
	})
	return results, nil
}

// planInstances lists the (host, service) pairs to start and links each
// to those it requires. Requirements form no cycle: inventory.Load
// refuses cycles between services, and instances only follow them.
func planInstances(inv *inventory.Inventory) []*instance {
	var all []*instance
	byKey := map[[2]string]*instance{}
	for _, h := range inv.Hosts {
		for _, name := range inv.HostServices(h) {
			svc, err := inv.Service(name)
			if err != nil {
				continue
			}
			in := &instance{host: h, svc: svc, done: make(chan struct{})}
			all = append(all, in)
			byKey[[2]string{h.Name, name}] = in
		}
	}
	for _, in := range all {
		for _, req := range in.svc.Requirements() {
			switch {
			case req.SameHost():
				if dep := byKey[[2]string{in.host.Name, req.Service}]; dep != nil {
					in.same = append(in.same, dep)
				} // else not run there: the start's check-deps says so
			case req.Host != "":
				if dep := byKey[[2]string{req.Host, req.Service}]; dep != nil {
					in.same = append(in.same, dep)
				}
			case req.Role != "":
				var group []*instance
				for _, h := range inv.HostsWithRole(req.Role) {
					if dep := byKey[[2]string{h.Name, req.Service}]; dep != nil {
						group = append(group, dep)
					}
				}
				if len(group) > 0 {
					in.anyOf = append(in.anyOf, group)
				}
			}
		}
	}
	return byDepth(all)
}

// byDepth orders instances so that each comes after those it requires.
func byDepth(all []*instance) []*instance {
	depth := map[*instance]int{}
	var of func(in *instance) int
	of = func(in *instance) int {
		if d, ok := depth[in]; ok {
			return d
		}
		d := 0
		for _, dep := range in.same {
			d = max(d, of(dep)+1)
		}
		for _, group := range in.anyOf {
			for _, dep := range group {
				d = max(d, of(dep)+1)
			}
		}
		depth[in] = d
		return d
	}
	for _, in := range all {
		of(in)
	}
	slices.SortStableFunc(all, func(a, b *instance) int { return depth[a] - depth[b] })
	return all
}

// wait waits for the instances in requires; it returns why this one must
// not start, or "" when it may.
func (in *instance) wait(ctx context.Context) string {
	waitAll := func(list []*instance) bool {
		for _, dep := range list {
			select {
			case <-dep.done:
			case <-ctx.Done():
				return false
			}
		}
		return true
	}
	var failed []string
	for _, dep := range in.same {
		if !waitAll([]*instance{dep}) {
			return "interrupted"
		}
		if dep.err != nil {
			failed = append(failed, dep.svc.Name+"@"+dep.host.Name)
		}
	}
	for _, group := range in.anyOf {
		if !waitAll(group) {
			return "interrupted"
		}
		ok := false
		for _, dep := range group {
			ok = ok || dep.err == nil
		}
		if !ok {
			failed = append(failed, group[0].svc.Name+" (on every host that runs it)")
		}
	}
	if len(failed) > 0 {
		return "not started: it requires " + strings.Join(failed, ", ") + ", which did not start"
	}
	return ""
}

// startOne starts one instance: the start playbook, with --no-deps,
// through engine.Run.
func startOne(ctx context.Context, inv *inventory.Inventory, pb *playbooks.Playbook, reg registry.Store, env engine.RunEnv, in *instance) error {
	req := engine.Request{Action: "start", Host: in.host.Name, Service: in.svc.Name, NoDeps: true}
	plan, err := engine.NewPlan(inv, pb, req)
	if err != nil {
		return err
	}
	res, err := engine.Run(ctx, reg, engine.RunRequest{Request: req, Targets: []engine.Target{{Host: in.host.Name, Plan: plan}}}, env)
	if err != nil {
		return err
	}
	if out := res.Outcome; out.Err != nil {
		var step *engine.StepError
		if errors.As(out.Err, &step) {
			return fmt.Errorf("%s: %w", step.Step, step.Err)
		}
		return out.Err
	}
	return nil
}
