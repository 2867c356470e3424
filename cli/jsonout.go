package cli

import (
	"encoding/json"
	"io"
	"time"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/inventory"
)

// The JSON documents of --output json. Their fields are a stable interface
// (docs/json.md): add fields, never rename or remove them. Times are RFC 3339
// in UTC, durations are milliseconds, absent values are omitted.

// serviceDoc is the result of `omni service start|stop|restart`.
type serviceDoc struct {
	Command   string         `json:"command"` // start, stop, restart
	Host      string         `json:"host"`
	Service   string         `json:"service"`
	Result    string         `json:"result"` // ok, unchanged, failed, unreachable, refused, interrupted, error
	ExitCode  int            `json:"exit_code"`
	Unchanged string         `json:"unchanged,omitempty"` // "already running", "already stopped"
	Status    *statusDoc     `json:"status,omitempty"`    // the final state, when it was read
	Health    *health.Report `json:"health,omitempty"`    // when health checks ran
	Steps     []stepDoc      `json:"steps,omitempty"`
	Error     string         `json:"error,omitempty"`
	// Reason: the service's own last words when it failed to start (the
	// failed step's log tail has the lines around it).
	Reason string `json:"reason,omitempty"`
	// NotRestarted: running dependents a restart without --cascade left alone.
	NotRestarted []string `json:"not_restarted,omitempty"`
	// NotChecked: dependents whose state a restart could not read.
	NotChecked []notCheckedDoc `json:"not_checked,omitempty"`
	// RoundTrips: by host, the round trips waited for after authentication
	// (docs/json.md); absent when no host was reached.
	RoundTrips map[string]int `json:"round_trips,omitempty"`
}

// notCheckedDoc is a dependent whose state could not be read, and why.
type notCheckedDoc struct {
	Instance    string `json:"instance"`
	Error       string `json:"error"`
	Unreachable bool   `json:"unreachable"`
}

type statusDoc struct {
	State         string     `json:"state"` // running, stopped, failed, activating, ...
	Running       bool       `json:"running"`
	PID           int        `json:"pid,omitempty"`
	Since         *time.Time `json:"since,omitempty"`
	UptimeSeconds *int64     `json:"uptime_seconds,omitempty"`
	LastActive    *time.Time `json:"last_active,omitempty"`
	Restarts      int        `json:"restarts,omitempty"`
}

type stepDoc struct {
	Step       string `json:"step"`
	Host       string `json:"host"`    // the instance the step ran on: the target,
	Service    string `json:"service"` // or a dependency or dependent
	Why        string `json:"why,omitempty"`
	Result     string `json:"result"` // the step's engine.StepStatus: ok, skipped, failed
	DurationMS int64  `json:"duration_ms"`
	Note       string `json:"note,omitempty"`
	Warning    string `json:"warning,omitempty"` // what went wrong in a step that succeeded anyway (a hook with on_failure: warn failed, a stop that killed or whose stop command failed); the step is ok
	Error      string `json:"error,omitempty"`
	// The log tail of a failed start, or of a failed health check right
	// after a start: the service's last words, the last lines of its log
	// (LogSource says which: the journal since the start, the logs
	// command), or why they could not be read.
	Reason       string   `json:"reason,omitempty"`
	LogTail      []string `json:"log_tail,omitempty"`
	LogSource    string   `json:"log_source,omitempty"`
	LogTailError string   `json:"log_tail_error,omitempty"`
}

// planDoc is the result of --dry-run.
type planDoc struct {
	Command  string   `json:"command"`
	Host     string   `json:"host"`
	Service  string   `json:"service"`
	Playbook string   `json:"playbook"`
	DryRun   bool     `json:"dry_run"`
	Confirm  *confDoc `json:"confirm,omitempty"`
	// Dependents: every instance that depends on the service, in stop order.
	Dependents []string `json:"dependents,omitempty"`
	Tasks      []task   `json:"tasks"`
}

type confDoc struct {
	Reason string `json:"reason,omitempty"`
	Impact string `json:"impact,omitempty"`
}

type task struct {
	Step      string `json:"step"`
	Host      string `json:"host"`
	Service   string `json:"service"`
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
	GraceMS   int64  `json:"grace_ms,omitempty"`
	Detail    string `json:"detail"`
	Why       string `json:"why,omitempty"`   // why a dependency or cascade added the task
	Group     string `json:"group,omitempty"` // tasks of one dependency or dependent
}

// inventoryDoc is the result of `omni inventory check`.
type inventoryDoc struct {
	File     string         `json:"file"`
	Valid    bool           `json:"valid"`
	Errors   []invErrorDoc  `json:"errors,omitempty"`
	Hosts    []hostDoc      `json:"hosts,omitempty"`
	Roles    []roleDoc      `json:"roles,omitempty"`
	Services []serviceEntry `json:"services,omitempty"`
}

type invErrorDoc struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

type hostDoc struct {
	Name     string   `json:"name"`
	Address  string   `json:"address"`
	Port     int      `json:"port"`
	User     string   `json:"user"`
	Via      string   `json:"via,omitempty"`
	Roles    []string `json:"roles"`
	Services []string `json:"services"`
}

type roleDoc struct {
	Name     string   `json:"name"`
	Services []string `json:"services"`
}

type serviceEntry struct {
	Name     string   `json:"name"`
	Enabled  bool     `json:"enabled"`
	Manager  string   `json:"manager"`
	Unit     string   `json:"unit,omitempty"`
	Critical bool     `json:"critical"`
	Impact   string   `json:"impact,omitempty"`
	Requires []string `json:"requires,omitempty"`
}

