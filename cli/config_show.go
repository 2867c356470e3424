package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/config"
)

func addConfigShowCommand(cfg *kingpin.CmdClause, g *globalOptions, s Streams, run *func(context.Context) error) {
	var host, service string
	var live bool
	cmd := cfg.Command("show", "What the inventory says a service's configuration files are on a host (rendered), or with --live what the host has. Secret values are never shown.")
	cmd.Arg("HOST", "A host of the inventory.").Required().HintAction(hostHints(g)).StringVar(&host)
	cmd.Arg("SERVICE", "A service of that host.").Required().HintAction(serviceHints(g, &host)).StringVar(&service)
	cmd.Flag("live", "Show what the host has (one round trip): existence, mode, owner, group, mtime and content.").BoolVar(&live)
	cmd.Action(func(*kingpin.ParseContext) error {
		*run = func(ctx context.Context) error { return configShowRun(ctx, g, s, host, service, live) }
		return nil
	})
}

// configShowDoc is the JSON of `omni config show`.
type configShowDoc struct {
	Host    string           `json:"host"`
	Service string           `json:"service"`
	Live    bool             `json:"live"` // the host's copies, else the inventory's
	Files   []configShowFile `json:"files"`
}

// configShowFile is one file. A secret file has no content and no hash;
// an environment file with secret keys has its secret values replaced by
// <secret> and no hash (a hash of a low-entropy secret can be guessed).
type configShowFile struct {
	Path       string   `json:"path"`
	Kind       string   `json:"kind"`
	Secret     bool     `json:"secret,omitempty"`
	SecretKeys []string `json:"secret_keys,omitempty"`
	// Declared (the inventory): "" when the existing file's is kept.
	Mode     string `json:"mode,omitempty"`
	Owner    string `json:"owner,omitempty"`
	Group    string `json:"group,omitempty"`
	OnChange string `json:"on_change,omitempty"`
	Validate string `json:"validate,omitempty"`
	// Live (--live) only.
	Exists *bool      `json:"exists,omitempty"`
	MTime  *time.Time `json:"mtime,omitempty"`
	Size   int64      `json:"size"`
	Hash   string     `json:"hash,omitempty"`
	// Content is printable text (control characters as ?), absent for a
	// secret file and for a missing one.
	Content *string `json:"content,omitempty"`
}

func configShowRun(ctx context.Context, g *globalOptions, s Streams, host, service string, live bool) error {
	inv, err := loadInventory(g)
	if err != nil {
		return err
	}
	one, err := engine.RenderConfigOne(inv, host, service)
	if err != nil {
		return err
	}
	doc := configShowDoc{Host: host, Service: service, Live: live, Files: []configShowFile{}}
	if !live {
		for _, f := range one.Set.Files {
			doc.Files = append(doc.Files, declaredFile(f))
		}
	} else {
		// The registry says whether an environment file held secret keys
		// the inventory no longer declares (engine.HeldSecretsOf).
		reg, err := openStore(ctx, g, inv)
		if err != nil {
			return err
		}
		engine.HeldSecretsOf(reg, one)
		reg.Close()
		conn, closeConns, err := connector(g, s, inv)
		if err != nil {
			return err
		}
		defer closeConns()
		lives, err := engine.ReadConfigLive(ctx, inv, conn, one)
		if err != nil {
			return err
		}
		for i, f := range one.Set.Files {
			doc.Files = append(doc.Files, liveFile(f, lives[i]))
		}
	}
	if g.Output == "json" {
		return writeJSON(s.Out, doc)
	}
	writeConfigShow(s.Out, doc)
	return nil
}

// baseFile is what both views say of f: its path, kind and secrecy.
func baseFile(f config.File) configShowFile {
	return configShowFile{Path: f.Path, Kind: string(f.Kind), Secret: f.Secret, SecretKeys: f.SecretKeys}
}

// declaredFile is f as the inventory renders it.
func declaredFile(f config.File) configShowFile {
	d := baseFile(f)
	if f.Mode != 0 {
		d.Mode = config.Octal(f.Mode)
	}
	d.Owner, d.Group, d.Validate = f.Owner, f.Group, f.Validate
	d.OnChange = f.OnChange
	if d.OnChange == "" {
		d.OnChange = config.OnChangeRestart
	}
	d.Size = int64(len(f.Content))
	if !f.HasSecret() {
		d.Hash = f.Hash()
	}
	if text, ok := engine.Shown(f, f.Content, false); ok {
		d.Content = &text
	}
	return d
}

// liveFile is what the host has at f's path.
func liveFile(f config.File, l config.Live) configShowFile {
	d := baseFile(f)
	exists := l.Exists
	d.Exists = &exists
	if !l.Exists {
		return d
	}
	d.Mode = config.Octal(l.Mode)
	d.Owner, d.Group, d.Size = l.Owner, l.Group, l.Size
	mtime := l.MTime.UTC()
	d.MTime = &mtime
	if !f.HasSecret() && !f.HeldSecrets { // a copy omni wrote with a secret is secret
		d.Hash = l.Hash
	}
	if text, ok := engine.Shown(f, l.Content, true); ok && l.Content != nil {
		d.Content = &text
	}
	return d
}

// writeConfigShow prints the files, each with its attributes and its
// content indented.
func writeConfigShow(w io.Writer, doc configShowDoc) {
	from := "the inventory (rendered)"
	if doc.Live {
		from = "the host"
	}
	fmt.Fprintf(w, "%s on %s: %d configuration file(s), as %s says\n", doc.Service, doc.Host, len(doc.Files), from)
	for _, f := range doc.Files {
		fmt.Fprintf(w, "\n%s (%s)\n", f.Path, f.Kind)
		var attrs []string
		add := func(name, v string) {
			if v != "" {
				attrs = append(attrs, name+" "+v)
			}
		}
		if f.Exists != nil && !*f.Exists {
			fmt.Fprintln(w, "  missing on the host")
			continue
		}
		if !doc.Live && f.Mode == "" {
			f.Mode = "kept (new: 0644, or 0600 when secret)"
		}
		if !doc.Live && f.Owner == "" {
			f.Owner = "kept"
		}
		if !doc.Live && f.Group == "" {
			f.Group = "kept"
		}
		add("mode", f.Mode)
		add("owner", f.Owner)
		add("group", f.Group)
		add("on_change", f.OnChange)
		add("validate", f.Validate)
		if f.MTime != nil {
			add("modified", f.MTime.Format("2006-01-02 15:04:05.000000000 UTC"))
		}
		if len(f.SecretKeys) > 0 {
			add("secret keys", strings.Join(f.SecretKeys, ", "))
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(attrs, ", "))
		switch {
		case f.Secret:
			fmt.Fprintf(w, "  (secret, %d bytes)\n", f.Size)
		case f.Content == nil:
			fmt.Fprintln(w, "  (content not read)")
		default:
			fmt.Fprintf(w, "  --- %d bytes\n", f.Size)
			text := *f.Content
			for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
				fmt.Fprintf(w, "  | %s\n", line)
			}
			if text != "" && !strings.HasSuffix(text, "\n") {
				fmt.Fprintln(w, "  (no newline at end of file)")
			}
		}
	}
}
