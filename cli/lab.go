package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/lab"
	"github.com/omni-fleet/omni/lab/demosvc"
)

// labUpOptions are the flags of `omni lab up`.
type labUpOptions struct {
	From       string
	Dir        string
	Hosts      int
	NoServices bool
	Port       int
	Parallel   int
}

// labServiceFlags are the flags `omni lab service` passes on to the demo
// service; the kingpin name is the demo service's flag name.
var labServiceFlags = []struct{ name, help string }{
	{"name", "Service name, in the log and on GET /."},
	{"listen", "HTTP address ADDR:PORT."},
	{"health-path", "Path of the health check."},
	{"health-status", "Status the health check answers with when healthy."},
	{"pidfile", "Write the PID here; removed on a clean exit."},
	{"log", "Append timestamped log lines here."},
	{"ready-after", "Listen only after this long."},
	{"stop-delay", "On SIGTERM, wait this long before exiting."},
	{"exit-after", "Crash after this long."},
}

var labServiceBools = []struct{ name, help string }{
	{"ignore-sigterm", "Log and ignore SIGTERM."},
	{"unhealthy", "Answer the health check with 503."},
}

const labDirHelp = "Lab directory (default: $XDG_STATE_HOME/omni/lab, else ~/.local/state/omni/lab)."

// addLabCommands registers `omni lab up|down|status`.
func addLabCommands(app *kingpin.Application, g *globalOptions, s Streams, run *func(context.Context) error) {
	labCmd := app.Command("lab", "Run a lab fleet on this machine: an inventory's hosts as SSH servers on loopback addresses, its services as real local processes.")

	up := &labUpOptions{}
	upCmd := labCmd.Command("up", "Bring up the fleet of an inventory on this machine, in the background, start its services and write its lab inventory.")
	upCmd.Flag("from", "Inventory whose fleet to reproduce.").Default(filepath.Join("examples", "inventory.yaml")).StringVar(&up.From)
	upCmd.Flag("dir", labDirHelp).StringVar(&up.Dir)
	upCmd.Flag("hosts", "Number of hosts: the inventory's, then workerN hosts (role worker, behind the workers' bastion). Default: the inventory's.").PlaceHolder("N").IntVar(&up.Hosts)
	upCmd.Flag("no-services", "Bring up the hosts only; start no service.").BoolVar(&up.NoServices)
	upCmd.Flag("port", "SSH port of every lab host.").Default(strconv.Itoa(lab.DefaultPort)).IntVar(&up.Port)
	upCmd.Flag("parallel", "How many services to start at once.").Default(strconv.Itoa(lab.DefaultParallel)).IntVar(&up.Parallel)
	upCmd.Action(func(*kingpin.ParseContext) error {
		*run = func(ctx context.Context) error { return labUp(ctx, g, s, up) }
		return nil
	})

	var downDir string
	downCmd := labCmd.Command("down", "Stop every process of the lab and remove its files. Without a lab it does nothing.")
	downCmd.Flag("dir", labDirHelp).StringVar(&downDir)
	downCmd.Action(func(*kingpin.ParseContext) error {
		*run = func(ctx context.Context) error { return labDown(g, s, downDir) }
		return nil
	})

	var statusDir string
	statusCmd := labCmd.Command("status", "Show whether the lab runs, its hosts and endpoints, and which services run on each.")
	statusCmd.Flag("dir", labDirHelp).StringVar(&statusDir)
	statusCmd.Action(func(*kingpin.ParseContext) error {
		*run = func(ctx context.Context) error { return labStatus(g, s, statusDir) }
		return nil
	})

	var serveDir string
	serveCmd := labCmd.Command("serve", "Run the lab's SSH servers until SIGTERM (started by lab up).").Hidden()
	serveCmd.Flag("dir", "Lab directory.").Required().StringVar(&serveDir)
	serveCmd.Action(func(*kingpin.ParseContext) error {
		*run = func(ctx context.Context) error { return lab.Serve(ctx, serveDir, s.Err) }
		return nil
	})

	// `omni lab service` is the lab's service: the demo service built into omni.
	svcCmd := labCmd.Command("service", "Run a lab service (the demo service built into omni).").Hidden()
	values := make([]*string, len(labServiceFlags))
	given := make([]bool, len(labServiceFlags))
	for i, f := range labServiceFlags {
		values[i] = svcCmd.Flag(f.name, f.help).IsSetByUser(&given[i]).String()
	}
	bools := make([]*bool, len(labServiceBools))
	for i, f := range labServiceBools {
		bools[i] = svcCmd.Flag(f.name, f.help).Bool()
	}
	svcCmd.Action(func(*kingpin.ParseContext) error {
		var args []string
		for i, f := range labServiceFlags {
			if given[i] {
				args = append(args, "--"+f.name, *values[i])
			}
		}
		for i, f := range labServiceBools {
			if *bools[i] {
				args = append(args, "--"+f.name)
			}
		}
		*run = func(context.Context) error {
			if code := demosvc.Main(args); code != 0 {
				return reported{code}
			}
			return nil
		}
		return nil
	})

	// `omni lab drain ADDR` drains a lab service, as the lab's pre_stop
	// hook of api-gateway does (the lab needs only omni on its hosts).
	drainCmd := labCmd.Command("drain", "Drain a lab service: it answers new requests 503 until the requests in flight are done.").Hidden()
	drainAddr := drainCmd.Arg("address", "The service's HOST:PORT.").Required().String()
	drainUndo := drainCmd.Flag("undo", "Take new requests again.").Bool()
	drainTimeout := drainCmd.Flag("timeout", "Fail when requests are still in flight after this long.").Default("20s").Duration()
	drainCmd.Action(func(*kingpin.ParseContext) error {
		*run = func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, *drainTimeout)
			defer cancel()
			if err := demosvc.Drain(ctx, *drainAddr, *drainUndo); err != nil {
				return fmt.Errorf("lab drain %s: %w", *drainAddr, err)
			}
			return nil
		}
		return nil
	})
}

