package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
)

// Request is one command as the operator typed it.
type Request struct {
	Action  string // start, stop, restart, logs
	Host    string
	Service string
	Lines   int  // logs: how many lines
	Follow  bool // logs: keep streaming
}

// Task is one playbook step bound to a (host, service).
type Task struct {
	Step    string        `json:"step"`
	Host    string        `json:"host"`
	Service string        `json:"service"`
	Timeout time.Duration `json:"timeout,omitempty"` // 0: no limit of its own
	Grace   time.Duration `json:"grace,omitempty"`   // stop: SIGTERM → SIGKILL
	Detail  string        `json:"detail"`            // what the step will do, for the plan table
}

// Confirmation is what must be shown, and agreed to, before the plan runs.
type Confirmation struct {
	Reason string // "container-runtime is a critical service"
	Impact string // the service's impact text, may be empty
}

// Plan is the ordered task list of one command.
type Plan struct {
	Request  Request
	Playbook string
	Host     *inventory.Host
	Service  *inventory.Service
	Tasks    []Task
	Confirm  *Confirmation // nil when no confirmation is needed
}

// UsageError is a request that cannot be planned: exit code 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Timeouts of the steps that have no duration of their own in the inventory.
const (
	checkTimeout  = 30 * time.Second
	stopMargin    = 20 * time.Second // after the grace period: SIGKILL and verification
	recordTimeout = 30 * time.Second
)

// NewPlan binds the playbook's steps to the requested host and service. It
// does no I/O.
func NewPlan(inv *inventory.Inventory, pb *playbooks.Playbook, req Request) (*Plan, error) {
	host, err := inv.Host(req.Host)
	if err != nil {
		return nil, err
	}
	svc, err := inv.Service(req.Service)
	if err != nil {
		return nil, err
	}
	if !svc.Enabled {
		return nil, &UsageError{fmt.Sprintf("service %q is disabled in the inventory (enabled: false)", svc.Name)}
	}
	if !inv.Runs(host, svc.Name) {
		return nil, &UsageError{fmt.Sprintf("host %q does not run %q: its roles (%s) run %s",
			host.Name, svc.Name, strings.Join(host.Roles, ", "), orNone(inv.HostServices(host)))}
	}
	plan := &Plan{Request: req, Playbook: pb.Name, Host: host, Service: svc}
	for _, step := range pb.Steps {
		task := Task{Step: step.Name, Host: host.Name, Service: svc.Name}
		switch step.Name {
		case "confirm":
			if !svc.Critical && svc.Impact == "" {
				continue // nothing to confirm: the step drops out of the plan
			}
			plan.Confirm = &Confirmation{Impact: svc.Impact}
			if svc.Critical {
				plan.Confirm.Reason = fmt.Sprintf("%s is a critical service", svc.Name)
			}
			task.Detail = "ask before going on: " + firstNonEmpty(svc.Impact, plan.Confirm.Reason)
		case "check-stopped":
			task.Timeout = or(step.Timeout, checkTimeout)
			task.Detail = "verify " + svc.Name + " is stopped; if it is running there is nothing to do"
		case "check-deps":
			task.Timeout = or(step.Timeout, checkTimeout)
			task.Detail = "requires: " + orNone(svc.Requires)
		case "stop":
			task.Grace = or(step.Grace, svc.StopGrace)
			task.Timeout = or(step.Timeout, task.Grace+stopMargin)
			task.Detail = fmt.Sprintf("%s; SIGKILL after %s", stopHow(svc), task.Grace)
		case "verify-stopped":
			task.Timeout = or(step.Timeout, checkTimeout)
			task.Detail = "the process is gone (a zombie counts as stopped)"
		case "start":
			task.Timeout = or(step.Timeout, svc.StartTimeout)
			task.Detail = startHow(svc)
		case "health":
			task.Timeout = step.Timeout // the checks bound themselves; a playbook may cap them
			task.Detail = describeHealth(svc.Health)
		case "record":
			task.Timeout = or(step.Timeout, recordTimeout)
			task.Detail = "read the final state and update the service registry"
		case "logs":
			if svc.Manager == "command" && svc.Commands.Logs == "" {
				return nil, &UsageError{fmt.Sprintf("service %q has no logs command in the inventory (commands.logs)", svc.Name)}
			}
			task.Timeout = step.Timeout
			task.Detail = fmt.Sprintf("last %d lines", req.Lines)
			if req.Follow {
				task.Detail += ", then follow"
			}
		default:
			return nil, fmt.Errorf("%s: step %q is not supported by this version of omni", pb.Source, step.Name)
		}
		plan.Tasks = append(plan.Tasks, task)
	}
	return plan, nil
}

func stopHow(svc *inventory.Service) string {
	if svc.Manager == "systemd" {
		return "systemctl stop " + svc.Unit
	}
	if svc.Commands.Stop != "" {
		return "stop command"
	}
	return "SIGTERM to the main process"
}

func startHow(svc *inventory.Service) string {
	if svc.Manager == "systemd" {
		return "systemctl start " + svc.Unit
	}
	return "start command"
}

func describeHealth(h inventory.Health) string {
	var checks []string
	if h.Process {
		checks = append(checks, "process")
	}
	if h.Port > 0 {
		checks = append(checks, fmt.Sprintf("port %d", h.Port))
	}
	if h.HTTP != nil {
		checks = append(checks, fmt.Sprintf("http GET :%d%s → %d", h.HTTP.Port, h.HTTP.Path, h.HTTP.Expect))
	}
	if len(checks) == 0 {
		return "no health checks configured"
	}
	return fmt.Sprintf("%s (%d attempts, %s apart, %s each)", strings.Join(checks, ", "), h.Retries+1, h.Interval, h.Timeout)
}

func or(d, fallback time.Duration) time.Duration {
	if d != 0 {
		return d
	}
	return fallback
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
