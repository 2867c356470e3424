package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/internal/shell"
)

// fleetDoc is the result of a fleet run: `omni service start|stop|restart
// TARGET SERVICE` where TARGET is not one host.
type fleetDoc struct {
	Command        string         `json:"command"`
	Target         string         `json:"target"`
	Service        string         `json:"service"`
	Mode           string         `json:"mode,omitempty"` // parallel or rolling
	Forks          int            `json:"forks,omitempty"`
	Batch          int            `json:"batch,omitempty"`
	MaxUnavailable int            `json:"max_unavailable,omitempty"`
	MaxFailures    int            `json:"max_failures"`
	MinReadyMS     int64          `json:"min_ready_ms,omitempty"`
	Result         string         `json:"result"` // ok, partial, failed, unreachable, refused, interrupted, unchanged
	ExitCode       int            `json:"exit_code"`
	Aborted        string         `json:"aborted,omitempty"` // why no new host was touched
	Interrupted    bool           `json:"interrupted,omitempty"`
	Summary        map[string]int `json:"summary"` // result -> hosts
	Hosts          []fleetHostDoc `json:"hosts"`
	Skipped        []string       `json:"skipped,omitempty"` // hosts of the target that do not run the service
	// Dependents: every instance that loses the service when all the hosts
	// stop it together (stop, restart), in stop order.
	Dependents []string `json:"dependents,omitempty"`
}

type fleetHostDoc struct {
	Host       string         `json:"host"`
	Service    string         `json:"service"`
	Batch      int            `json:"batch,omitempty"`
	Result     string         `json:"result"` // done, unchanged, failed, unreachable, interrupted, untouched
	DurationMS int64          `json:"duration_ms"`
	Error      string         `json:"error,omitempty"`
	Reason     string         `json:"reason,omitempty"` // the service's own last words, from its log tail
	Ready      string         `json:"min_ready,omitempty"`
	Status     *statusDoc     `json:"status,omitempty"`
	Health     *health.Report `json:"health,omitempty"`
	Steps      []stepDoc      `json:"steps,omitempty"`
	// NotRestarted: the host's running dependents a restart without
	// --cascade left alone (as in the one-host document).
	NotRestarted []string `json:"not_restarted,omitempty"`
	// NotChecked: as in the one-host document.
	NotChecked []notCheckedDoc `json:"not_checked,omitempty"`
	// RoundTrips: as in the one-host document, for this host's run.
	RoundTrips map[string]int `json:"round_trips,omitempty"`
}

func newFleetDoc(opts *serviceOptions, fo engine.FleetOptions, targets []engine.Target, rep *engine.FleetReport, skipped []string, code int, impact []engine.Instance) fleetDoc {
	doc := fleetDoc{Command: opts.Action, Target: opts.Host, Service: opts.Service, Mode: "parallel", Forks: fo.Forks,
		MaxFailures: fo.MaxFailures, Result: resultWord(code), ExitCode: code, Aborted: rep.Aborted,
		Interrupted: rep.Interrupted, Summary: map[string]int{}, Hosts: []fleetHostDoc{}, Skipped: skipped,
		Dependents: instanceStrings(impact)}
	if fo.Rolling {
		doc.Mode, doc.Batch, doc.MaxUnavailable, doc.MinReadyMS = "rolling", fo.Batch, fo.MaxUnavailable, millis(fo.MinReady)
	}
	for i, h := range rep.Hosts {
		doc.Summary[string(h.Result)]++
		hd := fleetHostDoc{Host: h.Host, Service: h.Service, Batch: h.Batch, Result: string(h.Result), DurationMS: millis(h.Duration), Ready: h.Ready}
		if h.Err != nil {
			hd.Error = engine.FailureAt(h.Err, h.Host, h.Service)
			hd.Reason, _, _ = engine.TailFields(h.Err)
		}
		if out := h.Outcome; out != nil {
			sd := newServiceDoc(targets[i].Plan, out, outcomeCode(out))
			hd.Status, hd.Health, hd.Steps, hd.NotRestarted, hd.NotChecked = sd.Status, sd.Health, sd.Steps, sd.NotRestarted, sd.NotChecked
			hd.RoundTrips = sd.RoundTrips
		}
		doc.Hosts = append(doc.Hosts, hd)
	}
	return doc
}

