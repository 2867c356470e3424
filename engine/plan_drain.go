package engine

import (
	"fmt"

	"github.com/omni-fleet/omni/inventory"
)

// drainTask is the drain step the planner puts right before the target's
// stop (stop, restart) when the service has a drain; ok is false when not.
// It sits before the stop, not between the stop and the start: a restart's
// stop and start still go to the host as one script (restart_fused.go).
func drainTask(inv *inventory.Inventory, host *inventory.Host, svc *inventory.Service, req Request) (Task, bool) {
	d := drainOf(svc)
	if d == nil || (req.Action != "stop" && req.Action != "restart") {
		return Task{}, false
	}
	info, _ := LookupStep(StepDrain)
	return Task{Step: StepDrain, Host: host.Name, Service: svc.Name,
		Timeout: info.defaultTimeout(bounds{inv: inv, svc: svc}),
		Detail: fmt.Sprintf("set haproxy server %s to drain (unless an operator has it in maintenance or drain); wait until it has at most %d %s (at most %s, else fail: nothing stopped)",
			serverName(d, host.Name), d.WaitSessions, sessionWord(d.WaitSessions), d.Timeout)}, true
}

// undrainTask is the undrain step the planner puts right before the
// target's record step (start, restart, stop), after its health check,
// when the service has a drain. It also runs after a failure or an
// interrupt when the run drained the server (finish).
func undrainTask(inv *inventory.Inventory, host *inventory.Host, svc *inventory.Service, req Request) (Task, bool) {
	d := drainOf(svc)
	if d == nil || (req.Action != "start" && req.Action != "stop" && req.Action != "restart") {
		return Task{}, false
	}
	detail := "once the service is healthy, set haproxy server " + serverName(d, host.Name) + " ready (not one an operator put in maintenance or drain)"
	if req.Action == "stop" {
		detail = "only if the stop failed or was interrupted and the service runs: set haproxy server " + serverName(d, host.Name) + " ready (a stopped service stays drained until its next start)"
	}
	return Task{Step: StepUndrain, Host: host.Name, Service: svc.Name, Timeout: commandTimeout(inv), Detail: detail}, true
}