// labError maps the lab's errors to the cli's exit codes.
func labError(err error) error {
	var usage *lab.UsageError
	var running *lab.RunningError
	switch {
	case errors.As(err, &usage):
		return &usageError{usage.Msg}
	case errors.As(err, &running):
		return &refusedError{running.Error()}
	}
	return err
}

func labUp(ctx context.Context, g *globalOptions, s Streams, opts *labUpOptions) error {
	if opts.Parallel < 1 {
		return &usageError{"--parallel must be 1 or more"}
	}
	if opts.Hosts < 0 {
		return &usageError{fmt.Sprintf("--hosts %d: give a number of hosts", opts.Hosts)}
	}
	omniPath, err := os.Executable()
	if err != nil {
		return fmt.Errorf("lab up: cannot find the omni binary: %w", err)
	}
	var mu sync.Mutex
	quiet := opts.Hosts > 50 // a line per service would be too many
	st := styleFor(s)
	res, err := lab.Up(ctx, lab.UpOptions{
		From: opts.From, Dir: opts.Dir, Hosts: opts.Hosts, NoServices: opts.NoServices,
		Port: opts.Port, Parallel: opts.Parallel, Omni: omniPath, Progress: s.Err,
		OnService: func(r lab.ServiceResult) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.Err == nil && !quiet:
				fmt.Fprintf(s.Err, "  %s %s on %s (%.1fs)\n", st.step(false), r.Service, r.Host, r.Duration.Seconds())
			case r.Err != nil && !errors.Is(r.Err, context.Canceled):
				fmt.Fprintf(s.Err, "  %s %s on %s: %s\n", st.step(true), r.Service, r.Host, indentContinuation(r.Err.Error()))
			}
		},
	})
	if res == nil {
		return labError(err)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	failed, class := res.Failed(), labUpClass(err != nil, res)
	if g.Output == "json" {
		rep, serr := lab.Status(res.State.Dir)
		if serr != nil {
			return serr
		}
		if werr := writeLabJSON(s.Out, rep); werr != nil {
			return werr
		}
	} else {
		renderLabUp(s, st, res, opts)
	}
	switch class {
	case engine.ClassOK:
		return nil
	case engine.ClassInterrupted: // the lab stays up
		fmt.Fprintf(s.Err, "omni: interrupted while starting services; the lab is up: see `%s`\n", labCmdLine("status", res.State.Dir))
	case engine.ClassPartial:
		fmt.Fprintf(s.Err, "omni: %d of %s did not start (see above); the lab is up\n", failed, plural.N(len(res.Services), "service", "services"))
	default:
		fmt.Fprintf(s.Err, "omni: no service started (see above); the lab's hosts are up: `%s` stops them\n", labCmdLine("down", res.State.Dir))
	}
	return reported{classCode(class)}
}