// renderFleetTable prints one row per host and a summary.
func renderFleetTable(s Streams, g *globalOptions, opts *serviceOptions, fo engine.FleetOptions, rep *engine.FleetReport, code int) error {
	st := styleFor(s)
	header := []string{"Host", "Service", "Result", "State", "Uptime", "Health", "Duration", "Error"}
	if fo.Rolling {
		header = append([]string{"Batch"}, header...)
	}
	table := newTable(header...)
	for _, h := range rep.Hosts {
		state, up, hc, dur, batch := "-", "-", "-", "-", "-"
		if out := h.Outcome; out != nil && recorded(out) {
			state = capitalize(out.State.Status)
			if out.State.Running {
				up = formatUptime(out.Uptime)
			}
			if out.Health != nil {
				hc = "Passed"
				if !out.Health.Passed() {
					hc = "Failed"
				}
			}
		}
		if h.Result == engine.HostFailed && minReadyFailed(h.Err) {
			hc = "Failed"
		}
		if h.Duration > 0 {
			dur = h.Duration.Round(time.Millisecond).String()
		}
		if h.Batch > 0 {
			batch = strconv.Itoa(h.Batch)
		}
		result := string(h.Result)
		if h.Result.Succeeded() {
			result = st.paint(green, result)
		} else {
			result = st.paint(red, result)
		}
		row := []string{h.Host, h.Service, result, st.state(state), up, st.state(hc), dur, shortFailure(h.Err, h.Host, h.Service)}
		if fo.Rolling {
			row = append([]string{batch}, row...)
		}
		table.append(row...)
	}
	if err := table.render(s); err != nil {
		return err
	}
	fmt.Fprintln(s.Out, fleetSummary(opts, rep))
	for _, r := range []engine.HostResult{engine.HostFailed, engine.HostUnreachable, engine.HostInterrupted, engine.HostUntouched} {
		if names := hostsWith(rep, r); len(names) > 0 {
			fmt.Fprintf(s.Out, "%s: %s\n", capitalize(string(r)), strings.Join(names, ", "))
		}
	}
	if left := notRestarted(rep); len(left) > 0 {
		writeInstances(s.Out, "Not restarted (pass --cascade to restart them too)", left)
	}
	if list, errs := notChecked(rep); len(list) > 0 {
		printUnknown(s.Out, list, errs)
	}
	if rep.Aborted != "" {
		fmt.Fprintf(s.Out, "Aborted: %s\n", rep.Aborted)
	}
	if rep.Interrupted {
		fmt.Fprintln(s.Out, "Interrupted: no new host was touched after the signal.")
	}
	if code != ExitOK && rep.Count(engine.HostUntouched)+rep.Failures() > 0 && opts.Action != "logs" {
		fmt.Fprintf(s.Out, "To finish the job: %s\n", resumeCommand(g, opts))
	}
	return nil
}

// resumeCommand is the command that finishes the job of a fleet run, to
// paste into a shell: the same inventory, playbooks and registry (where
// --resume reads which hosts are left), the same target and service, the
// flags that change what is done on a host (--cascade, --no-deps) and how
// the hosts are paced, each word quoted where a shell would change it (a
// glob target, worker[1-4], would expand against the files at hand).
func resumeCommand(g *globalOptions, opts *serviceOptions) string {
	w := []string{"omni"}
	if g != nil {
		if g.Inventory != "" && g.Inventory != "inventory.yaml" {
			w = append(w, "-i", g.Inventory)
		}
		if g.Playbooks != "" {
			w = append(w, "--playbooks", g.Playbooks)
		}
		if g.Registry != "" {
			w = append(w, "--registry", g.Registry)
		}
		if g.SSHConfig != "" {
			w = append(w, "--ssh-config", g.SSHConfig)
		}
	}
	w = append(w, "service", opts.Action, opts.Host, opts.Service)
	if opts.Cascade {
		w = append(w, "--cascade")
	}
	if opts.NoDeps {
		w = append(w, "--no-deps")
	}
	if opts.LockTimeout > 0 {
		w = append(w, "--lock-timeout="+opts.LockTimeout.String())
	}
	if opts.Forks != 20 && opts.Forks > 0 {
		w = append(w, fmt.Sprintf("--forks=%d", opts.Forks))
	}
	switch {
	case opts.RollingSet && opts.Rolling:
		w = append(w, "--rolling")
	case opts.RollingSet:
		w = append(w, "--no-rolling")
	}
	for _, f := range []struct{ name, val, def string }{
		{"batch", opts.Batch, "1"}, {"max-unavailable", opts.MaxUnavailable, ""},
		{"max-failures", opts.MaxFailures, "0"}, {"min-ready", opts.MinReady.String(), "5s"},
	} {
		if f.val != f.def && f.val != "" {
			w = append(w, "--"+f.name+"="+f.val)
		}
	}
	w = append(w, "--resume")
	for i, word := range w {
		w[i] = shellWord(word)
	}
	return strings.Join(w, " ")
}

// shellWord is word as a shell reads it back: as it is when no character
// in it means anything to a shell, else single-quoted.
func shellWord(word string) string {
	if word == "" {
		return shell.Quote(word)
	}
	for _, r := range word {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("-_./:=@%+,", r):
		default:
			return shell.Quote(word)
		}
	}
	return word
}

