package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/transport"
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
// the built-in start playbook, over SSH, recording in the registry at
// regPath: each once those it requires have started (same host, svc@host,
// and one of svc@role), at most parallel at a time. It returns the
// results in start order; the error is for what prevents starting at all.
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
	pool := transport.NewPool(transport.Options{}) // the lab key only, no agent
	defer pool.Close()
	env := engine.Env{
		Inventory: inv,
		Connector: &engine.SSHConnector{Pool: pool, Inventory: inv},
		Registry:  reg,
		Stdout:    io.Discard,
		Stderr:    io.Discard,
	}

	instances := planInstances(inv)
	var (
		mu      sync.Mutex
		results []ServiceResult
		wg      sync.WaitGroup
	)
	slots := make(chan struct{}, parallel)
	for _, in := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(in.done)
			r := ServiceResult{Host: in.host.Name, Service: in.svc.Name}
			if why := in.wait(ctx); why != "" {
				r.Err, r.Skipped = errors.New(why), true
			} else {
				select {
				case slots <- struct{}{}:
					began := time.Now()
					r.Err = startOne(ctx, inv, pb, env, in)
					r.Duration = time.Since(began)
					<-slots
				case <-ctx.Done():
					r.Err = ctx.Err()
				}
			}
			in.err = r.Err
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
			if onResult != nil {
				onResult(r)
			}
		}()
	}
	wg.Wait()
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

// startOne runs the start playbook for one instance.
func startOne(ctx context.Context, inv *inventory.Inventory, pb *playbooks.Playbook, env engine.Env, in *instance) error {
	plan, err := engine.NewPlan(inv, pb, engine.Request{Action: "start", Host: in.host.Name, Service: in.svc.Name})
	if err != nil {
		return err
	}
	out := engine.Execute(ctx, plan, env)
	if out.Err != nil {
		var step *engine.StepError
		if errors.As(out.Err, &step) {
			return fmt.Errorf("%s: %w", step.Step, step.Err)
		}
		return out.Err
	}
	return nil
}
