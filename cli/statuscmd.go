package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// addStatusCommands registers `omni service status` and `omni service history`.
func addStatusCommands(svc *kingpin.CmdClause, g *globalOptions, s Streams, run *func(context.Context) error) {
	var target, service string
	var verbose bool
	forks := 20
	status := svc.Command("status", "Live state of services (state, PID, uptime, health) beside what the registry last recorded. "+
		"A check, like systemctl status: exit 0 only when every listed service runs and is healthy; 1 when one is stopped, failed, "+
		"unhealthy or could not be read on a host that answered; 4 when every one that is not was on a host that could not be reached.")
	status.Arg("TARGET", "A host, a role, a glob (worker*), a comma list, or all (default: every host).").HintAction(hostHints(g)).StringVar(&target)
	status.Arg("SERVICE", "One service (default: every service the hosts run).").HintAction(serviceHints(g, &target)).StringVar(&service)
	status.Flag("forks", "Hosts queried at once.").Default("20").IntVar(&forks)
	status.Flag("verbose", "Print on stderr how many round trips each host's connection waited for.").Short('v').BoolVar(&verbose)
	status.Action(func(*kingpin.ParseContext) error {
		*run = func(ctx context.Context) error { return statusRun(ctx, g, s, target, service, forks, verbose) }
		return nil
	})

	var htarget, hservice string
	var since time.Duration
	limit := 50
	history := svc.Command("history", "The recorded operations, newest first.")
	history.Arg("TARGET", "A host, a role, a glob (worker*), a comma list, or all (default: every host).").HintAction(hostHints(g)).StringVar(&htarget)
	history.Arg("SERVICE", "One service.").HintAction(serviceHints(g, &htarget)).StringVar(&hservice)
	history.Flag("since", "Only operations newer than this, e.g. 24h.").DurationVar(&since)
	history.Flag("limit", "At most this many operations (0: all).").Default("50").IntVar(&limit)
	history.Action(func(*kingpin.ParseContext) error {
		*run = func(ctx context.Context) error { return historyRun(ctx, g, s, htarget, hservice, since, limit) }
		return nil
	})
}

// selectInstances resolves [TARGET] [SERVICE] to instances, in inventory order.
func selectInstances(inv *inventory.Inventory, target, service string) ([]engine.Instance, error) {
	hosts := inv.Hosts
	if target != "" {
		var err error
		if hosts, err = inv.Select(target); err != nil {
			return nil, err
		}
	}
	if service != "" {
		if _, err := inv.Service(service); err != nil {
			return nil, err
		}
	}
	var out []engine.Instance
	for _, h := range hosts {
		for _, name := range inv.HostServices(h) {
			if service == "" || name == service {
				out = append(out, engine.Instance{Host: h.Name, Service: name})
			}
		}
	}
	if len(out) == 0 {
		return nil, &usageError{fmt.Sprintf("no host of %q runs %q", orAll(target), service)}
	}
	return out, nil
}

func orAll(s string) string {
	if s == "" {
		return "the inventory"
	}
	return s
}

// statusRow is one line of `omni service status` (and its JSON).
type statusRow struct {
	Host           string     `json:"host"`
	Service        string     `json:"service"`
	State          string     `json:"state"` // running, stopped, failed, ..., unreachable
	PID            int        `json:"pid,omitempty"`
	UptimeSeconds  *int64     `json:"uptime_seconds,omitempty"`
	Health         string     `json:"health,omitempty"` // passed, failed: why; empty when not running
	Error          string     `json:"error,omitempty"`
	RecordedState  string     `json:"recorded_state,omitempty"`
	RecordedAt     *time.Time `json:"recorded_at,omitempty"`
	LastActive     *time.Time `json:"last_active,omitempty"`
	RecordedHealth string     `json:"recorded_health,omitempty"`
	// Drained: a run set the service's HAProxy server to drain and has not
	// set it ready again (engine.DrainLeft).
	Drained string `json:"drained,omitempty"`
}