// notChecked is every host's dependents whose state a restart could not
// read, each once, with why (not for a host whose run failed on them: its
// error names them).
func notChecked(rep *engine.FleetReport) ([]engine.Instance, []error) {
	var list []engine.Instance
	var errs []error
	seen := map[engine.Instance]bool{}
	for _, h := range rep.Hosts {
		if h.Outcome == nil || failedAt(h.Outcome.Err, engine.StepFindDependents) {
			continue
		}
		for i, d := range h.Outcome.Unchecked {
			if !seen[d] && i < len(h.Outcome.UncheckedErrs) {
				seen[d] = true
				list, errs = append(list, d), append(errs, h.Outcome.UncheckedErrs[i])
			}
		}
	}
	return list, errs
}

// notRestarted is every host's running dependents that a restart without
// --cascade left alone, in host order, each once.
func notRestarted(rep *engine.FleetReport) []engine.Instance {
	var out []engine.Instance
	seen := map[engine.Instance]bool{}
	for _, h := range rep.Hosts {
		if h.Outcome == nil {
			continue
		}
		for _, d := range h.Outcome.NotRestarted {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

// fleetSummary is one line: "restart api-gateway on 4 hosts: 3 done, 1 failed".
func fleetSummary(opts *serviceOptions, rep *engine.FleetReport) string {
	var parts []string
	for _, r := range []engine.HostResult{engine.HostDone, engine.HostUnchanged, engine.HostFailed, engine.HostUnreachable, engine.HostInterrupted, engine.HostUntouched} {
		if n := rep.Count(r); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, r))
		}
	}
	return fmt.Sprintf("%s %s on %s of %s: %s", opts.Action, opts.Service, plural.N(len(rep.Hosts), "host", "hosts"), opts.Host, strings.Join(parts, ", "))
}

func hostsWith(rep *engine.FleetReport, r engine.HostResult) []string {
	var names []string
	for _, h := range rep.Hosts {
		if h.Result == r {
			names = append(names, h.Host)
		}
	}
	return names
}

// renderFleetPlan is --dry-run for a fleet: how the hosts will be taken,
// then each host's tasks.
//
// byRole, for a stop or restart, are the requirements on a role its targets help
// meet (engine.RoleRequirements): whether the run takes them away is read
// only when it runs, and the plan says so.
func renderFleetPlan(s Streams, g *globalOptions, opts *serviceOptions, fo engine.FleetOptions, targets []engine.Target, impact []engine.Instance, byRole []string) error {
	if g.Output == "json" {
		plans := make([]planDoc, len(targets))
		for i, t := range targets {
			plans[i] = newPlanDoc(t.Plan)
		}
		doc := map[string]any{"command": opts.Action, "target": opts.Host, "service": opts.Service, "dry_run": true,
			"mode": map[bool]string{true: "rolling", false: "parallel"}[fo.Rolling], "forks": fo.Forks,
			"max_failures": fo.MaxFailures, "plans": plans}
		if len(impact) > 0 {
			doc["dependents"] = instanceStrings(impact)
		}
		if len(byRole) > 0 {
			doc["needed_on_role"] = byRole
		}
		if fo.Rolling {
			doc["batch"], doc["max_unavailable"], doc["min_ready_ms"] = fo.Batch, fo.MaxUnavailable, millis(fo.MinReady)
		}
		return writeJSON(s.Out, doc)
	}
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Host
	}
	if fo.Rolling {
		fmt.Fprintf(s.Out, "Rolling %s of %s on %s, in batches of %d (max-unavailable %d; instances already down go first, and count against it until back%s; max-failures %d): %s\n\n",
			opts.Action, opts.Service, plural.N(len(targets), "host", "hosts"), fo.Batch, fo.MaxUnavailable, minReadyText(fo, "; "), fo.MaxFailures, strings.Join(names, ", "))
	} else {
		fmt.Fprintf(s.Out, "%s %s on %s, %d at a time (max-failures %d): %s\n\n",
			capitalize(opts.Action), opts.Service, plural.N(len(targets), "host", "hosts"), fo.Forks, fo.MaxFailures, strings.Join(names, ", "))
	}
	reqs := byRole
	if len(impact) > 0 {
		writeImpact(s.Out, opts, opts.Service, targets, impact)
	}
	if len(reqs) > 0 {
		asked := ""
		if opts.Action == "stop" {
			asked = ", and asked about"
		}
		fmt.Fprintf(s.Out, "Needed on a role by other services (%s): before anything changes, the run reads the role's instances outside it; if none is running and healthy, the running services that need it are named too%s.\n",
			strings.Join(reqs, ", "), asked)
	}
	if len(impact) > 0 || len(reqs) > 0 {
		fmt.Fprintln(s.Out)
	}
	for i, t := range targets {
		if i > 0 {
			fmt.Fprintln(s.Out)
		}
		if err := renderPlan(s, t.Plan); err != nil {
			return err
		}
	}
	return nil
}
