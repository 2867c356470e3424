package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/internal/plural"
)

type configDiffOptions struct {
	Target  string
	Service string
	Forks   int
	Verbose bool
}

func init() {
	configCommands = append(configCommands, addConfigDiff)
}

func addConfigDiff(group *kingpin.CmdClause, g *globalOptions, s Streams, run *func(context.Context) error) {
	o := &configDiffOptions{}
	cmd := group.Command("diff", "Compare the declared configuration with the hosts: a unified diff per file (secrets named, never shown), "+
		"mode and owner drift, NeedDaemonReload, and a pending restart. Exit 0 when nothing differs, 6 when something does.")
	cmd.Arg("TARGET", "A host, a role, a glob, a comma list, or all (the default).").Default("all").HintAction(hostHints(g)).StringVar(&o.Target)
	cmd.Arg("SERVICE", "A service (default: every service of the hosts that declares configuration).").HintAction(serviceHints(g, &o.Target)).StringVar(&o.Service)
	cmd.Flag("forks", "Hosts read at once.").Default("20").IntVar(&o.Forks)
	cmd.Flag("verbose", "Say on stderr how many round trips each host took.").Short('v').BoolVar(&o.Verbose)
	cmd.Action(func(*kingpin.ParseContext) error {
		*run = func(ctx context.Context) error { return configDiff(ctx, g, s, o) }
		return nil
	})
}

func configDiff(ctx context.Context, g *globalOptions, s Streams, o *configDiffOptions) error {
	if o.Forks < 1 {
		return &usageError{"--forks must be 1 or more"}
	}
	inv, err := loadInventory(g)
	if err != nil {
		return err
	}
	reg, err := openStore(ctx, g, inv)
	if err != nil {
		return err
	}
	defer reg.Close()
	rep, err := engine.DiffConfig(ctx, reg, engine.ConfigRequest{Target: o.Target, Service: o.Service, Forks: o.Forks},
		configEnv(g, s, inv))
	if err != nil {
		return err
	}
	code := diffCode(ctx, rep)
	if g.Output == "json" {
		if err := writeJSON(s.Out, newDiffDoc(o, rep, code)); err != nil {
			return err
		}
	} else {
		renderDiff(s, rep)
	}
	for _, h := range rep.Hosts {
		if h.Err != nil {
			fmt.Fprintf(s.Err, "omni: %s\n", indentContinuation(engine.Words(h.Err)))
		}
	}
	if o.Verbose {
		for _, h := range rep.Hosts {
			printHostTrips(s.Err, h.Host, h.RoundTrips, "")
		}
	}
	return codeOnly(code)
}

// diffCode: errors first, by the rule of every run over several hosts
// (engine.Tally: all failed alike is their code, some is partial), then 6
// when anything differs or is pending.
func diffCode(ctx context.Context, rep *engine.ConfigDiffReport) int {
	t := engine.Tally{Interrupted: ctx.Err() != nil}
	for _, h := range rep.Hosts {
		t.Add(h.Err)
	}
	if c := t.Class(); c != engine.ClassOK {
		return classCode(c)
	}
	if rep.Differs() {
		return ExitDiffers
	}
	return ExitOK
}

// renderDiff prints, per (host, service) that differs, its files' diffs,
// drift, NeedDaemonReload and why a restart is pending; then a summary.
func renderDiff(s Streams, rep *engine.ConfigDiffReport) {
	w := s.Out
	differ, same := 0, 0
	for _, h := range rep.Hosts {
		for _, sv := range h.Services {
			if !sv.Differs() {
				same++
				continue
			}
			differ++
			fmt.Fprintf(w, "== %s on %s\n", sv.Service, h.Host)
			for _, f := range sv.Files {
				if f.State == "same" {
					continue
				}
				switch {
				case f.State == "new" && f.Secret:
					fmt.Fprintf(w, "+ %s (new file, secret)\n", f.Path)
				case f.State == "new":
					fmt.Fprintf(w, "+ %s (new file)\n", f.Path)
				case f.State == "changed" && f.Secret:
					fmt.Fprintf(w, "~ %s (secret, changed)\n", f.Path)
				case f.State == "changed":
					fmt.Fprintf(w, "~ %s\n", f.Path)
				case f.State == "attrs":
					fmt.Fprintf(w, "~ %s (mode/owner)\n", f.Path)
				}
				for _, k := range f.Keys {
					fmt.Fprintf(w, "  %s\n", k)
				}
				if f.Diff != "" {
					fmt.Fprint(w, indentLines(f.Diff, "  "))
				}
				for _, d := range f.Drift {
					fmt.Fprintf(w, "  %s\n", d)
				}
			}
			if sv.NeedDaemonReload {
				fmt.Fprintf(w, "! NeedDaemonReload: systemd has not read its unit files since they changed (omni config apply runs the daemon-reload)\n")
			}
			for _, p := range sv.Pending {
				fmt.Fprintf(w, "! pending restart: %s\n", p)
			}
			fmt.Fprintln(w)
		}
	}
	switch {
	case differ == 0 && same > 0:
		fmt.Fprintf(w, "No difference: %s as declared, none pending a restart.\n", plural.N(same, "service is", "services are"))
	case differ > 0:
		fmt.Fprintf(w, "%s, %d as declared.\n", plural.N(differ, "service differs or is pending", "services differ or are pending"), same)
	}
}

