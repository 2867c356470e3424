package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// ConfigPullRequest is `omni config pull HOST SERVICE`.
type ConfigPullRequest struct {
	Host    string
	Service string
	// Yes writes a source other hosts read too (no per-host override).
	Yes    bool
	DryRun bool
}

// What pull did with one file (ConfigPullFile.Action).
const (
	PullWritten   = "written"      // the source now has the host's content
	PullWouldDo   = "would write"  // --dry-run
	PullUnchanged = "unchanged"    // the host has what git says
	PullMissing   = "missing"      // not on the host: the source is left alone
	PullSecret    = "secret"       // refused: omni never brings secret content onto disk
	PullShared    = "shared"       // refused without --yes: other hosts read the source
	PullByHand    = "edit by hand" // env and dropin: the YAML to put in the inventory
)

// ConfigPullFile is what pull did with one file of the service.
type ConfigPullFile struct {
	Path string `json:"path"`
	Kind string `json:"kind"`
	// WrittenAsSecret: refused (PullSecret) because omni wrote the host's
	// copy as a secret file, though the inventory declares it plain now.
	WrittenAsSecret bool   `json:"written_as_secret,omitempty"`
	Source          string `json:"source,omitempty"` // files: the local source
	Action          string `json:"action"`
	// Added and Removed count the lines the source gains and loses
	// (lines compared as a multiset: a moved line counts as neither).
	Added   int `json:"added,omitempty"`
	Removed int `json:"removed,omitempty"`
	// SharedWith are the other hosts whose configuration reads Source.
	SharedWith []string `json:"shared_with,omitempty"`
	// YAML is what to put in the inventory for env and dropin (never a
	// secret value).
	YAML []string `json:"yaml,omitempty"`
	// SecretKeys are the secret env keys whose host value differs from
	// what the inventory renders (their values are never shown).
	SecretKeys []string `json:"secret_keys,omitempty"`
}

// ConfigPullReport is what PullConfig did.
type ConfigPullReport struct {
	Host    string           `json:"host"`
	Service string           `json:"service"`
	Files   []ConfigPullFile `json:"files"`
}

// Refused lists the files pull would not write: secret, or shared
// without Yes, and differing.
func (r *ConfigPullReport) Refused() []string {
	var out []string
	for _, f := range r.Files {
		if f.Action == PullSecret || f.Action == PullShared {
			out = append(out, f.Path)
		}
	}
	return out
}

// PullConfig writes the host's copies of the service's files: entries
// into their sources in the checkout (atomically: a temporary file in the
// source's directory, fsync, rename), for adoption. It reads the host in
// one command (ReadConfigLive) and changes nothing there. A secret file
// is never read; a missing one leaves its source alone; a source other
// hosts read too is written only with Yes. env and dropin are not written
// back into the YAML: the report holds the lines to put there, secret
// keys named without their values.
func PullConfig(ctx context.Context, inv *inventory.Inventory, reg registry.Registry, conn Connector, req ConfigPullRequest) (*ConfigPullReport, error) {
	one, err := RenderConfigOne(inv, req.Host, req.Service)
	if err != nil {
		return nil, err
	}
	HeldSecretsOf(reg, one)
	live, err := ReadConfigLive(ctx, inv, conn, one)
	if err != nil {
		return nil, err
	}
	decl := inv.ConfigOf(one.Host, one.Service)
	rep := &ConfigPullReport{Host: req.Host, Service: req.Service}
	for i, f := range one.Set.Files {
		l := live[i]
		pf := ConfigPullFile{Path: f.Path, Kind: string(f.Kind)}
		switch {
		case !l.Exists:
			pf.Action = PullMissing
		case f.SecretOnHost() && l.Hash == f.Hash():
			pf.Action = PullUnchanged
		case f.SecretOnHost():
			pf.Action = PullSecret
			pf.WrittenAsSecret = !f.Secret
		case f.Kind == config.KindEnv:
			pf.YAML, pf.SecretKeys = envPullLines(f, l.Content)
			pf.Action = byHand(pf)
		case f.Kind == config.KindDropin:
			pf.YAML = dropinPullLines(f.Content, l.Content)
			pf.Action = byHand(pf)
		default:
			if err := pullFile(inv, one, decl, f, l, req, &pf); err != nil {
				return rep, fmt.Errorf("%s: service %s: file %s: %w", req.Host, req.Service, f.Path, err)
			}
		}
		rep.Files = append(rep.Files, pf)
	}
	return rep, nil
}

func byHand(pf ConfigPullFile) string {
	if len(pf.YAML) == 0 && len(pf.SecretKeys) == 0 {
		return PullUnchanged
	}
	return PullByHand
}

// pullFile writes one files: entry's host copy into its source.
func pullFile(inv *inventory.Inventory, one *ConfigOne, decl inventory.ServiceConfig, f config.File, l config.Live, req ConfigPullRequest, pf *ConfigPullFile) error {
	for _, d := range decl.Files {
		if d.Path == f.Path {
			pf.Source = d.Source
		}
	}
	if l.Hash == f.Hash() {
		pf.Action = PullUnchanged
		return nil
	}
	pf.Added, pf.Removed = lineChanges(f.Content, l.Content)
	pf.SharedWith = sharedSource(inv, one, pf.Source)
	switch {
	case len(pf.SharedWith) > 0 && !req.Yes:
		pf.Action = PullShared
		return nil
	case req.DryRun:
		pf.Action = PullWouldDo
		return nil
	}
	if err := writeAtomic(pf.Source, l.Content); err != nil {
		return err
	}
	pf.Action = PullWritten
	return nil
}

