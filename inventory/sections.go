package inventory

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// This file decodes the hosts, roles and services sections, applying
// defaults. References between them are checked afterwards (check.go).

func (l *loader) hosts(section entry, d *Defaults) []*Host {
	var hosts []*Host
	for _, e := range l.named(section, "host") {
		h := &Host{
			Name:           e.name(),
			Line:           e.line(),
			Port:           d.Port,
			User:           d.User,
			IdentityFile:   d.IdentityFile,
			Sudo:           d.Sudo,
			ServiceAddress: DefaultServiceAddress,

			ServerAliveInterval: d.ServerAliveInterval,
			ServerAliveCountMax: d.ServerAliveCountMax,
		}
		refs := &hostRefs{}
		l.hostRefs[h] = refs
		hosts = append(hosts, h)
		explicit := l.explicitDefaults // and the host's own keys, below
		l.explicit[h] = explicit

		what := fmt.Sprintf("host %q", h.Name)
		where := "in " + what
		f, ok := l.fields(e.val, e.line(), what, hostKeys...)
		if !ok {
			continue
		}
		if x, ok := f["address"]; !ok {
			l.errorf(e.line(), "missing required key %q in %s", "address", what)
		} else if v, ok := l.str(x, where); ok {
			if p := addressProblem(v); p != "" {
				l.invalid(x, where, "%q %s", v, p)
			}
			h.Address = v
		}
		if x, ok := f["port"]; ok {
			explicit.Port = true
			if v, ok := l.port(x, where); ok {
				h.Port = v
			}
		}
		if x, ok := f["user"]; ok {
			explicit.User = true
			if v, ok := l.str(x, where); ok {
				h.User = v
			}
		}
		if x, ok := f["identity_file"]; ok {
			explicit.IdentityFile = true
			h.IdentityFile = l.path(x, where)
		}
		if x, ok := f["roles"]; !ok {
			l.errorf(e.line(), "missing required key %q in %s", "roles", what)
		} else if items, ok := l.list(x.val, x.line(), "roles "+where); ok {
			if len(items) == 0 {
				l.invalid(x, where, "must list at least one role")
			}
			refs.roles = l.uniq(items, "roles "+where)
			h.Roles = values(refs.roles)
		}
		if x, ok := f["via"]; ok {
			if v, ok := l.str(x, where); ok {
				h.Via = v
				refs.via = item{v, x.line()}
			}
		}
		if x, ok := f["sudo"]; ok {
			if v, ok := l.boolean(x, where); ok {
				h.Sudo = v
			}
		}
		if x, ok := f["service_address"]; ok {
			if v, ok := l.str(x, where); ok {
				// Health checks dial it and the services get it as
				// OMNI_ADDRESS: an address, as for `address`.
				if p := addressProblem(v); p != "" {
					l.invalid(x, where, "%q %s", v, p)
				}
				h.ServiceAddress = v
			}
		}
		if x, ok := f["server_alive_interval"]; ok {
			explicit.ServerAliveInterval = true
			if v, ok := l.aliveInterval(x, where); ok {
				h.ServerAliveInterval = v
			}
		}
		if x, ok := f["server_alive_count_max"]; ok {
			explicit.ServerAliveCountMax = true
			if v, ok := l.intRange(x, where, 1, MaxServerAliveCountMax); ok {
				h.ServerAliveCountMax = v
			}
		}
		if x, ok := f["config"]; ok {
			l.hostConfig(x, h) // config_decode.go
		}
		l.explicit[h] = explicit
		if h.User == "" {
			l.errorf(e.line(), "%s has no user and the current user name is unknown: set user or defaults.user", what)
		}
	}
	return hosts
}

func (l *loader) roles(section entry) []*Role {
	var roles []*Role
	for _, e := range l.named(section, "role") {
		r := &Role{Name: e.name(), Line: e.line()}
		roles = append(roles, r)
		what := fmt.Sprintf("role %q", r.Name)
		if items, ok := l.list(e.val, e.line(), what); ok {
			l.roleRefs[r] = l.uniq(items, what)
			r.Services = values(l.roleRefs[r])
		}
	}
	return roles
}

