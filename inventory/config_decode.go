package inventory

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// This file decodes the declared configuration: a service's env, env_file,
// dropin and files, and a host's config overrides. Env values never appear
// in a message: one may be a secret written where it should not be.

var (
	envValueKeys   = []string{"value", "secret", "from_env", "from_file"}
	configFileKeys = []string{"path", "source", "mode", "owner", "group", "validate", "on_change", "secret"}
	overrideKeys   = []string{"env", "dropin", "files"}
)

// serviceConfig decodes the configuration keys of service s (after its
// manager is known).
func (l *loader) serviceConfig(f map[string]entry, s *Service) {
	what := fmt.Sprintf("service %q", s.Name)
	c := &s.Config
	if x, ok := f["env"]; ok {
		c.Env = l.env(x, "env of "+what)
		c.EnvLine = x.line()
	}
	if x, ok := f["env_file"]; ok {
		c.EnvFileLine = x.line()
		if v, ok := l.hostPath(x, "in "+what); ok {
			if !envFileRulRE.MatchString(v) {
				l.invalid(x, "in "+what, "%q: an environment file's path uses letters, digits and / . _ - + @ : , = (systemd reads it in EnvironmentFile=)", v)
			} else {
				c.EnvFile = v
			}
		}
	}
	if x, ok := f["dropin"]; ok {
		c.DropinLine = x.line()
		if s.Manager != "systemd" {
			l.errorf(x.line(), "dropin is not allowed in %s: it uses manager %q (a drop-in is a systemd unit's)", what, s.Manager)
		} else {
			c.Dropin = l.dropin(x, "dropin of "+what)
		}
	}
	if x, ok := f["files"]; ok {
		c.Files = l.configFiles(x, "files of "+what)
	}
}

// hostConfig decodes a host's config key: service name -> overrides. The
// names are checked once every section is decoded (checkConfig).
func (l *loader) hostConfig(e entry, h *Host) {
	what := fmt.Sprintf("config of host %q", h.Name)
	if isNull(e.val) {
		return
	}
	if e.val.Kind != yaml.MappingNode {
		l.errorf(e.line(), "%s must be a mapping of service names to {env, dropin, files}, got %s", what, describe(e.val))
		return
	}
	dup := func(k *yaml.Node, first int) {
		l.errorf(k.Line, "duplicate service %q in %s (first defined at line %d)", k.Value, what, first)
	}
	h.Config = map[string]*ConfigOverride{}
	for _, p := range l.pairs(e.val, dup) {
		owhat := fmt.Sprintf("config of service %q on host %q", p.name(), h.Name)
		f, ok := l.fields(p.val, p.line(), owhat, overrideKeys...)
		if !ok {
			continue
		}
		o := &ConfigOverride{Line: p.line()}
		if x, ok := f["env"]; ok {
			o.Env = l.env(x, "env of "+owhat)
		}
		if x, ok := f["dropin"]; ok {
			o.Dropin = l.dropin(x, "dropin of "+owhat)
		}
		if x, ok := f["files"]; ok {
			o.Files = l.configFiles(x, "files of "+owhat)
		}
		h.Config[p.name()] = o
	}
}

// env decodes an env mapping: KEY: value or KEY: {value|from_env|from_file, secret}.
func (l *loader) env(e entry, what string) []EnvVar {
	if isNull(e.val) {
		return nil
	}
	if e.val.Kind != yaml.MappingNode {
		l.errorf(e.line(), "%s must be a mapping of KEY: value, got %s", what, describe(e.val))
		return nil
	}
	dup := func(k *yaml.Node, first int) {
		l.errorf(k.Line, "duplicate key %q in %s (first defined at line %d)", k.Value, what, first)
	}
	var out []EnvVar
	for _, p := range l.pairs(e.val, dup) {
		k := p.name()
		if !ValidEnvKey(k) {
			l.errorf(p.line(), "invalid key %q in %s: use letters, digits and _, not starting with a digit", k, what)
			continue
		}
		v := EnvVar{Key: k, Line: p.line()}
		where := fmt.Sprintf("%s in %s", k, what)
		switch p.val.Kind {
		case yaml.ScalarNode:
			v.Value, _ = l.envText(p.val, p.line(), where)
		case yaml.MappingNode:
			if !l.envSource(p, &v, where) {
				continue
			}
		default:
			l.errorf(p.line(), "invalid %s: must be a value or a mapping {value | from_env | from_file, secret}, got %s", where, describe(p.val))
			continue
		}
		out = append(out, v)
	}
	return out
}