// errorDoc is what any command prints with --output json when it fails
// before it has a report of its own.
type errorDoc struct {
	Result   string        `json:"result"` // always "error", "refused" or "interrupted"
	ExitCode int           `json:"exit_code"`
	Error    string        `json:"error"`
	Errors   []invErrorDoc `json:"errors,omitempty"` // inventory errors, one per line
}

func writeJSON(w io.Writer, doc any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

func millis(d time.Duration) int64 { return d.Milliseconds() }

// resultWord names an exit code in the documents: the class it comes
// from (engine.Class), as the registry's events name it.
func resultWord(code int) string {
	for _, c := range []engine.Class{engine.ClassOK, engine.ClassError, engine.ClassPartial, engine.ClassUnreachable, engine.ClassRefused, engine.ClassInterrupted} {
		if classCode(c) == code {
			return string(c)
		}
	}
	return string(engine.ClassFailed)
}

func newServiceDoc(plan *engine.Plan, out *engine.Outcome, code int) serviceDoc {
	doc := serviceDoc{
		Command: plan.Request.Action, Host: plan.Host.Name, Service: plan.Service.Name,
		Result: resultWord(code), ExitCode: code, Unchanged: out.Unchanged, Health: out.Health,
		RoundTrips: roundTrips(out.RoundTrips),
	}
	if code == ExitOK && out.Unchanged != "" {
		doc.Result = "unchanged"
	}
	if out.Err != nil {
		doc.Error = engine.Words(out.Err)
		doc.Reason, _, _ = engine.TailFields(out.Err)
	}
	if recorded(out) {
		st := &statusDoc{State: out.State.Status, Running: out.State.Running, PID: out.State.PID, Restarts: out.State.NRestarts}
		if out.State.Running && !out.State.Since.IsZero() { // unknown: no uptime rather than 0
			up := int64(out.Uptime / time.Second)
			st.UptimeSeconds = &up
			if !out.State.Since.IsZero() {
				since := out.State.Since.UTC()
				st.Since = &since
			}
		} else if !out.LastActive.IsZero() {
			last := out.LastActive.UTC()
			st.LastActive = &last
		}
		doc.Status = st
	}
	for _, d := range out.NotRestarted {
		doc.NotRestarted = append(doc.NotRestarted, d.String())
	}
	for i, d := range out.Unchecked {
		nc := notCheckedDoc{Instance: d.String()}
		if i < len(out.UncheckedErrs) {
			nc.Error = engine.Words(out.UncheckedErrs[i])
			nc.Unreachable = engine.Classify(out.UncheckedErrs[i]) == engine.ClassUnreachable
		}
		doc.NotChecked = append(doc.NotChecked, nc)
	}
	for _, r := range out.Steps {
		// The step's status as engine says it: ok, skipped (its note says
		// why) or failed.
		sd := stepDoc{Step: string(r.Task.Step), Host: r.Task.Host, Service: r.Task.Service, Why: r.Task.Why, Result: string(r.Status), DurationMS: millis(r.Duration), Note: r.Text(), Warning: r.Warning}
		if r.Status == engine.StepFailed {
			sd.Error = engine.Failure(r.Err)
			sd.Reason, sd.LogTail, sd.LogTailError = engine.TailFields(r.Err)
			if t := engine.LogTail(r.Err); t != nil {
				sd.LogSource = t.Source
			}
		}
		doc.Steps = append(doc.Steps, sd)
	}
	return doc
}

func newPlanDoc(plan *engine.Plan) planDoc {
	doc := planDoc{Command: plan.Request.Action, Host: plan.Host.Name, Service: plan.Service.Name, Playbook: plan.Playbook, DryRun: true, Tasks: []task{}}
	if c := plan.Confirm; c != nil {
		doc.Confirm = &confDoc{Reason: c.Reason, Impact: c.Impact}
	}
	for _, d := range plan.Dependents {
		doc.Dependents = append(doc.Dependents, d.String())
	}
	for _, t := range plan.Tasks {
		doc.Tasks = append(doc.Tasks, task{Step: string(t.Step), Host: t.Host, Service: t.Service, TimeoutMS: millis(t.Timeout), GraceMS: millis(t.Grace), Detail: t.Detail, Why: t.Why, Group: t.Group})
	}
	return doc
}

func newInventoryDoc(file string, inv *inventory.Inventory) inventoryDoc {
	doc := inventoryDoc{File: file, Valid: true}
	for _, h := range inv.Hosts {
		doc.Hosts = append(doc.Hosts, hostDoc{Name: h.Name, Address: h.Address, Port: h.Port, User: h.User, Via: h.Via, Roles: h.Roles, Services: inv.HostServices(h)})
	}
	for _, r := range inv.Roles {
		doc.Roles = append(doc.Roles, roleDoc{Name: r.Name, Services: r.Services})
	}
	for _, s := range inv.Services {
		e := serviceEntry{Name: s.Name, Enabled: s.Enabled, Manager: s.Manager, Critical: s.Critical, Impact: s.Impact, Requires: s.Requires}
		if s.Manager == "systemd" {
			e.Unit = s.Unit
		}
		doc.Services = append(doc.Services, e)
	}
	return doc
}

func invErrors(list inventory.ErrorList) []invErrorDoc {
	var out []invErrorDoc
	for _, e := range list {
		out = append(out, invErrorDoc{File: e.File, Line: e.Line, Message: e.Msg})
	}
	return out
}
