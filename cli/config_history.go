package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/registry"
)

func addConfigHistoryCommand(cfg *kingpin.CmdClause, g *globalOptions, s Streams, run *func(context.Context) error) {
	var target, service string
	var limit int
	cmd := cfg.Command("history", "The recorded changes of configuration files, newest first: when, who, where, each file's action and content hashes (never a secret file's), and the run's result.")
	cmd.Arg("TARGET", "A host, a role, a glob (worker*), a comma list, or all (default: every host).").HintAction(hostHints(g)).StringVar(&target)
	cmd.Arg("SERVICE", "One service.").HintAction(serviceHints(g, &target)).StringVar(&service)
	cmd.Flag("limit", "At most this many operations (0: all).").Default("20").IntVar(&limit)
	cmd.Action(func(*kingpin.ParseContext) error {
		*run = func(ctx context.Context) error { return configHistoryRun(ctx, g, s, target, service, limit) }
		return nil
	})
}

// secretHash stands for the content hash of a secret file in every
// history omni prints: the registry keeps it, to tell that the file
// changed, but a printed hash of a low-entropy secret (a short password)
// can be brute-forced offline.
const secretHash = "(secret)"

// configHistoryDoc is the JSON of `omni config history`.
type configHistoryDoc struct {
	Events []configEventDoc `json:"events"`
}

type configEventDoc struct {
	ID       string            `json:"id"`
	Started  time.Time         `json:"started"`
	Operator string            `json:"operator"`
	Command  string            `json:"command"`
	Host     string            `json:"host"`
	Service  string            `json:"service"`
	Result   string            `json:"result"`
	Error    string            `json:"error,omitempty"`
	Files    []configChangeDoc `json:"files"`
}

// configChangeDoc is one file's change; Old and New are "(secret)" for a
// secret file, "" for a file that did not exist.
type configChangeDoc struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"`
	Action string `json:"action"`
	Secret bool   `json:"secret,omitempty"`
	// OldSecret: the old side held a secret though the file holds none
	// now: Old is "(secret)".
	OldSecret bool   `json:"old_secret,omitempty"`
	Old       string `json:"old,omitempty"`
	New       string `json:"new,omitempty"`
}

func configHistoryRun(ctx context.Context, g *globalOptions, s Streams, target, service string, limit int) error {
	if limit < 0 {
		return &usageError{"--limit must be 0 or more"}
	}
	inv, err := loadInventory(g)
	if err != nil {
		return err
	}
	q := registry.EventQuery{Service: service, Limit: limit, ConfigOnly: true}
	if target != "" {
		if q.Hosts, err = targetHosts(inv, target, service); err != nil {
			return err
		}
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
	doc := configHistoryDoc{Events: []configEventDoc{}}
	for _, e := range events {
		doc.Events = append(doc.Events, configEvent(e))
	}
	if g.Output == "json" {
		return writeJSON(s.Out, doc)
	}
	writeConfigHistory(s.Out, doc)
	return nil
}

// configEvent is an event as config history shows it: secret hashes
// replaced by "(secret)".
func configEvent(e registry.Event) configEventDoc {
	d := configEventDoc{ID: e.ID, Started: e.Started.UTC(), Operator: e.Operator, Command: e.Command,
		Host: e.Host, Service: e.Service, Result: e.Result, Error: e.Error, Files: []configChangeDoc{}}
	if !e.Complete {
		d.Result = registry.ResultIncomplete
	}
	for _, c := range scrubSecretHashes(e.Config) {
		d.Files = append(d.Files, configChangeDoc{Path: c.Path, Kind: c.Kind, Action: c.Action, Secret: c.Secret, OldSecret: c.OldSecret, Old: c.Old, New: c.New})
	}
	return d
}

// scrubSecretHashes is changes with the hashes of secret files replaced
// by "(secret)" (a file that did not exist keeps ""), and the old hash of
// a file whose old side held a secret (OldSecret).
func scrubSecretHashes(changes []registry.ConfigChange) []registry.ConfigChange {
	out := make([]registry.ConfigChange, len(changes))
	for i, c := range changes {
		if (c.Secret || c.OldSecret) && c.Old != "" {
			c.Old = secretHash
		}
		if c.Secret && c.New != "" {
			c.New = secretHash
		}
		out[i] = c
	}
	return out
}

// scrubEvents is events with every secret file's hash replaced (the JSON
// of `omni service history`).
func scrubEvents(events []registry.Event) []registry.Event {
	for i := range events {
		events[i].Config = scrubSecretHashes(events[i].Config)
	}
	return events
}

// shortHash is a hash as history prints it: 12 hex digits, "(none)" for a
// file that did not exist.
func shortHash(h string) string {
	switch h {
	case "":
		return "(none)"
	case secretHash:
		return h
	}
	return engine.ShortHash(h)
}

func writeConfigHistory(w io.Writer, doc configHistoryDoc) {
	if len(doc.Events) == 0 {
		fmt.Fprintln(w, "No configuration changes recorded.")
		return
	}
	for i, e := range doc.Events {
		if i > 0 {
			fmt.Fprintln(w)
		}
		result := e.Result
		if e.Error != "" {
			result += ": " + e.Error
		}
		fmt.Fprintf(w, "%s  %s  %s  %s %s  %s\n", formatTime(e.Started), e.Operator, e.Command, e.Host, e.Service, indentContinuation(result))
		for _, c := range e.Files {
			if c.Action == registry.ConfigUnchanged {
				continue
			}
			fmt.Fprintf(w, "  %-12s %s  %s → %s\n", c.Action, c.Path, shortHash(c.Old), shortHash(c.New))
		}
	}
}