// envSource decodes the mapping form of an env value.
func (l *loader) envSource(p entry, v *EnvVar, where string) bool {
	f, ok := l.fields(p.val, p.line(), where, envValueKeys...)
	if !ok {
		return false
	}
	var given []string
	for _, k := range []string{"value", "from_env", "from_file"} {
		if _, ok := f[k]; ok {
			given = append(given, k)
		}
	}
	if len(given) != 1 {
		l.errorf(p.line(), "invalid %s: give exactly one of value, from_env and from_file (got %d)", where, len(given))
		return false
	}
	if x, ok := f["secret"]; ok {
		if x.val.Kind == yaml.ScalarNode && x.val.ShortTag() == "!!bool" {
			v.Secret = x.val.Value == "true" || x.val.Value == "True" || x.val.Value == "TRUE"
		} else {
			l.errorf(x.line(), "invalid secret in %s: must be true or false", where)
			return false
		}
	}
	if x, ok := f["value"]; ok {
		if x.val.Kind != yaml.ScalarNode {
			l.errorf(x.line(), "invalid value in %s: must be a scalar, got %s", where, describe(x.val))
			return false
		}
		var ok bool
		v.Value, ok = l.envText(x.val, x.line(), where)
		return ok
	}
	if x, ok := f["from_env"]; ok {
		name, ok := l.str(x, "in "+where)
		if ok && !ValidEnvKey(name) {
			l.invalid(x, "in "+where, "%q is not an environment variable name", name)
			return false
		}
		v.FromEnv = name
		return ok
	}
	x := f["from_file"]
	v.FromFile = l.path(x, "in "+where)
	return v.FromFile != ""
}

// envText is a scalar's literal text, checked for one line of an env file.
func (l *loader) envText(n *yaml.Node, line int, where string) (string, bool) {
	if msg := CheckEnvValue(n.Value); msg != "" {
		l.errorf(line, "invalid value of %s: it %s", where, msg)
		return "", false
	}
	return n.Value, true
}