func (l *loader) services(section entry, d *Defaults) []*Service {
	var services []*Service
	for _, e := range l.named(section, "service") {
		s := &Service{
			Name:         e.name(),
			Line:         e.line(),
			Enabled:      true,
			Manager:      d.Manager,
			StopGrace:    d.StopGrace,
			StartTimeout: d.StartTimeout,
			Sudo:         d.Sudo,
			Health: Health{
				Timeout:  DefaultHealthTimeout,
				Retries:  DefaultHealthRetries,
				Interval: DefaultHealthInterval,
			},
		}
		services = append(services, s)
		what := fmt.Sprintf("service %q", s.Name)
		where := "in " + what
		f, ok := l.fields(e.val, e.line(), what, serviceKeys...)
		if !ok {
			continue
		}
		if x, ok := f["enabled"]; ok {
			if v, ok := l.boolean(x, where); ok {
				s.Enabled = v
			}
		}
		if x, ok := f["manager"]; ok {
			if v, ok := l.manager(x, where); ok {
				s.Manager = v
			}
		}
		if x, ok := f["critical"]; ok {
			s.Critical, _ = l.boolean(x, where)
		}
		if x, ok := f["sudo"]; ok {
			if v, ok := l.boolean(x, where); ok {
				s.Sudo = v
			}
		}
		if x, ok := f["impact"]; ok {
			s.Impact, _ = l.str(x, where)
		}
		if x, ok := f["stop_grace"]; ok {
			if v, ok := l.duration(x, where, false); ok {
				s.StopGrace = v
			}
		}
		if x, ok := f["start_timeout"]; ok {
			if v, ok := l.duration(x, where, true); ok {
				s.StartTimeout = v
			}
		}
		if x, ok := f["requires"]; ok {
			if items, ok := l.requiresList(x, s, where); ok {
				l.requires[s] = l.uniq(items, "requires "+where)
				s.Requires = values(l.requires[s])
			}
		}
		if x, ok := f["health"]; ok {
			l.health(x, s)
		}
		if x, ok := f["drain"]; ok {
			l.drain(x, s)
		}
		l.hooks(f, s) // hooks.go
		l.manage(e, f, s)
		l.serviceConfig(f, s) // config_decode.go
	}
	return services
}

// unitTemplate says whether unit is a template unit without an instance
// ("tmpl@.service", or "tmpl@", to which systemctl adds ".service").
func unitTemplate(unit string) bool {
	if strings.HasSuffix(unit, "@") {
		return true
	}
	dot := strings.LastIndexByte(unit, '.')
	return dot > 0 && strings.HasSuffix(unit[:dot], "@")
}

// instanceExample is template unit with NAME as its instance:
// tmpl@NAME.service.
func instanceExample(unit string) string {
	if strings.HasSuffix(unit, "@") {
		return unit + "NAME.service"
	}
	at := strings.LastIndexByte(unit, '@')
	return unit[:at+1] + "NAME" + unit[at+1:]
}

