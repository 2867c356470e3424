package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/inventory"
)

// Build information, set with -ldflags "-X github.com/omni-fleet/omni/cli.Version=v1.2.3
// -X github.com/omni-fleet/omni/cli.Commit=abc1234"; without them the Go
// build information (module version, VCS revision) is used.
var (
	Version = ""
	Commit  = ""
)

// versionString is what --version prints: "omni v1.2.3 (commit abc1234, go1.26.8)".
func versionString() string {
	version, commit, dirty := Version, Commit, false
	if info, ok := debug.ReadBuildInfo(); ok {
		if version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			version = info.Main.Version
		}
		for _, kv := range info.Settings {
			switch {
			case kv.Key == "vcs.revision" && commit == "":
				commit = kv.Value
			case kv.Key == "vcs.modified" && kv.Value == "true":
				dirty = true
			}
		}
	}
	if version == "" {
		version = "dev"
	}
	if commit == "" {
		commit = "unknown"
	} else if len(commit) > 12 {
		commit = commit[:12]
	}
	if dirty && Commit == "" {
		commit += "-dirty"
	}
	return fmt.Sprintf("omni %s (commit %s, %s)", version, commit, runtime.Version())
}

// addCompletionCommands registers `omni completion bash|zsh` and `omni man`.
// The scripts call `omni --completion-bash ...`, which kingpin answers from
// the commands, flags and the hints below.
func addCompletionCommands(app *kingpin.Application, s Streams, run *func(context.Context) error) {
	completion := app.Command("completion", "Print a shell completion script: source <(omni completion bash), or put `omni completion zsh` in a file _omni on $fpath.")
	shell := completion.Arg("SHELL", "bash or zsh").Required().Enum("bash", "zsh")
	completion.Action(func(*kingpin.ParseContext) error {
		*run = func(context.Context) error {
			tmpl := kingpin.BashCompletionTemplate
			if *shell == "zsh" {
				tmpl = kingpin.ZshCompletionTemplate
			}
			return writeTemplate(app, s, tmpl)
		}
		return nil
	})
	app.Command("man", "Print omni's man page (troff): omni man | man -l -").Action(func(*kingpin.ParseContext) error {
		*run = func(context.Context) error {
			app.UsageFuncs(mergeFuncs(usageFuncs(), manFuncs()))
			return writeTemplate(app, s, manPage(manSummary))
		}
		return nil
	})
}

func writeTemplate(app *kingpin.Application, s Streams, tmpl string) error {
	ctx, err := app.ParseContext(nil)
	if err != nil {
		return err
	}
	app.Writer(s.Out)
	return app.UsageForContextWithTemplate(ctx, 2, tmpl)
}

// Completion hints: names from the inventory named by -i / OMNI_INVENTORY
// (kingpin has set the flags by the time it asks). A broken or missing
// inventory completes nothing rather than printing errors into the shell.

func hostHints(g *globalOptions) func() []string {
	return func() []string {
		inv, err := inventory.Load(g.Inventory)
		if err != nil {
			return nil
		}
		return inv.TargetNames()
	}
}

func serviceHints(g *globalOptions, host *string) func() []string {
	return func() []string {
		inv, err := inventory.Load(g.Inventory)
		if err != nil {
			return nil
		}
		hosts, err := inv.Select(*host)
		if err != nil {
			return inv.ServiceNames()
		}
		var names []string
		for _, h := range hosts {
			for _, s := range inv.HostServices(h) {
				if !slices.Contains(names, s) {
					names = append(names, s)
				}
			}
		}
		return names
	}
}