// dropin decodes Section: {Key: value | [values]}.
func (l *loader) dropin(e entry, what string) []DropinSection {
	if isNull(e.val) {
		return nil
	}
	if e.val.Kind != yaml.MappingNode {
		l.errorf(e.line(), "%s must be a mapping of sections (e.g. Service: {LimitNOFILE: 65536}), got %s", what, describe(e.val))
		return nil
	}
	dup := func(k *yaml.Node, first int) {
		l.errorf(k.Line, "duplicate key %q in %s (first defined at line %d)", k.Value, what, first)
	}
	var out []DropinSection
	for _, p := range l.pairs(e.val, dup) {
		if !dropinSecRE.MatchString(p.name()) {
			l.errorf(p.line(), "invalid section %q in %s: a systemd section name such as Service or Unit", p.name(), what)
			continue
		}
		swhat := fmt.Sprintf("section %s of %s", p.name(), what)
		if p.val.Kind != yaml.MappingNode {
			l.errorf(p.line(), "%s must be a mapping of Key: value, got %s", swhat, describe(p.val))
			continue
		}
		sec := DropinSection{Name: p.name(), Line: p.line()}
		sdup := func(k *yaml.Node, first int) {
			l.errorf(k.Line, "duplicate key %q in %s (first defined at line %d)", k.Value, swhat, first)
		}
		for _, kp := range l.pairs(p.val, sdup) {
			if !dropinKeyRE.MatchString(kp.name()) {
				l.errorf(kp.line(), "invalid key %q in %s: a systemd setting name such as LimitNOFILE", kp.name(), swhat)
				continue
			}
			k := DropinKey{Key: kp.name(), Line: kp.line()}
			var nodes []*yaml.Node
			switch kp.val.Kind {
			case yaml.ScalarNode:
				nodes = []*yaml.Node{kp.val}
			case yaml.SequenceNode:
				if len(kp.val.Content) == 0 {
					l.errorf(kp.line(), "invalid %s in %s: an empty list (write \"\" to reset a list setting)", kp.name(), swhat)
					continue
				}
				nodes = kp.val.Content
			default:
				l.errorf(kp.line(), "invalid %s in %s: must be a value or a list of values, got %s", kp.name(), swhat, describe(kp.val))
				continue
			}
			ok := true
			for _, n := range nodes {
				line := n.Line // an alias's own line: the value is used there
				n = resolve(n)
				if n.Kind != yaml.ScalarNode {
					l.errorf(line, "invalid %s in %s: list items must be values, got %s", kp.name(), swhat, describe(n))
					ok = false
					continue
				}
				if strings.ContainsFunc(n.Value, unicode.IsControl) {
					l.errorf(line, "invalid %s in %s: a value must not contain control characters (NUL, newline, tab, ...)", kp.name(), swhat)
					ok = false
					continue
				}
				if strings.HasSuffix(n.Value, `\`) {
					l.errorf(line, "invalid %s in %s: a value must not end in a backslash (systemd would join the next line to it)", kp.name(), swhat)
					ok = false
					continue
				}
				k.Values = append(k.Values, n.Value)
			}
			if ok {
				sec.Keys = append(sec.Keys, k)
			}
		}
		out = append(out, sec)
	}
	return out
}

// configFiles decodes files: [{path, source, mode, owner, group, validate, on_change, secret}].
func (l *loader) configFiles(e entry, what string) []ConfigFile {
	if isNull(e.val) {
		return nil
	}
	if e.val.Kind != yaml.SequenceNode {
		l.errorf(e.line(), "%s must be a list of {path, source, ...}, got %s", what, describe(e.val))
		return nil
	}
	var out []ConfigFile
	first := map[string]int{}
	for i, n := range e.val.Content {
		line := n.Line // an alias's own line: the file is declared there
		n = resolve(n)
		fwhat := fmt.Sprintf("file %d of %s", i+1, what)
		where := "in " + fwhat
		f, ok := l.fields(n, line, fwhat, configFileKeys...)
		if !ok {
			continue
		}
		cf := ConfigFile{OnChange: "restart", Line: line}
		ok = true
		for _, k := range []string{"path", "source"} {
			if _, has := f[k]; !has {
				l.errorf(line, "missing required key %q in %s", k, fwhat)
				ok = false
			}
		}
		if x, has := f["path"]; has {
			if cf.Path, has = l.hostPath(x, where); !has {
				ok = false
			} else if line, dup := first[cf.Path]; dup {
				l.errorf(x.line(), "file %q is declared twice in %s (first at line %d)", cf.Path, what, line)
				ok = false
			} else {
				first[cf.Path] = x.line()
			}
		}
		if x, has := f["source"]; has {
			if cf.Source = l.path(x, where); cf.Source == "" {
				ok = false
			}
		}
		if x, has := f["mode"]; has {
			m, good := l.mode(x, where)
			cf.Mode, ok = m, ok && good
		}
		for _, a := range []struct {
			key string
			dst *string
		}{{"owner", &cf.Owner}, {"group", &cf.Group}} {
			if x, has := f[a.key]; has {
				if v, good := l.str(x, where); !good {
					ok = false
				} else if !validAccount(v) {
					l.invalid(x, where, "%q is not a user or group name (letters, digits, _ . -, at most 32; or a numeric id)", v)
					ok = false
				} else {
					*a.dst = v
				}
			}
		}
		if x, has := f["validate"]; has {
			if v, good := l.str(x, where); !good {
				ok = false
			} else if strings.Count(v, "%s") != 1 {
				l.invalid(x, where, "%q must contain %%s exactly once (the uploaded temporary file), e.g. \"nginx -t -c %%s\"", v)
				ok = false
			} else if strings.ContainsAny(v, "\x00\n\r") {
				l.invalid(x, where, "must be one line")
				ok = false
			} else {
				cf.Validate = v
			}
		}
		if x, has := f["on_change"]; has {
			if v, good := l.str(x, where); good && slices.Contains(onChanges, v) {
				cf.OnChange = v
			} else {
				if good {
					l.invalid(x, where, "%q is not one of %s", v, strings.Join(onChanges, ", "))
				}
				ok = false
			}
		}
		if x, has := f["secret"]; has {
			b, good := l.boolean(x, where)
			cf.Secret, ok = b, ok && good
		}
		if ok {
			out = append(out, cf)
		}
	}
	return out
}

// hostPath decodes a path on a managed host: absolute, without "..", on
// one line; the result is cleaned.
func (l *loader) hostPath(e entry, where string) (string, bool) {
	v, ok := l.str(e, where)
	if !ok {
		return "", false
	}
	switch {
	case !strings.HasPrefix(v, "/"):
		l.invalid(e, where, "%q must be an absolute path on the host", v)
	case slices.Contains(strings.Split(v, "/"), ".."):
		l.invalid(e, where, "%q must not contain \"..\"", v)
	case strings.ContainsFunc(v, unicode.IsControl):
		l.invalid(e, where, "%q must not contain control characters", v)
	case path.Clean(v) == "/" || strings.HasSuffix(v, "/"):
		l.invalid(e, where, "%q must name a file, not a directory", v)
	default:
		return path.Clean(v), true
	}
	return "", false
}

// mode decodes a permission mode from its text: "0640", 0640 or "640"
// (YAML's own reading of 0640 is not trusted: YAML 1.1 and 1.2 disagree).
func (l *loader) mode(e entry, where string) (fs.FileMode, bool) {
	v := e.val
	if v.Kind != yaml.ScalarNode || !octalModeRE.MatchString(v.Value) {
		l.invalid(e, where, "must be an octal permission mode such as \"0640\", got %s", describe(v))
		return 0, false
	}
	var m fs.FileMode
	for _, c := range v.Value[len(v.Value)-3:] {
		m = m<<3 | fs.FileMode(c-'0')
	}
	if m == 0 {
		l.invalid(e, where, "0000 leaves the file unreadable even to its owner")
		return 0, false
	}
	return m, true
}