// manage decodes unit and commands, which depend on the manager.
func (l *loader) manage(e entry, f map[string]entry, s *Service) {
	what := fmt.Sprintf("service %q", s.Name)
	where := "in " + what
	unit, hasUnit := f["unit"]
	cmds, hasCmds := f["commands"]
	switch s.Manager {
	case "systemd":
		s.Unit = s.Name + ".service"
		if hasUnit {
			if v, ok := l.str(unit, where); ok {
				// systemctl expands a pattern (tmpl@*.service) to every
				// unit it matches: a status would read another's state.
				if !unitSafeRE.MatchString(v) || strings.HasPrefix(v, "-") {
					l.invalid(unit, where, "%q is not a unit name (letters, digits and : _ . @ \\ -, not starting with -; no pattern, which systemctl would match against other units)", v)
				} else if unitTemplate(v) {
					// A template is a file, not a unit: systemctl
					// refuses to show, start or stop it, and the host's
					// batched status with it.
					l.invalid(unit, where, "%q is a template without an instance: systemd cannot act on it; name one of its instances (%s)", v, instanceExample(v))
				}
				s.Unit = v
			}
		}
		if hasCmds {
			l.errorf(cmds.line(), "commands are not allowed in %s: it uses manager \"systemd\" (set manager: command to use commands)", what)
		}
	case "command":
		if hasUnit {
			l.errorf(unit.line(), "unit is not allowed in %s: it uses manager \"command\"", what)
		}
		if !hasCmds {
			l.errorf(e.line(), "missing required key %q in %s (manager \"command\" needs start and status)", "commands", what)
			return
		}
		cwhat := "commands of " + what
		cf, ok := l.fields(cmds.val, cmds.line(), cwhat, commandKeys...)
		if !ok {
			return
		}
		for _, c := range []struct {
			key      string
			dst      *string
			required bool
		}{
			{"start", &s.Commands.Start, true},
			{"stop", &s.Commands.Stop, false},
			{"status", &s.Commands.Status, true},
			{"logs", &s.Commands.Logs, false},
		} {
			if x, ok := cf[c.key]; ok {
				*c.dst, _ = l.str(x, "in "+cwhat)
			} else if c.required {
				l.errorf(cmds.line(), "missing required key %q in %s", c.key, cwhat)
			}
		}
	}
}

func (l *loader) health(e entry, s *Service) {
	what := fmt.Sprintf("health of service %q", s.Name)
	where := "in " + what
	f, ok := l.fields(e.val, e.line(), what, healthKeys...)
	if !ok {
		return
	}
	h := &s.Health
	if x, ok := f["process"]; ok {
		h.Process, _ = l.boolean(x, where)
	}
	if x, ok := f["port"]; ok {
		h.Port, _ = l.port(x, where)
	}
	if x, ok := f["timeout"]; ok {
		if v, ok := l.duration(x, where, true); ok {
			h.Timeout = v
		}
	}
	if x, ok := f["retries"]; ok {
		if v, ok := l.intRange(x, where, 0, 1000); ok {
			h.Retries = v
		}
	}
	if x, ok := f["interval"]; ok {
		if v, ok := l.duration(x, where, false); ok {
			h.Interval = v
		}
	}
	if x, ok := f["start_period"]; ok {
		h.StartPeriod, _ = l.duration(x, where, false)
	}
	if x, ok := f["http"]; ok {
		h.HTTP = l.httpCheck(x, s)
	}
}

// httpPathProblem says why p cannot be the path of a health check's URL
// (http://ADDRESS:PORT followed by p), "" when it can: it starts with "/",
// holds no space, control character nor '#' (a fragment is never sent),
// and its %-escapes are valid. net/http would refuse the others at every
// check, after a start or restart has already changed the service.
func httpPathProblem(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return `must start with "/"`
	case strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r >= 0x7f && r <= 0x9f }):
		return "holds a space or a control character (write a space as %20)"
	case strings.Contains(p, "#"):
		return "holds '#': a fragment is never sent to the server (write it as %23)"
	}
	if _, err := url.Parse("http://localhost" + p); err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "is not a URL path: " + err.Error()
	}
	return ""
}

func (l *loader) httpCheck(e entry, s *Service) *HTTPCheck {
	what := fmt.Sprintf("http check of service %q", s.Name)
	where := "in " + what
	f, ok := l.fields(e.val, e.line(), what, httpKeys...)
	if !ok {
		return nil
	}
	c := &HTTPCheck{Path: DefaultHTTPPath, Expect: DefaultHTTPExpect}
	if x, ok := f["port"]; !ok {
		l.errorf(e.line(), "missing required key %q in %s", "port", what)
	} else {
		c.Port, _ = l.port(x, where)
	}
	if x, ok := f["path"]; ok {
		if v, ok := l.str(x, where); ok {
			if p := httpPathProblem(v); p != "" {
				l.invalid(x, where, "%q %s", v, p)
			}
			c.Path = v
		}
	}
	if x, ok := f["expect"]; ok {
		if v, ok := l.intRange(x, where, 100, 599); ok {
			c.Expect = v
		}
	}
	return c
}
