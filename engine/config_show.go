package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
	"github.com/omni-fleet/omni/registry"
)

// ConfigOne is one service's declared configuration on one host, rendered,
// with what `omni config show --live` and `pull` need to reach the host.
type ConfigOne struct {
	Host    *inventory.Host
	Service *inventory.Service
	Set     config.Set
	Sudo    bool
}

// RenderConfigOne renders service's configuration on host. A service
// that declares none is a usage error: there is nothing to show, pull or
// roll back.
func RenderConfigOne(inv *inventory.Inventory, host, service string) (*ConfigOne, error) {
	h, err := inv.Host(host)
	if err != nil {
		return nil, err
	}
	svc, err := inv.Service(service)
	if err != nil {
		return nil, err
	}
	set, err := config.Render(inv, host, service)
	if err != nil {
		return nil, err
	}
	if set.Empty() {
		return nil, &UsageError{fmt.Sprintf("service %s on host %s declares no configuration (env, dropin or files in the inventory)", service, host)}
	}
	return &ConfigOne{Host: h, Service: svc, Set: set, Sudo: manager.Target{Host: h, Service: svc}.Sudo()}, nil
}

// MarkHeldSecrets marks the files that declare no secret now but held
// some when omni last wrote them (st, the registry's configuration state
// of the service on the host; nil: none recorded): an environment file
// that had secret keys, a files: entry written as secret. Their host
// copies may still hold the old secrets (config.File.HeldSecrets).
func MarkHeldSecrets(files []config.File, st *registry.ConfigState) {
	if st == nil {
		return
	}
	held := map[string]bool{}
	for _, rf := range st.Files {
		held[rf.Path] = rf.Secret
	}
	for i, f := range files {
		if !f.HasSecret() && held[f.Path] {
			files[i].HeldSecrets = true
		}
	}
}

// HeldSecretsOf marks c's files as MarkHeldSecrets does, from reg. A
// registry that cannot be read marks every file: what it would have said
// is unknown, and a secret must not be shown.
func HeldSecretsOf(reg registry.Registry, c *ConfigOne) {
	var (
		rec registry.Record
		err error = errNoRegistry
	)
	if reg != nil {
		rec, _, err = reg.Get(c.Host.Name, c.Service.Name)
	}
	if err != nil {
		for i, f := range c.Set.Files {
			if !f.HasSecret() {
				c.Set.Files[i].HeldSecrets = true
			}
		}
		return
	}
	MarkHeldSecrets(c.Set.Files, rec.Config)
}

var errNoRegistry = errors.New("no registry")

// ReadConfigLive reads what the host has at each path of c's set, in one
// command, with the content of every file that is not secret. An
// environment file whose only secrets are some of its keys is read whole,
// so that its other keys can be shown and compared; its values stay in
// memory and MaskEnv hides the secret ones. A secret file's content is
// never read. Errors name the host.
func ReadConfigLive(ctx context.Context, inv *inventory.Inventory, conn Connector, c *ConfigOne) ([]config.Live, error) {
	cn, err := conn.Connect(ctx, c.Host)
	if err != nil {
		return nil, err
	}
	if rel, ok := conn.(Releaser); ok {
		defer rel.Release(cn)
	}
	read := make([]config.File, len(c.Set.Files))
	for i, f := range c.Set.Files {
		read[i] = f
		if f.Kind == config.KindEnv && !f.Secret {
			read[i].SecretKeys = nil
		}
	}
	live, err := config.ReadLive(ctx, withBound(cn, commandTimeout(inv)), c.Sudo, read, true)
	if err != nil {
		return nil, fmt.Errorf("%s: service %s: %w", c.Host.Name, c.Service.Name, err)
	}
	return live, nil
}

// SecretMark stands for a secret value in everything omni prints.
const SecretMark = "<secret>"

// MaskEnv is an environment file's content for people: each line made
// printable (manager.Printable), with the value of every key in secret
// replaced by SecretMark (KEY=<secret>). With strict (a host's copy of a
// file that holds secrets), a key not in declared is masked too, since it
// may have been a secret omni no longer declares, and a line that is not
// KEY="value" as omni writes it is withheld whole.
func MaskEnv(content []byte, secret, declared map[string]bool, strict bool) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(string(content), "\n"), "\n") {
		if line == "" || line[0] == '#' {
			b.WriteString(manager.Printable(line) + "\n")
			continue
		}
		key, _, _ := strings.Cut(line, "=")
		_, err := config.ParseEnv([]byte(line + "\n"))
		switch {
		case err != nil && strict:
			b.WriteString("<a line not in omni's format, withheld: this file holds secrets>\n")
		case err != nil:
			b.WriteString(manager.Printable(line) + "\n")
		case secret[key] || (strict && !declared[key]):
			b.WriteString(key + "=" + SecretMark + "\n")
		default:
			b.WriteString(manager.Printable(line) + "\n")
		}
	}
	return b.String()
}

// EnvKeys are the keys of a rendered environment file, and which of them
// are secret.
func EnvKeys(f config.File) (secret, declared map[string]bool) {
	secret, declared = map[string]bool{}, map[string]bool{}
	for _, k := range f.SecretKeys {
		secret[k] = true
	}
	entries, _ := config.ParseEnv(f.Content)
	for _, e := range entries {
		declared[e.Key] = true
	}
	return secret, declared
}

// Shown is a file's content as omni may print it: the whole content
// (printable) of a file without secrets, the masked one of an environment
// file with secret keys, nothing of a secret file (ok false), nor of a
// host's copy omni wrote as secret (live).
func Shown(f config.File, content []byte, live bool) (text string, ok bool) {
	switch {
	case f.Secret, live && f.SecretOnHost():
		return "", false
	case f.MasksKeys():
		secret, declared := EnvKeys(f)
		return MaskEnv(content, secret, declared, live), true
	}
	return printableText(content), true
}

// printableText is content made printable line by line (manager.Printable:
// control characters as ?, tabs as spaces); newlines stay.
func printableText(content []byte) string {
	lines := strings.Split(string(content), "\n")
	for i, l := range lines {
		lines[i] = manager.Printable(l)
	}
	return strings.Join(lines, "\n")
}
