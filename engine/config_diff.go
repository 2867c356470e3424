package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/fanout"
	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/registry"
)

// KeyChange is one key of an environment file that differs.
type KeyChange struct {
	Key    string
	Op     string // "+" only declared, "-" only on the host, "~" both, other value
	Secret bool   // its value is never shown
	Old    string // "" for a secret
	New    string // "" for a secret
	// Odd: a line of the host's copy not in omni's format (KEY="value"),
	// Key what stands before its '='.
	Odd bool
}

// ConfigDiffFile is how one declared file differs from its host's copy.
type ConfigDiffFile struct {
	Path   string
	Kind   config.Kind
	Secret bool   // the whole content is secret: only "changed" is said
	State  string // "same", "new" (not on the host), "changed" (content), "attrs" (only mode/owner/group)
	// Diff is a unified diff of the host's copy (---) to the declared
	// content (+++), for a file without secrets; Keys the changes of an
	// environment file with secret keys, key by key.
	Diff string
	Keys []KeyChange
	// Drift is what differs of mode, owner and group: "mode 0644 → 0600".
	Drift []string
}

// ConfigDiffService is one (host, service) of a diff.
type ConfigDiffService struct {
	Host, Service    string
	Files            []ConfigDiffFile
	NeedDaemonReload bool     // systemd: the unit's files changed since the last daemon-reload
	Pending          []string // why a restart is owed; empty when none is
}

// Differs reports whether anything of the service differs or is owed.
func (s ConfigDiffService) Differs() bool {
	if s.NeedDaemonReload || len(s.Pending) > 0 {
		return true
	}
	for _, f := range s.Files {
		if f.State != "same" {
			return true
		}
	}
	return false
}

// ConfigDiffHost is one host of a diff.
type ConfigDiffHost struct {
	Host     string
	Services []ConfigDiffService
	Err      error
	// RoundTrips: what its connection waited for after authentication;
	// nil when not counted.
	RoundTrips *transport.RoundTrips
}

// ConfigDiffReport is `omni config diff`.
type ConfigDiffReport struct {
	Hosts []ConfigDiffHost
}

// Differs reports whether any service differs or owes a restart.
func (r *ConfigDiffReport) Differs() bool {
	for _, h := range r.Hosts {
		for _, s := range h.Services {
			if s.Differs() {
				return true
			}
		}
	}
	return false
}

// DiffConfig is `omni config diff`: per host (in parallel, req.Forks), one
// round trip reads every declared file with its content (a secret file's
// hash only), one reads the services' states (one `systemctl show` for
// all its systemd units) and, when it runs systemd services, one reads
// their NeedDaemonReload. It takes no lock and writes nothing. Secret
// values are compared in memory and never put in the report.
func DiffConfig(ctx context.Context, reg registry.Registry, req ConfigRequest, env ConfigEnv) (*ConfigDiffReport, error) {
	hosts, err := configTargets(env.Inventory, req)
	if err != nil {
		return nil, err
	}
	conn, closeConns, err := env.Connect()
	if err != nil {
		return nil, err
	}
	defer closeConns()
	rep := &ConfigDiffReport{Hosts: make([]ConfigDiffHost, len(hosts))}
	fanout.Each(len(hosts), max(req.Forks, 1), func(i int) {
		rep.Hosts[i] = diffHost(ctx, env, reg, conn, hosts[i])
	})
	return rep, nil
}

func diffHost(ctx context.Context, env ConfigEnv, reg registry.Registry, conn Connector, h configHost) (out ConfigDiffHost) {
	out = ConfigDiffHost{Host: h.host.Name}
	fail := func(err error) ConfigDiffHost {
		out.Err = fmt.Errorf("%s: %w", h.host.Name, err)
		return out
	}
	c, err := conn.Connect(ctx, h.host)
	if err != nil {
		return fail(err)
	}
	if rel, ok := conn.(Releaser); ok {
		defer rel.Release(c)
	}
	defer func() { out.RoundTrips = roundTripsOf(c) }() // before the release
	c = withBound(c, commandTimeout(env.Inventory))
	// An environment file with secret keys is read with its content, so
	// that it can be compared key by key here; its values stay in memory.
	files := h.files()
	read := make([]config.File, len(files))
	for i, f := range files {
		read[i] = f
		if f.Kind == config.KindEnv && !f.Secret {
			read[i].SecretKeys = nil
		}
	}
	live, err := config.ReadLive(ctx, c, h.sudo(), read, true)
	if err != nil {
		return fail(fmt.Errorf("reading the configuration: %w", err))
	}
	mgrs := make([]manager.Manager, len(h.units))
	for i, u := range h.units {
		if mgrs[i], err = manager.New(manager.Target{Host: h.host, Service: u.svc,
			EnvFile: envFileOf(env.Inventory, h.host, u.svc)}); err != nil {
			return fail(err)
		}
	}
	states := manager.StatusAll(ctx, c, mgrs)
	reloads, err := needDaemonReload(ctx, c, h)
	if err != nil {
		return fail(err)
	}
	for i, u := range h.units {
		rec, _, err := reg.Get(h.host.Name, u.svc.Name)
		if err != nil {
			return fail(err)
		}
		MarkHeldSecrets(u.set.Files, rec.Config)
		ds := drifts(u.set.Files, live)
		sd := ConfigDiffService{Host: h.host.Name, Service: u.svc.Name, NeedDaemonReload: reloads[u.svc.Name]}
		for _, d := range ds {
			sd.Files = append(sd.Files, diffFile(d))
		}
		st := rec.Config
		// "Written while stopped" and started since, outside omni: it
		// runs with the files (startedSince). diff writes nothing: the
		// next apply records it.
		switch started, known := startedSince(st, states[i]); {
		case started:
			st = startedWith(st)
		case !known:
			kept := *st
			kept.PendingReason += sinceUnknown
			st = &kept
		}
		sd.Pending = pendingReasons(u.set, ds, st, states[i])
		out.Services = append(out.Services, sd)
	}
	return out
}

