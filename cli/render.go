package cli

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/olekukonko/tablewriter"

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
		field("Uptime", formatUptime(out.Uptime))
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

// renderPlan prints the task list of a --dry-run.
func renderPlan(w io.Writer, plan *engine.Plan) error {
	fmt.Fprintf(w, "Plan: %s %s on %s (playbook %s), nothing will be changed:\n", plan.Request.Action, plan.Service.Name, plan.Host.Name, plan.Playbook)
	table := tablewriter.NewTable(w)
	table.Header("#", "Host", "Service", "Step", "Timeout", "Detail", "Why")
	for i, t := range plan.Tasks {
		timeout := "-"
		if t.Timeout > 0 {
			timeout = t.Timeout.String()
		}
		if err := table.Append(strconv.Itoa(i+1), t.Host, t.Service, t.Step, timeout, t.Detail, t.Why); err != nil {
			return err
		}
	}
	return table.Render()
}