func statusRun(ctx context.Context, g *globalOptions, s Streams, target, service string, forks int, verbose bool) error {
	inv, err := loadInventory(g)
	if err != nil {
		return err
	}
	instances, err := selectInstances(inv, target, service)
	if err != nil {
		return err
	}
	reg, err := openStore(ctx, g, inv)
	if err != nil {
		return err
	}
	defer reg.Close()
	conn, closeConns, err := connector(g, s, inv)
	if err != nil {
		return err
	}
	defer closeConns()
	live, trips := engine.LiveStatusCounted(ctx, inv, instances, conn, forks)
	records, err := reg.List()
	if err != nil {
		return err
	}
	recorded := map[engine.Instance]registry.Record{}
	for _, r := range records {
		recorded[engine.Instance{Host: r.Host, Service: r.Service}] = r
	}
	rows := make([]statusRow, 0, len(live))
	var failed, down []engine.InstanceStatus
	for _, l := range live {
		row := statusRow{Host: l.Host, Service: l.Service, State: l.State.Status, PID: l.State.PID}
		if l.Err != nil {
			row.State, row.Error = "unknown", l.Err.Error()
			failed = append(failed, l)
		} else if notOK(l) != "" {
			down = append(down, l)
		}
		if l.State.Running && !l.State.Since.IsZero() { // unknown: no uptime rather than 0
			up := int64(l.Uptime / time.Second)
			row.UptimeSeconds = &up
		}
		if l.Health != nil {
			row.Health = "passed"
			if len(l.Health.Checks) == 0 {
				row.Health = "none configured"
			} else if !l.Health.Passed() {
				row.Health = "failed: " + l.Health.Failure()
			} else if d := l.Health.Degraded(); d != "" {
				row.Health = "degraded: " + d
			}
		}
		if r, ok := recorded[l.Instance]; ok {
			row.RecordedState, row.RecordedHealth = r.State, r.Health
			row.Drained = engine.DrainLeft(r)
			at, last := r.UpdatedAt, r.LastActive
			row.RecordedAt = &at
			if !last.IsZero() {
				row.LastActive = &last
			}
		}
		rows = append(rows, row)
	}
	code := statusExitCode(live)
	if ctx.Err() != nil {
		// Interrupted (SIGINT, SIGTERM, SIGHUP): the reads it cut short
		// are not the services' fault (found by review: exit 1).
		code = ExitInterrupted
	}
	if g.Output == "json" {
		doc := map[string]any{"services": rows, "exit_code": code}
		if rt := roundTrips(trips); rt != nil {
			doc["round_trips"] = rt
		}
		if err := writeJSON(s.Out, doc); err != nil {
			return err
		}
	} else if err := renderStatusTable(s, rows, failed); err != nil {
		return err
	}
	writeStatusProblems(s.Err, rows, failed, down)
	if verbose {
		printRoundTrips(s.Err, trips)
	}
	return codeOnly(code)
}

// renderStatusTable prints the status table on stdout.
func renderStatusTable(s Streams, rows []statusRow, failed []engine.InstanceStatus) error {
	st := styleFor(s)
	readErrs := map[engine.Instance]error{}
	for _, l := range failed {
		readErrs[l.Instance] = l.Err
	}
	table := newTable("Host", "Service", "State", "PID", "Uptime", "Health", "Recorded", "Last Active")
	for _, r := range rows {
		pid, up, rec, last := "-", "-", "-", "-"
		if r.PID > 0 {
			pid = strconv.Itoa(r.PID)
		}
		if r.UptimeSeconds != nil {
			up = formatUptime(time.Duration(*r.UptimeSeconds) * time.Second)
		}
		if r.RecordedState != "" {
			rec = r.RecordedState + " at " + formatTime(*r.RecordedAt)
		}
		if r.LastActive != nil {
			last = formatTime(*r.LastActive)
		}
		state := r.State
		if err, ok := readErrs[engine.Instance{Host: r.Host, Service: r.Service}]; ok {
			// The error is said once per host below the table, not on
			// every row of the host.
			state = "unknown"
			if engine.Classify(err) == engine.ClassUnreachable {
				state = "unreachable"
			}
		}
		health := r.Health
		if health == "" {
			health = "-"
		}
		table.append(r.Host, r.Service, st.state(capitalize(state)), pid, up, health, rec, last)
	}
	return table.render(s)
}

// writeStatusProblems says on stderr, whatever the output format, why
// the services that could not be read could not, which are drained or
// degraded, and which are not running and healthy: what makes the exit
// code, for whoever reads only stderr (cron's mail).
func writeStatusProblems(w io.Writer, rows []statusRow, failed, down []engine.InstanceStatus) {
	for _, r := range rows {
		if r.Drained != "" {
			fmt.Fprintf(w, "omni: %s/%s: %s (its next start or restart sets it ready)\n", r.Host, r.Service, r.Drained)
		}
	}
	writeReadErrors(w, failed)
	if len(failed) > 0 {
		fmt.Fprintf(w, "omni: %d of %s could not be read (why: above)\n", len(failed), plural.N(len(rows), "service", "services"))
	}
	writeDegraded(w, rows)
	if len(down) > 0 {
		names := make([]string, len(down))
		for i, l := range down {
			names[i] = l.Instance.String() + " (" + notOK(l) + ")"
		}
		fmt.Fprintf(w, "omni: %d of %s not running and healthy: %s\n", len(down), plural.N(len(rows), "service is", "services are"), strings.Join(names, ", "))
	}
}

// notOK says in a word why a service that was read is not running and
// healthy ("stopped", "unhealthy"), or "" when it is.
func notOK(l engine.InstanceStatus) string {
	switch {
	case l.Err != nil:
		return "unknown"
	case !l.State.Running:
		if l.State.Status == "" {
			return "not running"
		}
		return l.State.Status
	case l.Health != nil && !l.Health.Passed():
		return "unhealthy"
	}
	return ""
}

