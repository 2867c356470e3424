package engine

import (
	"context"

	"github.com/omni-fleet/omni/engine/health"
)

// probe is a status's port and HTTP checks of one service, started with
// the read of the host's states instead of after it: the checks wait on
// the host while the state read does, so a running service's status waits
// about two round trips (session and state read, beside channel open and
// HTTP request), not four. Its report is used only when the state read
// says the service runs; for any other row it is discarded, and the row is
// what it would be without it. The process check still takes the state
// read's answer (health.WithProcess).
type probe struct {
	cancel  context.CancelFunc
	done    chan struct{}
	process bool // the process check is configured
	rep     health.Report
	err     error
}

// startProbe starts inst's port and HTTP checks, one attempt each (chk is
// a look's), or returns nil when the service configures neither.
func startProbe(ctx context.Context, chk *checker, inst Instance) *probe {
	svc, err := chk.inv.Service(inst.Service)
	if err != nil || (svc.Health.Port == 0 && svc.Health.HTTP == nil) {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &probe{cancel: cancel, done: make(chan struct{}), process: svc.Health.Process}
	chk.warm.Go(func() {
		defer close(p.done)
		p.rep, p.err = chk.ownChecks(ctx, inst, nil, nil, processNever, keepStartPeriod)
	})
	return p
}

// own is the service's own checks for a service whose state read found it
// running: the probe's report, after the process check, which passed. The
// probe runs under the look's context, so it ends when that does, with
// the report the checks would have given then.
func (p *probe) own(context.Context) (health.Report, error) {
	<-p.done
	if p.err != nil || !p.process {
		return p.rep, p.err
	}
	return health.WithProcess(p.rep), nil
}

// stop waits for the probe to end by itself (one attempt of each check,
// each bounded by its timeout, or the look's context ending): a discarded
// probe does not outlive its host's look, nor use its released connection,
// and the host's round trips count it whole, the same on every run, not
// cut off at whatever point the state read happened to finish.
func (p *probe) stop() {
	if p != nil {
		<-p.done
		p.cancel()
	}
}