// sharedSource lists the other hosts whose configuration of the service
// reads source.
func sharedSource(inv *inventory.Inventory, one *ConfigOne, source string) []string {
	var out []string
	for _, name := range inv.HostNames() {
		h, err := inv.Host(name)
		if err != nil || name == one.Host.Name || !inv.Runs(h, one.Service.Name) {
			continue
		}
		for _, d := range inv.ConfigOf(h, one.Service).Files {
			if d.Source == source {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// writeAtomic replaces path with content: a temporary file in the same
// directory, fsynced, given the old file's mode (0644 for a new one),
// renamed over it, the directory fsynced. A reader sees the old file or
// the new one, never a part. A path that is a symbolic link is written
// through: its target is replaced (or created), the link stays.
func writeAtomic(path string, content []byte) error {
	path, err := linkTarget(path)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".omni-pull-*")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(content); err != nil {
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// maxLinkHops bounds the links linkTarget follows (Linux's own limit).
const maxLinkHops = 40

// linkTarget is the file path names once its symbolic links are followed
// (path itself when it is none); a link whose target does not exist yet
// names that target. The directories above are left as they are: the
// rename goes into the directory the last link names.
func linkTarget(path string) (string, error) {
	for range maxLinkHops {
		st, err := os.Lstat(path)
		if err != nil || st.Mode()&os.ModeSymlink == 0 {
			return path, nil
		}
		to, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(to) {
			to = filepath.Join(filepath.Dir(path), to)
		}
		path = to
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// lineChanges counts the lines b has that a lacks (added) and the lines a
// has that b lacks (removed), as multisets.
func lineChanges(a, b []byte) (added, removed int) {
	count := map[string]int{}
	for _, l := range strings.SplitAfter(string(a), "\n") {
		if l != "" {
			count[l]++
		}
	}
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l == "" {
			continue
		}
		if count[l] > 0 {
			count[l]--
		} else {
			added++
		}
	}
	for _, n := range count {
		removed += n
	}
	return added, removed
}

// yamlString is s as a YAML double-quoted scalar (JSON's string syntax is
// YAML's: control characters escaped, so nothing moves the terminal).
func yamlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// envPullLines are the env: lines that make the inventory render the
// host's environment file, and the secret keys that differ. A key the
// host has that the inventory does not declare is named without its
// value when the file holds secrets (it may be a secret omni no longer
// declares).
func envPullLines(f config.File, content []byte) (lines, secrets []string) {
	secret, declared := EnvKeys(f)
	want, _ := config.ParseEnv(f.Content)
	have, err := config.ParseEnv(content)
	if err != nil {
		return []string{"# the host's file is not in omni's format (" + err.Error() + "): compare it by hand"}, nil
	}
	wantOf := map[string]string{}
	for _, e := range want {
		wantOf[e.Key] = e.Value
	}
	seen := map[string]bool{}
	for _, e := range have {
		seen[e.Key] = true
		v, ok := wantOf[e.Key]
		switch {
		case ok && v == e.Value:
		case secret[e.Key]:
			secrets = append(secrets, e.Key)
		case !declared[e.Key] && f.MasksKeys():
			lines = append(lines, fmt.Sprintf("# %s: on the host, not in the inventory; its value is not shown (this file holds secrets)", e.Key))
		default:
			lines = append(lines, e.Key+": "+yamlString(e.Value))
		}
	}
	for _, e := range want {
		if !seen[e.Key] {
			lines = append(lines, fmt.Sprintf("# %s: not on the host: remove it from the inventory", e.Key))
		}
	}
	return lines, secrets
}

// dropinPullLines are the dropin: lines (Section.Key: value) that make the
// inventory render the host's drop-in.
func dropinPullLines(want, have []byte) []string {
	w, h := parseUnit(want), parseUnit(have)
	var lines []string
	for _, k := range h.order {
		hv, wv := h.values[k], w.values[k]
		if strings.Join(hv, "\n") == strings.Join(wv, "\n") {
			continue
		}
		sec, key, _ := strings.Cut(k, ".")
		if len(hv) == 1 {
			lines = append(lines, fmt.Sprintf("%s: {%s: %s}", sec, key, yamlString(hv[0])))
			continue
		}
		q := make([]string, len(hv))
		for i, v := range hv {
			q[i] = yamlString(v)
		}
		lines = append(lines, fmt.Sprintf("%s: {%s: [%s]}", sec, key, strings.Join(q, ", ")))
	}
	var gone []string
	for _, k := range w.order {
		if _, ok := h.values[k]; !ok {
			gone = append(gone, k)
		}
	}
	sort.Strings(gone)
	for _, k := range gone {
		lines = append(lines, fmt.Sprintf("# %s: not on the host: remove it from the inventory", k))
	}
	return lines
}

// unitKeys is a unit file's keys: "Section.Key" to its values in order.
type unitKeys struct {
	order  []string
	values map[string][]string
}

// parseUnit reads a unit file's sections and keys (comments and blank
// lines skipped; no continuation lines: omni's drop-ins have none).
func parseUnit(b []byte) unitKeys {
	u := unitKeys{values: map[string][]string{}}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			key := section + "." + strings.TrimSpace(k)
			if _, seen := u.values[key]; !seen {
				u.order = append(u.order, key)
			}
			u.values[key] = append(u.values[key], strings.TrimSpace(v))
		}
	}
	return u
}
