package inventory

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// checkConfig checks the declared configuration against the rest of the
// inventory: each host override names a service the host has; a
// command-manager service has no drop-in nor reload; a unit with a drop-in
// has a plain name; and no two declarations on one host write one path.
func (l *loader) checkConfig(inv *Inventory) {
	declares := map[*Service]bool{}
	for _, s := range inv.Services {
		l.checkManagerConfig(s, s.Config.Files)
		declares[s] = !s.Config.Empty()
	}
	for _, h := range inv.Hosts {
		for _, name := range configNames(h) {
			o := h.Config[name]
			s := inv.services[name]
			switch {
			case s == nil:
				l.errorf(o.Line, "config of host %q: service %q is not defined%s", h.Name, name, l.suggest(name, inv.ServiceNames))
				delete(h.Config, name)
				continue
			case !hasService(inv, h, name):
				l.errorf(o.Line, "config of host %q: the host does not run service %q (roles: %s)", h.Name, name, strings.Join(h.Roles, ", "))
				delete(h.Config, name)
				continue
			case len(o.Dropin) > 0 && s.Manager != "systemd":
				l.errorf(o.Line, "config of host %q: dropin is not allowed for service %q: it uses manager %q", h.Name, name, s.Manager)
			}
			l.checkManagerConfig(s, o.Files)
			declares[s] = true
		}
	}
	for _, s := range inv.Services {
		if declares[s] && s.Manager == "systemd" && !unitSafeRE.MatchString(s.Unit) {
			l.errorf(s.Line, "service %q declares configuration, but its unit %q is not a plain unit name omni can write a drop-in for", s.Name, s.Unit)
		}
	}
	l.checkConfigPaths(inv)
}

// configNames lists the services h's config overrides, by line, then (for
// several on one line, written in flow style) by name: h.Config is a map,
// and its order, which changes from run to run, must not reach the report.
func configNames(h *Host) []string {
	names := make([]string, 0, len(h.Config))
	for name := range h.Config {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := h.Config[names[i]].Line, h.Config[names[j]].Line
		return a < b || a == b && names[i] < names[j]
	})
	return names
}

// checkManagerConfig refuses on_change: reload on a command-manager
// service: that manager has no reload.
func (l *loader) checkManagerConfig(s *Service, files []ConfigFile) {
	if s.Manager == "systemd" {
		return
	}
	for _, f := range files {
		if f.OnChange == "reload" {
			l.errorf(f.Line, "file %q of service %q: on_change: reload needs manager systemd (the command manager has no reload; use restart)", f.Path, s.Name)
		}
	}
}

// hasService says whether one of h's roles lists the service, enabled or
// not: disabling a service does not make its overrides an error.
func hasService(inv *Inventory, h *Host, name string) bool {
	for _, r := range append([]string{AllRole}, h.Roles...) {
		if role := inv.roles[r]; role != nil && slices.Contains(role.Services, name) {
			return true
		}
	}
	return false
}

// written is one path a declaration writes on a host.
type written struct {
	service string
	what    string // "env_file", "drop-in" or "files"
	line    int
}

// checkConfigPaths reports two declarations writing one path on a host.
// Hosts without overrides and with the same roles write the same paths:
// one of them is looked at. The work is bounded by MaxInstances.
func (l *loader) checkConfigPaths(inv *Inventory) {
	seenRoles := map[string]bool{}
	reported := map[string]bool{}
	budget := MaxInstances
	for _, h := range inv.Hosts {
		if len(h.Config) == 0 {
			key := strings.Join(h.Roles, ",")
			if seenRoles[key] {
				continue
			}
			seenRoles[key] = true
		}
		at := map[string]written{}
		for _, name := range inv.HostServices(h) {
			s := inv.services[name]
			c := inv.ConfigOf(h, s)
			if budget -= len(c.Env) + len(c.Files) + 2; budget < 0 {
				l.errorf(h.Line, "host %q takes the inventory past %d declared configuration entries checked per host, the most omni checks", h.Name, MaxInstances)
				return
			}
			var paths []struct {
				path string
				w    written
			}
			add := func(p, what string, line int) {
				paths = append(paths, struct {
					path string
					w    written
				}{p, written{s.Name, what, line}})
			}
			if len(c.Env) > 0 {
				add(c.EnvFile, "env_file", max(c.EnvFileLine, c.EnvLine))
			}
			if s.Manager == "systemd" && (len(c.Env) > 0 || len(c.Dropin) > 0) {
				add(DropinPath(s.Unit), "drop-in", max(c.DropinLine, c.EnvLine))
			}
			for _, f := range c.Files {
				add(f.Path, "files", f.Line)
			}
			for _, p := range paths {
				prev, ok := at[p.path]
				if !ok {
					at[p.path] = p.w
					continue
				}
				a, b := prev, p.w // reported where the second is declared
				msg := fmt.Sprintf("host %q: %s of service %q writes %s, which %s of service %q (line %d) writes too", h.Name, b.what, b.service, p.path, a.what, a.service, a.line)
				key := fmt.Sprint(p.path, a, b)
				if !reported[key] {
					reported[key] = true
					l.errorf(b.line, "%s", msg)
				}
			}
		}
	}
}
