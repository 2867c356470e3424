package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/omni-fleet/omni/inventory"
)

// RenderError is a declaration that could not be rendered: a secret's
// variable unset, a source file unreadable or too large. It names the
// inventory's FILE:LINE, the host, the service and the key or file, and
// never a value.
type RenderError struct {
	File    string // the inventory
	Line    int    // the declaration's line
	Host    string
	Service string
	Msg     string
	Err     error // the underlying error (an *os.PathError), or nil
}

func (e *RenderError) Error() string {
	return fmt.Sprintf("%s:%d: configuration of service %q on host %q: %s", e.File, e.Line, e.Service, e.Host, e.Msg)
}

func (e *RenderError) Unwrap() error { return e.Err }

// Render turns service's declared configuration on host (the service's
// env, dropin and files with the host's overrides) into the files omni
// wants there: the environment file, the systemd drop-in, then files: in
// declared order. Secret values and sources are read now, from omni's
// environment and the local disk. Rendering is deterministic: the same
// inventory and sources give the same bytes and Set.Hash, without
// timestamps, and every rendered env file and drop-in ends in exactly one
// newline. A service that declares nothing renders an empty Set.
func Render(inv *inventory.Inventory, host, service string) (Set, error) {
	h, err := inv.Host(host)
	if err != nil {
		return Set{}, err
	}
	s, err := inv.Service(service)
	if err != nil {
		return Set{}, err
	}
	c := inv.ConfigOf(h, s)
	set := Set{Host: host, Service: service}
	fail := func(line int, err error, format string, args ...any) error {
		return &RenderError{File: inv.Path, Line: line, Host: host, Service: service, Msg: fmt.Sprintf(format, args...), Err: err}
	}
	if len(c.Env) > 0 {
		f, err := renderEnv(c, s.Name, fail)
		if err != nil {
			return Set{}, err
		}
		set.Files = append(set.Files, f)
	}
	if s.Manager == "systemd" && (len(c.Env) > 0 || len(c.Dropin) > 0) {
		set.Files = append(set.Files, renderDropin(c, s))
	}
	for _, d := range c.Files {
		content, err := readSource(d.Source, inventory.MaxConfigSourceBytes)
		if err != nil {
			return Set{}, fail(d.Line, err, "file %s: source %s: %s", d.Path, d.Source, reason(err))
		}
		mode := d.Mode
		if mode == 0 && d.Secret {
			mode = SecretMode
		}
		set.Files = append(set.Files, File{
			Kind: KindFile, Path: d.Path, Content: content,
			Mode: mode, Owner: d.Owner, Group: d.Group,
			Validate: d.Validate, OnChange: d.OnChange, Secret: d.Secret, Line: d.Line,
		})
	}
	return set, nil
}

type failFunc func(line int, err error, format string, args ...any) error

// renderEnv writes one KEY="value" line per key (EnvLine).
func renderEnv(c inventory.ServiceConfig, service string, fail failFunc) (File, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by omni from the inventory (env of service %s); changes made here are overwritten.\n", service)
	f := File{Kind: KindEnv, Path: c.EnvFile, OnChange: OnChangeRestart, Line: c.EnvLine}
	for _, v := range c.Env {
		val, err := envValue(v, fail)
		if err != nil {
			return File{}, err
		}
		b.WriteString(EnvLine(v.Key, val))
		if v.Secret {
			f.SecretKeys = append(f.SecretKeys, v.Key)
		}
	}
	if len(f.SecretKeys) > 0 {
		f.Mode = SecretMode
	}
	f.Content = []byte(b.String())
	return f, nil
}

// envValue resolves one key's value. Its errors name the key and the
// variable or file, never the value.
func envValue(v inventory.EnvVar, fail failFunc) (string, error) {
	var val string
	switch {
	case v.FromEnv != "":
		x, ok := os.LookupEnv(v.FromEnv)
		if !ok {
			return "", fail(v.Line, nil, "env %s: environment variable %s is not set (the value comes from omni's environment: from_env)", v.Key, v.FromEnv)
		}
		val = x
		if msg := inventory.CheckEnvValue(val); msg != "" {
			return "", fail(v.Line, nil, "env %s: the value of environment variable %s %s", v.Key, v.FromEnv, msg)
		}
	case v.FromFile != "":
		b, err := readSource(v.FromFile, inventory.MaxEnvValueBytes)
		if err != nil {
			return "", fail(v.Line, err, "env %s: from_file %s: %s", v.Key, v.FromFile, reason(err))
		}
		val = strings.TrimSuffix(string(b), "\n")
		if msg := inventory.CheckEnvValue(val); msg != "" {
			return "", fail(v.Line, nil, "env %s: the content of %s %s", v.Key, v.FromFile, msg)
		}
	default:
		val = v.Value // checked at load
	}
	return val, nil
}

// renderDropin writes UNIT.d/50-omni.conf: [Service] with the
// EnvironmentFile= first when env is declared, then the declared sections.
func renderDropin(c inventory.ServiceConfig, s *inventory.Service) File {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by omni from the inventory (service %s); changes made here are overwritten.\n", s.Name)
	sections := c.Dropin
	if len(c.Env) > 0 {
		// The declared Service section joins the one that wires the env
		// file in, so the drop-in has one [Service].
		svc := inventory.DropinSection{Name: "Service"}
		var rest []inventory.DropinSection
		for _, sec := range c.Dropin {
			if sec.Name == "Service" {
				svc = sec
			} else {
				rest = append(rest, sec)
			}
		}
		b.WriteString("[Service]\n")
		b.WriteString("EnvironmentFile=" + c.EnvFile + "\n")
		writeKeys(&b, svc.Keys)
		sections = rest
		if len(rest) > 0 {
			b.WriteString("\n")
		}
	}
	for i, sec := range sections {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("[" + sec.Name + "]\n")
		writeKeys(&b, sec.Keys)
	}
	line := c.DropinLine
	if line == 0 {
		line = c.EnvLine
	}
	return File{Kind: KindDropin, Path: inventory.DropinPath(s.Unit), Content: []byte(b.String()),
		OnChange: OnChangeRestart, DaemonReload: true, Line: line}
}

// writeKeys writes Key=value lines, one per value. Values are unit-file
// syntax, written as declared (systemd's % specifiers and quoting apply).
func writeKeys(b *strings.Builder, keys []inventory.DropinKey) {
	for _, k := range keys {
		for _, v := range k.Values {
			b.WriteString(k.Key + "=" + v + "\n")
		}
	}
}

// readSource reads a local regular file of at most limit bytes. A FIFO or
// device is refused before it is opened (opening a FIFO would block).
func readSource(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes, the most omni reads", limit)
	}
	return b, nil
}

// reason is err without the path an *os.PathError repeats.
func reason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
