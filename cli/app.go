package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/sshconfig"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/playbooks"
	"github.com/omni-fleet/omni/registry"
)

// globalOptions are the flags every command takes.
type globalOptions struct {
	redactor          *redactor
	Inventory         string
	Playbooks         string
	Registry          string
	RegistryFlag      bool // Registry came from --registry, not OMNI_REGISTRY
	AcceptNewHostKeys bool
	Output            string // "text" or "json"
	SSHConfig         string // OpenSSH client config file, or "none"
}

// terminated is how kingpin's --help/--version end a run without os.Exit.
type terminated struct{ code int }

// Run parses args (without the program name), runs the command and returns
// the exit code. It never calls os.Exit.
func Run(ctx context.Context, args []string, s Streams) (code int) {
	app := kingpin.New("omni", "Manage the services of a fleet of hosts over SSH, from a YAML inventory.\n\n"+exitCodesHelp)
	app.Version(versionString())
	app.HelpFlag.Short('h').Help("Show context-sensitive help (also try --help-long; omni man prints the man page).")
	app.UsageFuncs(usageFuncs())
	app.Terminate(func(c int) { panic(terminated{c}) })
	defer func() {
		if r := recover(); r != nil {
			t, ok := r.(terminated)
			if !ok {
				panic(r)
			}
			code = t.code
		}
	}()

	// No secret of the inventory's is ever written out (see redactor).
	g := &globalOptions{redactor: &redactor{}}
	s.Out, s.Err = g.redactor.writer(s.Out), g.redactor.writer(s.Err)
	app.Writer(s.Out).ErrorWriter(s.Err).UsageWriter(s.Out)
	app.Flag("inventory", "Inventory file.").Short('i').Envar("OMNI_INVENTORY").Default("inventory.yaml").StringVar(&g.Inventory)
	app.Flag("playbooks", "Directory whose start/stop/restart/logs.yaml override the built-in playbooks.").Envar("OMNI_PLAYBOOKS").StringVar(&g.Playbooks)
	app.Flag("registry", "Service registry file (default: the inventory's registry.path, else $XDG_STATE_HOME/omni/registry.db); refused when the inventory's registry is etcd.").Envar("OMNI_REGISTRY").IsSetByUser(&g.RegistryFlag).StringVar(&g.Registry)
	app.Flag("ssh-config", "OpenSSH client config to honour, or none (default: the inventory's defaults.ssh_config, else ~/.ssh/config); the inventory wins where both say something.").Envar("OMNI_SSH_CONFIG").StringVar(&g.SSHConfig)
	app.Flag("accept-new-host-keys", "Trust and record the keys of hosts not yet in known_hosts (changed keys are still refused).").BoolVar(&g.AcceptNewHostKeys)

	app.Flag("output", "Output format of reports: text or json (stable, see docs/json.md).").Short('o').Default("text").EnumVar(&g.Output, "text", "json")

	var run func(context.Context) error
	addServiceCommands(app, g, s, &run)
	addInventoryCommands(app, g, s, &run)
	addConfigCommands(app, g, s, &run)
	addLabCommands(app, g, s, &run)
	addCompletionCommands(app, s, &run)

	if len(args) == 0 {
		app.Usage(nil)
		return ExitUsage
	}
	if noCommand(app, args) {
		// Flags but no command: kingpin prints the usage and ends with
		// status 0; it is a usage error, as no arguments at all are.
		const msg = "command not specified (see omni --help)"
		fmt.Fprintf(s.Err, "omni: %s\n", msg)
		if asksJSON(args) {
			_ = writeJSON(s.Out, errorDoc{Result: "error", ExitCode: ExitUsage, Error: msg})
		} else {
			app.Usage(nil)
		}
		return ExitUsage
	}
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(s.Err, "omni: %v (see omni --help)\n", err)
		if g.Output == "json" || asksJSON(args) {
			_ = writeJSON(s.Out, errorDoc{Result: "error", ExitCode: ExitUsage, Error: err.Error() + " (see omni --help)"})
		}
		return ExitUsage
	}
	err := run(ctx)
	code = exitCode(err)
	if errors.Is(err, errReported) {
		return reportedCode(err)
	}
	if err == nil {
		return ExitOK
	}
	var invalid inventory.ErrorList
	if errors.As(err, &invalid) {
		// FILE:LINE: message, one per line, for editors and CI annotations.
		fmt.Fprintln(s.Err, invalid.Error())
	} else {
		fmt.Fprintf(s.Err, "omni: %s\n", indentContinuation(engine.Words(err)))
	}
	if g.Output == "json" {
		doc := errorDoc{Result: resultWord(code), ExitCode: code, Error: engine.Words(err), Errors: invErrors(invalid)}
		if code == ExitUsage {
			doc.Result = "error"
		}
		_ = writeJSON(s.Out, doc)
	}
	return code
}

// noCommand reports whether args parse to no command at all and ask for
// nothing that stands without one (help, version, completion).
func noCommand(app *kingpin.Application, args []string) bool {
	pc, err := app.ParseContext(args)
	if err != nil || pc.SelectedCommand != nil {
		return false
	}
	for _, e := range pc.Elements {
		if f, ok := e.Clause.(*kingpin.FlagClause); ok {
			switch name := f.Model().Name; {
			case name == "version", strings.HasPrefix(name, "help"), strings.HasPrefix(name, "completion"):
				return false
			}
		}
	}
	return true
}