// pendingReasons says why a restart is owed: the registry says so, a
// managed file whose change needs a restart (on_change restart) changed
// after the running service started, or the service
// last started with another set than the host now has.
func pendingReasons(set config.Set, ds []drift, st *registry.ConfigState, status manager.StatusResult) []string {
	var why []string
	if st != nil && st.Pending {
		why = append(why, "registry: "+or2(st.PendingReason, "restart owed"))
	}
	if status.Err == nil && status.State.Running && !status.State.Since.IsZero() {
		// The manager's start time has whole seconds (systemd's
		// ActiveEnterTimestamp): a file counts as changed after the start
		// from the next second on.
		since := status.State.Since.Truncate(time.Second)
		for _, d := range ds {
			// Only a file whose change asks for a restart: one with
			// on_change none or reload is meant to change under a
			// running service.
			restarts := d.File.OnChange == "" || d.File.OnChange == config.OnChangeRestart
			if restarts && d.Live.Exists && d.Live.MTime.Truncate(time.Second).After(since) {
				why = append(why, fmt.Sprintf("%s changed at %s, after the service started (%s)", d.File.Path,
					d.Live.MTime.UTC().Format(time.RFC3339), since.UTC().Format(time.RFC3339)))
			}
		}
	}
	if st != nil && st.RunningWith != "" && len(changed(ds)) == 0 && st.RunningWith != set.Hash() {
		why = append(why, "the service last started with another configuration than the host has")
	}
	return why
}

// diffFile describes one drift, secrets withheld.
func diffFile(d drift) ConfigDiffFile {
	f := d.File
	out := ConfigDiffFile{Path: f.Path, Kind: f.Kind, Secret: f.SecretOnHost(), State: "same"}
	if d.Attrs {
		out.State = "attrs"
		if f.Mode != 0 && d.Live.Mode != f.Mode {
			out.Drift = append(out.Drift, "mode "+config.Octal(d.Live.Mode)+" → "+config.Octal(f.Mode))
		}
		if !d.Live.OwnedBy(f.Owner) {
			out.Drift = append(out.Drift, fmt.Sprintf("owner %s → %s", d.Live.Owner, f.Owner))
		}
		if !d.Live.InGroup(f.Group) {
			out.Drift = append(out.Drift, fmt.Sprintf("group %s → %s", d.Live.Group, f.Group))
		}
	}
	if !d.Content {
		return out
	}
	switch {
	case !d.Live.Exists:
		out.State = "new"
	default:
		out.State = "changed"
	}
	switch {
	case f.SecretOnHost():
		// only that it changed (a copy omni wrote as secret: not read)
	case f.MasksKeys():
		out.Keys = envKeyChanges(f, d.Live)
	case d.Live.Exists:
		out.Diff = unifiedDiff(f.Path, d.Live.Content, f.Content)
	default:
		out.Diff = unifiedDiff(f.Path, nil, f.Content)
	}
	return out
}

// envKeyChanges compares an environment file key by key; the values of
// secret keys are compared, never copied out. A host's copy that is not in
// omni's format counts as every declared key new.
func envKeyChanges(f config.File, l config.Live) []KeyChange {
	secret := map[string]bool{}
	for _, k := range f.SecretKeys {
		secret[k] = true
	}
	want, _ := config.ParseEnv(f.Content)
	var have []config.EnvEntry
	var odd []string // the host's lines not in omni's format
	if l.Exists {
		have, odd = parseEnvLines(l.Content)
	}
	old := map[string]string{}
	for _, e := range have {
		old[e.Key] = e.Value
	}
	var out []KeyChange
	seen := map[string]bool{}
	for _, e := range want {
		seen[e.Key] = true
		v, ok := old[e.Key]
		switch {
		case !ok:
			out = append(out, keyChange("+", e.Key, "", e.Value, secret[e.Key]))
		case v != e.Value:
			out = append(out, keyChange("~", e.Key, v, e.Value, secret[e.Key]))
		}
	}
	var gone []string
	for k := range old {
		if !seen[k] {
			gone = append(gone, k)
		}
	}
	sort.Strings(gone)
	for _, k := range gone {
		// A key omni no longer declares: its value is not shown either,
		// it may have been a secret.
		out = append(out, keyChange("-", k, "", "", true))
	}
	for _, name := range odd {
		out = append(out, KeyChange{Key: name, Op: "-", Secret: true, Odd: true})
	}
	return out
}