// statusExitCode makes `omni service status` a check, as `systemctl
// status` is: 0 when every listed service runs and is healthy (its health
// checks passed, or it has none); 4 when every one that is not could not
// be read because its host could not be reached, authenticated or trusted
// (engine.Classify: unreachable); else 1: a service stopped, failed, starting,
// unhealthy, or not read on a host that answered (its status command
// failed or timed out, its unit is not installed). A disabled service
// (enabled: false) is never listed, so it never fails the check.
//
// It is a check, not a run: there is no partial, what is wrong decides
// alone (engine.Tally.FailuresClass), each service that is not running and
// healthy counting as unreachable (engine.Classify) or failed.
func statusExitCode(rows []engine.InstanceStatus) int {
	var t engine.Tally
	for _, l := range rows {
		if notOK(l) == "" {
			continue
		}
		c := engine.Classify(l.Err)
		if c != engine.ClassUnreachable {
			c = engine.ClassFailed
		}
		t.AddClass(c)
	}
	return classCode(t.FailuresClass())
}

// targetHosts are the hosts of target that run service (any service when
// it is ""), each once.
func targetHosts(inv *inventory.Inventory, target, service string) ([]string, error) {
	instances, err := selectInstances(inv, target, service)
	if err != nil {
		return nil, err
	}
	var hosts []string
	for _, i := range instances {
		if !slices.Contains(hosts, i.Host) {
			hosts = append(hosts, i.Host)
		}
	}
	return hosts, nil
}

func historyRun(ctx context.Context, g *globalOptions, s Streams, target, service string, since time.Duration, limit int) error {
	// A negative bound (--since=-24h for "the last day") would read as
	// none: the whole history, shown as if it were the bounded one.
	if since < 0 {
		return &usageError{fmt.Sprintf("--since must be a duration back from now, such as 24h, not %s", since)}
	}
	if limit < 0 {
		return &usageError{"--limit must be 0 or more"}
	}
	inv, err := loadInventory(g)
	if err != nil {
		return err
	}
	q := registry.EventQuery{Service: service, Limit: limit}
	if target != "" && target != "all" { // all: the whole history, as no target
		if q.Hosts, err = targetHosts(inv, target, service); err != nil {
			return err
		}
	}
	if since > 0 {
		q.Since = time.Now().Add(-since)
	}
	reg, err := openStore(ctx, g, inv)
	if err != nil {
		return err
	}
	defer reg.Close()
	events, err := reg.Events(q)
	if err != nil {
		return err
	}
	if g.Output == "json" {
		if events == nil {
			events = []registry.Event{}
		}
		return writeJSON(s.Out, map[string]any{"events": scrubEvents(events)})
	}
	table := newTable("Started", "Operator", "Command", "Host", "Service", "Result", "Duration", "Error")
	for _, e := range events {
		dur := "-"
		if !e.Finished.IsZero() {
			dur = e.Finished.Sub(e.Started).Round(time.Millisecond).String()
		}
		result := e.Result
		if !e.Complete {
			result = "incomplete"
		}
		host, errText := e.Host, historyError(e)
		if host == "" && e.Target != "" {
			host = fmt.Sprintf("%s (%s)", e.Target, plural.N(len(e.Hosts), "host", "hosts")) // a fleet run; its hosts have events of their own
			// In the history of one host, a run that recorded no event of
			// that host's own (untouched, unreachable before its turn)
			// says what became of it.
			if i := slices.IndexFunc(e.Hosts, func(h registry.HostResult) bool { return len(q.Hosts) == 1 && h.Host == q.Hosts[0] }); i >= 0 && e.Complete {
				host = fmt.Sprintf("%s (in %s, %s)", e.Hosts[i].Host, e.Target, plural.N(len(e.Hosts), "host", "hosts"))
				result, errText = e.Hosts[i].Result, e.Hosts[i].Error
			}
		}
		table.append(formatTime(e.Started), e.Operator, e.Command, host, e.Service, result, dur, errText)
	}
	return table.render(s)
}

// writeReadErrors says why services could not be read: once per host for
// its services that failed the same way (an unreachable host, one batched
// systemctl show that sudo refused or that timed out), naming them; once
// per service for the others.
func writeReadErrors(w io.Writer, failed []engine.InstanceStatus) {
	var hosts []string
	byHost := map[string][]engine.InstanceStatus{}
	for _, l := range failed {
		if _, seen := byHost[l.Host]; !seen {
			hosts = append(hosts, l.Host)
		}
		byHost[l.Host] = append(byHost[l.Host], l)
	}
	for _, h := range hosts {
		var reasons []string // in the order they first come
		services := map[string][]string{}
		for _, l := range byHost[h] {
			why := engine.Words(l.Err)
			if _, seen := services[why]; !seen {
				reasons = append(reasons, why)
			}
			services[why] = append(services[why], l.Service)
		}
		for _, why := range reasons {
			if names := services[why]; len(names) > 1 {
				fmt.Fprintf(w, "omni: %s (%s): %s\n", h, strings.Join(names, ", "), oneLine(why))
			} else {
				fmt.Fprintf(w, "omni: %s: %s: %s\n", h, names[0], oneLine(why))
			}
		}
	}
}