// labUpClass is the result of the lab's service starts, by the rule of
// every run over several targets (engine.Tally): some did not start is
// partial; none started is the class of their failures (every one on a
// host that could not be reached: unreachable).
func labUpClass(interrupted bool, res *lab.UpResult) engine.Class {
	t := engine.Tally{Interrupted: interrupted}
	for _, r := range res.Services {
		t.Add(r.Err)
	}
	return t.Class()
}

// writeLabJSON prints a lab document (see lab.StatusReport, lab.DownResult).
func writeLabJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// omniCommand is how the user can run this omni again: "omni" when that is
// this binary on PATH, else its path.
func omniCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "omni"
	}
	if onPath, err := exec.LookPath("omni"); err == nil {
		if a, err1 := os.Stat(onPath); err1 == nil {
			if b, err2 := os.Stat(exe); err2 == nil && os.SameFile(a, b) {
				return "omni"
			}
		}
	}
	if arg0 := os.Args[0]; strings.Contains(arg0, "/") {
		if a, err1 := os.Stat(arg0); err1 == nil {
			if b, err2 := os.Stat(exe); err2 == nil && os.SameFile(a, b) {
				return lab.QuoteArg(arg0)
			}
		}
	}
	return lab.QuoteArg(exe)
}

// labCmdLine is the command line of `omni lab VERB` for the lab in dir.
func labCmdLine(verb, dir string) string {
	line := omniCommand() + " lab " + verb
	if def, err := lab.DefaultDir(); err != nil || filepath.Clean(def) != dir {
		line += " --dir " + lab.QuoteArg(dir)
	}
	return line
}

// maxHostRows is how many hosts `lab up` lists; `lab status` lists all.
const maxHostRows = 12