// parseEnvLines reads an environment file line by line: the lines in
// omni's format (KEY="value"), and for each other line (added by hand:
// `LD_PRELOAD=/tmp/x.so`) what stands before its '=', made printable and
// cut short, as its name: the rest may hold a secret.
func parseEnvLines(content []byte) (entries []config.EnvEntry, odd []string) {
	for _, line := range strings.Split(strings.TrimSuffix(string(content), "\n"), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		e, err := config.ParseEnv([]byte(line + "\n"))
		if err == nil {
			entries = append(entries, e...)
			continue
		}
		name, _, _ := strings.Cut(line, "=")
		name = manager.Printable(strings.TrimSpace(name))
		if len(name) > 64 {
			name = name[:64] + config.CutMark
		}
		odd = append(odd, name)
	}
	return entries, odd
}

func keyChange(op, key, old, new string, secret bool) KeyChange {
	if secret {
		return KeyChange{Key: key, Op: op, Secret: true}
	}
	return KeyChange{Key: key, Op: op, Old: old, New: new}
}

// String is the key's line of a diff: `~ DB_PASSWORD (secret, changed)`.
func (k KeyChange) String() string {
	switch {
	case k.Odd:
		return "- " + k.Key + " (a line not in omni's format; its value withheld: this file holds secrets)"
	case k.Secret && k.Op == "~":
		return "~ " + k.Key + " (secret, changed)"
	case k.Secret && k.Op == "+":
		return "+ " + k.Key + " (secret)"
	case k.Secret:
		return "- " + k.Key
	case k.Op == "+":
		return "+ " + k.Key + "=" + k.New
	case k.Op == "-":
		return "- " + k.Key + "=" + k.Old
	}
	return "~ " + k.Key + ": " + k.Old + " → " + k.New
}

// unifiedDiff is the host's copy (a) to the declared content (b).
func unifiedDiff(path string, a, b []byte) string {
	from := "host:" + path
	if a == nil {
		from = "/dev/null"
	}
	text, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: diffLines(a), B: diffLines(b),
		FromFile: from, ToFile: "declared:" + path, Context: 3,
	})
	lines := strings.SplitAfter(text, "\n")
	for i, l := range lines {
		lines[i] = diffPrintable(strings.TrimSuffix(l, "\n"))
	}
	text = strings.Join(lines, "\n")
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return text
}

// diffPrintable is a diff line made printable as manager.Printable does
// (control characters as ?, tabs as spaces), except that each byte that
// is not UTF-8 is shown as \xNN: two lines that differ only in such
// bytes (latin-1 text) must not look the same.
func diffPrintable(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, "\\x%02x", s[0])
		} else {
			b.WriteString(manager.Printable(s[:n]))
		}
		s = s[n:]
	}
	return b.String()
}

// diffLines splits content into the lines a unified diff compares, each
// with its newline: none for an empty or missing file (difflib.SplitLines
// would give one empty line), and a last line without a newline marked so
// that a file differing only there does not show an empty diff.
func diffLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if last := lines[len(lines)-1]; last == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] = last + noNewline + "\n"
	}
	return lines
}

// noNewline marks a last line that has no newline, as diff(1) does.
const noNewline = " \\ No newline at end of file"

// needDaemonReload reads NeedDaemonReload of the host's systemd units in
// one command; nothing when it runs none.
func needDaemonReload(ctx context.Context, c Conn, h configHost) (map[string]bool, error) {
	out := map[string]bool{}
	var units []string
	byUnit := map[string]string{}
	sudo := false
	for _, u := range h.units {
		if u.svc.Manager == manager.Command {
			continue
		}
		unit := unitOf(u.svc)
		units = append(units, shell.Quote(unit))
		byUnit[unit] = u.svc.Name
		sudo = sudo || (manager.Target{Host: h.host, Service: u.svc}).Sudo()
	}
	if len(units) == 0 {
		return out, nil
	}
	res, err := c.Run(ctx, manager.ShellCommand("systemctl show -p Id -p NeedDaemonReload -- "+strings.Join(units, " "), sudo))
	if err != nil {
		return nil, fmt.Errorf("systemctl show NeedDaemonReload: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("systemctl show NeedDaemonReload: exit %d: %s", res.ExitCode, manager.Printable(strings.TrimSpace(string(res.Stderr))))
	}
	id := ""
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch k {
		case "Id":
			id = v
		case "NeedDaemonReload":
			if svc, ok := byUnit[id]; ok && v == "yes" {
				out[svc] = true
			}
		}
	}
	return out, nil
}
