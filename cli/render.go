package cli

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/omni-fleet/omni/engine"
)

// writeStatusBlock prints the spec's "Service Status:" block.
func writeStatusBlock(w io.Writer, st style, plan *engine.Plan, out *engine.Outcome) {
	field := func(label, value string) { fmt.Fprintf(w, "%-18s%s\n", label+":", value) }
	fmt.Fprintln(w, "Service Status:")
	field("Name", plan.Service.Name)
	field("Host", plan.Host.Name)
	if out.State.Running {
		field("Status", st.state("Running"))
		if out.State.Since.IsZero() {
			field("Uptime", "unknown") // the host's timestamps could not be read
		} else {
			field("Uptime", formatUptime(out.Uptime))
		}
	} else {
		field("Status", st.state(capitalize(out.State.Status)))
		if out.LastActive.IsZero() {
			field("Last Active", "never seen running")
		} else {
			field("Last Active", formatTime(out.LastActive))
		}
	}
	if out.Health != nil {
		if len(out.Health.Checks) == 0 {
			field("Health Check", st.state("None configured"))
		} else if d := out.Health.Degraded(); out.Health.Passed() && d != "" {
			field("Health Check", st.state("Degraded")+" ("+d+")")
		} else if out.Health.Passed() {
			field("Health Check", st.state("Passed"))
		} else {
			field("Health Check", st.state("Failed")+" ("+out.Health.Failure()+")")
		}
	}
}

// formatUptime prints durations the way the spec does: "0m 5s", "2h 3m 4s", "3d 4h 5m".
func formatUptime(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	days, hours, mins, secs := s/86400, s%86400/3600, s%3600/60, s%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh %dm %ds", hours, mins, secs)
	default:
		return fmt.Sprintf("%dm %ds", mins, secs)
	}
}

func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// renderPlan prints the task list of a --dry-run. The Host and Service
// columns appear only when a task runs on another host or service than
// the one the first line names, and Why only when a task has a reason.
func renderPlan(s Streams, plan *engine.Plan) error {
	fmt.Fprintf(s.Out, "Plan: %s %s on %s (playbook %s), nothing will be changed:\n", plan.Request.Action, plan.Service.Name, plan.Host.Name, plan.Playbook)
	var otherHost, otherService, why bool
	for _, t := range plan.Tasks {
		otherHost = otherHost || t.Host != plan.Host.Name
		otherService = otherService || t.Service != plan.Service.Name
		why = why || t.Why != ""
	}
	header := []string{"#"}
	if otherHost {
		header = append(header, "Host")
	}
	if otherService {
		header = append(header, "Service")
	}
	header = append(header, "Step", "Timeout", "Detail")
	if why {
		header = append(header, "Why")
	}
	table := newTable(header...)
	for i, t := range plan.Tasks {
		timeout := "-"
		if t.Timeout > 0 {
			timeout = t.Timeout.String()
		}
		row := []string{strconv.Itoa(i + 1)}
		if otherHost {
			row = append(row, t.Host)
		}
		if otherService {
			row = append(row, t.Service)
		}
		row = append(row, string(t.Step), timeout, t.Detail)
		if why {
			row = append(row, t.Why)
		}
		table.append(row...)
	}
	return table.render(s)
}