// asksJSON reports whether args ask for -o json, for a command line that
// could not be parsed (so the flag's value may not have been set).
func asksJSON(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "-ojson" || a == "--output=json" || a == "-o=json":
			return true
		case (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

// errReported marks an error already shown to the user; its code travels with it.
var errReported = errors.New("reported")

type reported struct {
	code int
}

func (r reported) Error() string { return "reported" }
func (r reported) Is(target error) bool {
	return target == errReported
}

func reportedCode(err error) int {
	var r reported
	if errors.As(err, &r) {
		return r.code
	}
	return ExitFailed
}

func indentContinuation(msg string) string {
	return strings.ReplaceAll(msg, "\n", "\n  ")
}

// loadInventory loads and validates the inventory; errors exit 2.
func loadInventory(g *globalOptions) (*inventory.Inventory, error) {
	if _, err := os.Stat(g.Inventory); errors.Is(err, os.ErrNotExist) {
		return nil, &usageError{fmt.Sprintf("inventory %s not found (use -i FILE or OMNI_INVENTORY)", g.Inventory)}
	}
	inv, err := inventory.Load(g.Inventory)
	if err == nil && g.redactor != nil {
		g.redactor.set(config.InventorySecrets(inv))
	}
	return inv, err
}

func loadPlaybooks(g *globalOptions) (*playbooks.Set, error) {
	set, err := engine.LoadPlaybooks(g.Playbooks)
	if err != nil {
		return nil, &usageError{err.Error()}
	}
	return set, nil
}

// openStore opens the service registry: --registry, else the inventory's
// registry (embedded path or etcd), else the default embedded store.
func openStore(ctx context.Context, g *globalOptions, inv *inventory.Inventory) (registry.Store, error) {
	var (
		reg registry.Store
		err error
	)
	switch {
	case g.Registry != "" && inv.Registry.Etcd != nil:
		// The team's runs lock on etcd: a run locking in a file would
		// not see them, nor they it.
		name, given := "--registry", "--registry "+g.Registry
		if !g.RegistryFlag {
			name, given = "OMNI_REGISTRY", "OMNI_REGISTRY="+g.Registry
		}
		return nil, &usageError{fmt.Sprintf("%s names a registry file, but the inventory's registry is etcd (%s:%d: registry.etcd): "+
			"runs would lock in the file, apart from the runs that lock on etcd; remove %s, or the inventory's registry.etcd",
			given, g.Inventory, inv.Registry.Etcd.Line, name)}
	case g.Registry != "":
		reg, err = registry.Open(ctx, g.Registry, nil)
	case inv.Registry.Etcd != nil:
		e := inv.Registry.Etcd
		reg, err = registry.Open(ctx, "", &registry.EtcdConfig{Endpoints: e.Endpoints, Prefix: e.Prefix})
	default:
		reg, err = registry.Open(ctx, inv.Registry.Path, nil)
	}
	if err != nil || g.redactor == nil {
		return reg, err
	}
	return engine.RedactedStore(reg, g.redactor.secrets.Load()), nil
}

// openStoreFor opens the registry for a run of targets, unless the run
// only reads its hosts (engine.ReadsOnly: logs), which needs none: nil
// then, and a registry that cannot be opened (damaged, busy, etcd down)
// does not stand between an operator and the logs.
func openStoreFor(ctx context.Context, g *globalOptions, inv *inventory.Inventory, targets []engine.Target) (registry.Store, error) {
	if engine.ReadsOnly(targets) {
		return nil, nil
	}
	return openStore(ctx, g, inv)
}

// loadSSHConfig reads the OpenSSH client config named by --ssh-config (or
// OMNI_SSH_CONFIG), else by the inventory, else ~/.ssh/config, and prints
// what it ignores.
func loadSSHConfig(g *globalOptions, s Streams, inv *inventory.Inventory) (*sshconfig.Config, error) {
	path := g.SSHConfig
	if path == "" {
		path = inv.Defaults.SSHConfig
	}
	if path == "" {
		path = sshconfig.DefaultPath()
	}
	cfg, err := sshconfig.Load(path)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(s.Err, "omni: %s\n", w)
	}
	return cfg, nil
}

// connector is how a command reaches hosts: the SSH client config and a
// pool with one connection per host. close closes the connections.
func connector(g *globalOptions, s Streams, inv *inventory.Inventory) (conn *engine.SSHConnector, close func(), err error) {
	sshCfg, err := loadSSHConfig(g, s, inv)
	if err != nil {
		return nil, nil, err
	}
	persist, err := controlPersist(inv)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex // dials run at once; one line each
	pool := transport.NewPool(transport.Options{UseAgent: true, AcceptNewHostKeys: g.AcceptNewHostKeys,
		OnNewHostKey: func(k transport.NewHostKey) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(s.Err, "omni: %s (%s): trusted a new host key, %s %s, added to %s\n", k.Host, k.Address, k.KeyType, k.Fingerprint, k.KnownHosts)
		},
		ControlPersist: persist,
		OnControlWarning: func(host, msg string) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(s.Err, "omni: warning: %s: %s\n", host, msg)
		}})
	return &engine.SSHConnector{Pool: pool, Inventory: inv, SSHConfig: sshCfg}, func() { pool.Close() }, nil
}
