package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/engine"
)

func addConfigPullCommand(cfg *kingpin.CmdClause, g *globalOptions, s Streams, run *func(context.Context) error) {
	var req engine.ConfigPullRequest
	cmd := cfg.Command("pull", "Adopt a host's configuration: write the host's copies of the service's files: entries into their sources in the checkout, and print the env/dropin lines to put in the inventory. Secret files are never pulled.")
	cmd.Arg("HOST", "A host of the inventory.").Required().HintAction(hostHints(g)).StringVar(&req.Host)
	cmd.Arg("SERVICE", "A service of that host.").Required().HintAction(serviceHints(g, &req.Host)).StringVar(&req.Service)
	cmd.Flag("yes", "Also write sources other hosts read too (no per-host override): they will get this host's copy at their next apply.").Short('y').BoolVar(&req.Yes)
	cmd.Flag("dry-run", "Say what would be written and write nothing.").BoolVar(&req.DryRun)
	cmd.Action(func(*kingpin.ParseContext) error {
		*run = func(ctx context.Context) error { return configPullRun(ctx, g, s, req) }
		return nil
	})
}

func configPullRun(ctx context.Context, g *globalOptions, s Streams, req engine.ConfigPullRequest) error {
	inv, err := loadInventory(g)
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
	rep, err := engine.PullConfig(ctx, inv, reg, conn, req)
	if rep == nil {
		return err
	}
	if g.Output == "json" {
		if werr := writeJSON(s.Out, rep); werr != nil {
			return werr
		}
	} else {
		writeConfigPull(s.Out, rep)
	}
	if err != nil {
		return err
	}
	if refused := rep.Refused(); len(refused) > 0 {
		return &refusedError{fmt.Sprintf("not pulled: %s (see above)", strings.Join(refused, ", "))}
	}
	return nil
}

func writeConfigPull(w io.Writer, rep *engine.ConfigPullReport) {
	for _, f := range rep.Files {
		switch f.Action {
		case engine.PullWritten, engine.PullWouldDo:
			fmt.Fprintf(w, "%s: %s %s (+%d -%d lines)\n", f.Path, f.Action, f.Source, f.Added, f.Removed)
			if len(f.SharedWith) > 0 {
				fmt.Fprintf(w, "  %s is also the source of %s on %s: they get this copy at their next apply\n", f.Source, rep.Service, strings.Join(f.SharedWith, ", "))
			}
		case engine.PullUnchanged:
			fmt.Fprintf(w, "%s: unchanged (the host has what the inventory says)\n", f.Path)
		case engine.PullMissing:
			fmt.Fprintf(w, "%s: missing on %s; its source is left alone\n", f.Path, rep.Host)
		case engine.PullSecret:
			if f.WrittenAsSecret {
				fmt.Fprintf(w, "%s: not pulled: omni wrote the host's copy as a secret file (secret: true) and it may hold that secret still; omni never brings secret content onto disk (apply the inventory's new content first)\n", f.Path)
				continue
			}
			fmt.Fprintf(w, "%s: secret: not pulled (omni never brings secret content onto disk; copy it into its source by hand if you must)\n", f.Path)
		case engine.PullShared:
			fmt.Fprintf(w, "%s: not pulled: its source %s is shared with %s (no per-host override); pass --yes to write it anyway (+%d -%d lines), or give %s its own source under hosts.%s.config.%s.files\n",
				f.Path, f.Source, strings.Join(f.SharedWith, ", "), f.Added, f.Removed, rep.Host, rep.Host, rep.Service)
		case engine.PullByHand:
			where := "services." + rep.Service + "." + f.Kind
			fmt.Fprintf(w, "%s: differs; %s cannot be written back into the YAML: put these under %s (or hosts.%s.config.%s.%s for this host only):\n",
				f.Path, f.Kind, where, rep.Host, rep.Service, f.Kind)
			for _, l := range f.YAML {
				fmt.Fprintf(w, "    %s\n", l)
			}
			for _, k := range f.SecretKeys {
				fmt.Fprintf(w, "    # %s (secret) differs on the host: update its from_env/from_file source yourself; its value is not shown\n", k)
			}
		}
	}
}