func indentLines(text, prefix string) string {
	lines := strings.SplitAfter(text, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

// diffDoc is `omni config diff -o json` (docs/json.md).
type diffDoc struct {
	Command  string        `json:"command"` // "config diff"
	Target   string        `json:"target"`
	Service  string        `json:"service,omitempty"`
	Differs  bool          `json:"differs"`
	Result   string        `json:"result"` // ok, differs, or an error class
	ExitCode int           `json:"exit_code"`
	Hosts    []diffHostDoc `json:"hosts"`
}

type diffHostDoc struct {
	Host     string           `json:"host"`
	Error    string           `json:"error,omitempty"`
	Services []diffServiceDoc `json:"services,omitempty"`
	// RoundTrips: the round trips after authentication on this host.
	RoundTrips *int `json:"round_trips,omitempty"`
}

type diffServiceDoc struct {
	Service          string        `json:"service"`
	Differs          bool          `json:"differs"`
	NeedDaemonReload bool          `json:"need_daemon_reload"`
	Pending          bool          `json:"pending"`
	PendingReasons   []string      `json:"pending_reasons,omitempty"`
	Files            []diffFileDoc `json:"files"`
}

type diffFileDoc struct {
	Path   string       `json:"path"`
	Kind   string       `json:"kind"`
	State  string       `json:"state"` // same, new, changed, attrs
	Secret bool         `json:"secret,omitempty"`
	Diff   string       `json:"diff,omitempty"` // unified, non-secret content only
	Keys   []diffKeyDoc `json:"keys,omitempty"` // an env file with secret keys, by key
	Drift  []string     `json:"drift,omitempty"`
}

type diffKeyDoc struct {
	Key    string `json:"key"`
	Op     string `json:"op"` // + - ~
	Secret bool   `json:"secret,omitempty"`
	Old    string `json:"old,omitempty"` // never for a secret
	New    string `json:"new,omitempty"`
	// NotOmnis: a line of the host's copy not in omni's format; Key is
	// what stands before its '='.
	NotOmnis bool `json:"not_omnis_format,omitempty"`
}

func newDiffDoc(o *configDiffOptions, rep *engine.ConfigDiffReport, code int) diffDoc {
	doc := diffDoc{Command: "config diff", Target: o.Target, Service: o.Service, Differs: rep.Differs(), ExitCode: code, Hosts: []diffHostDoc{}}
	doc.Result = resultWord(code)
	if code == ExitDiffers {
		doc.Result = "differs"
	}
	for _, h := range rep.Hosts {
		hd := diffHostDoc{Host: h.Host, RoundTrips: tripsCount(h.RoundTrips)}
		if h.Err != nil {
			hd.Error = engine.Words(h.Err)
		}
		for _, sv := range h.Services {
			sd := diffServiceDoc{Service: sv.Service, Differs: sv.Differs(), NeedDaemonReload: sv.NeedDaemonReload,
				Pending: len(sv.Pending) > 0, PendingReasons: sv.Pending, Files: []diffFileDoc{}}
			for _, f := range sv.Files {
				fd := diffFileDoc{Path: f.Path, Kind: string(f.Kind), State: f.State, Secret: f.Secret, Diff: f.Diff, Drift: f.Drift}
				for _, k := range f.Keys {
					fd.Keys = append(fd.Keys, diffKeyDoc{Key: k.Key, Op: k.Op, Secret: k.Secret, Old: k.Old, New: k.New, NotOmnis: k.Odd})
				}
				sd.Files = append(sd.Files, fd)
			}
			hd.Services = append(hd.Services, sd)
		}
		doc.Hosts = append(doc.Hosts, hd)
	}
	return doc
}