func renderLabUp(s Streams, sty style, res *lab.UpResult, opts *labUpOptions) {
	w := s.Out
	st, inv := res.State, res.Inventory
	running := len(res.Services) - res.Failed()
	mark := sty.ok()
	if running < len(res.Services) {
		mark = sty.bad()
	}
	fmt.Fprintf(w, "%sLab up in %s: %s", mark, res.Elapsed.Round(100*time.Millisecond), plural.N(len(st.Hosts), "host", "hosts"))
	if opts.NoServices {
		fmt.Fprintln(w, ", no services started (--no-services).")
	} else {
		fmt.Fprintf(w, ", %d of %s running.\n", running, plural.N(len(res.Services), "service", "services"))
	}
	fmt.Fprintln(w)

	table := newTable("Host", "SSH endpoint", "Via", "Services")
	for i, ep := range st.Hosts {
		if i == maxHostRows && len(st.Hosts) > maxHostRows+1 {
			table.append(fmt.Sprintf("… %d more", len(st.Hosts)-maxHostRows), "", "", "")
			break
		}
		services := "-"
		if h, err := inv.Host(ep.Name); err == nil {
			if names := inv.HostServices(h); len(names) > 0 {
				services = strings.Join(names, ", ")
			}
		}
		table.append(ep.Name, fmt.Sprintf("%s:%d", ep.Address, ep.Port), orDash(ep.Via), services)
	}
	_ = table.render(s)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Lab directory:  %s (serve pid %d; its log: lab.log)\n", st.Dir, st.ServePID)
	fmt.Fprintf(w, "Lab inventory:  %s\n", st.Inventory)
	fmt.Fprintln(w)

	omni := omniCommand() + " -i " + lab.QuoteArg(st.Inventory)
	fmt.Fprintln(w, "Try:")
	fmt.Fprintf(w, "  %s inventory check\n", omni)
	if direct, behind, ok := lab.Examples(inv); ok {
		if first, ok := lab.StartExample(inv); ok && opts.NoServices {
			fmt.Fprintf(w, "  %s service start %s %s\n", omni, first.Host, first.Service)
		}
		fmt.Fprintf(w, "  %s service restart %s %s\n", omni, direct.Host, direct.Service)
		yes := ""
		if behind.Critical {
			yes = " --yes"
		}
		fmt.Fprintf(w, "  %s service stop %s %s%s\n", omni, behind.Host, behind.Service, yes)
		fmt.Fprintf(w, "  %s service start %s %s\n", omni, behind.Host, behind.Service)
		fmt.Fprintf(w, "  %s service logs %s %s -n 5\n", omni, behind.Host, behind.Service)
	}
	fmt.Fprintf(w, "  %s\n", labCmdLine("status", st.Dir))
	fmt.Fprintf(w, "  %s\n", labCmdLine("down", st.Dir))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func labDown(g *globalOptions, s Streams, dir string) error {
	res, err := lab.Down(dir, lab.DownGrace)
	if err != nil {
		return labError(err) // with --output json, the error document
	}
	if g.Output == "json" {
		return writeLabJSON(s.Out, res)
	}
	switch {
	case !res.Found:
		fmt.Fprintf(s.Out, "No lab in %s; nothing to do.\n", res.Dir)
	default:
		what := "no process was running"
		switch n := len(res.Stopped); {
		case res.ServePID > 0 && n > 1:
			what = fmt.Sprintf("stopped its serve process (pid %d) and %s", res.ServePID, plural.N(n-1, "more process", "more processes"))
		case res.ServePID > 0:
			what = fmt.Sprintf("stopped its serve process (pid %d)", res.ServePID)
		case n > 0:
			what = "stopped " + plural.N(n, "process", "processes")
		}
		if k := len(res.Killed); k > 0 {
			what += fmt.Sprintf(" (%d with SIGKILL)", k)
		}
		removed := "its files are left"
		if res.Removed {
			removed = "removed its files"
		}
		fmt.Fprintf(s.Out, "%sLab down in %s: %s; %s.\n", styleFor(s).ok(), res.Dir, what, removed)
	}
	return nil
}

func labStatus(g *globalOptions, s Streams, dir string) error {
	rep, err := lab.Status(dir)
	if err != nil {
		return labError(err)
	}
	if g.Output == "json" {
		return writeLabJSON(s.Out, rep)
	}
	switch rep.State {
	case lab.StateAbsent:
		fmt.Fprintf(s.Out, "No lab in %s (`%s` brings one up).\n", rep.Dir, labCmdLine("up", rep.Dir))
		return nil
	case lab.StateStale:
		fmt.Fprintf(s.Out, "The lab in %s is not running (its serve process is gone): `%s` cleans it up.\n", rep.Dir, labCmdLine("down", rep.Dir))
	default:
		fmt.Fprintf(s.Out, "Lab running in %s (serve pid %d): %s, %d of %s running.\n",
			rep.Dir, rep.ServePID, plural.N(len(rep.Hosts), "host", "hosts"), rep.ServicesRunning, plural.N(rep.ServicesTotal, "service", "services"))
		if rep.Inventory != "" {
			fmt.Fprintf(s.Out, "Inventory: %s\n", rep.Inventory)
		}
	}
	if len(rep.Hosts) == 0 {
		return nil
	}
	fmt.Fprintln(s.Out)
	table := newTable("Host", "SSH endpoint", "Via", "Running", "Stopped")
	for _, h := range rep.Hosts {
		var up, down []string
		for _, svc := range h.Services {
			if svc.Running {
				up = append(up, svc.Name)
			} else {
				down = append(down, svc.Name)
			}
		}
		table.append(h.Name, fmt.Sprintf("%s:%d", h.Address, h.Port), orDash(h.Via), orDash(strings.Join(up, ", ")), orDash(strings.Join(down, ", ")))
	}
	return table.render(s)
}
