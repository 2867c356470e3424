package config

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/omni-fleet/omni/inventory"
)

// Secrets are the secret values an inventory declares, to take out of
// whatever omni shows or stores of a host's output: a service's start
// error, a hook's output, a log tail, `service logs`. The hosts have them
// (in the environment files omni writes), and so may print them.
type Secrets struct {
	values []string // longest first
}

// InventorySecrets reads every secret value inv declares: each secret env
// key's value (the services' and the hosts' overrides) and each secret
// file's content and lines, as Render reads them (omni's environment, the
// local files), with the forms they take when quoted (in an environment
// file, in Go's %q, in JSON). Best effort: a value that cannot be read
// now is left out (a run that needs it fails on that, not here). Values
// under 4 bytes are left out: they would blank out ordinary words.
func InventorySecrets(inv *inventory.Inventory) *Secrets {
	var files []File
	read := map[string][]byte{}
	env := func(vars []inventory.EnvVar) {
		for _, v := range vars {
			if !v.Secret {
				continue
			}
			val, err := envValue(v, func(int, error, string, ...any) error { return errSkip })
			if err == nil {
				files = append(files, File{Kind: KindEnv, Content: []byte(EnvLine(v.Key, val)), SecretKeys: []string{v.Key}})
			}
		}
	}
	file := func(cfs []inventory.ConfigFile) {
		for _, f := range cfs {
			if !f.Secret {
				continue
			}
			b, ok := read[f.Source]
			if !ok {
				b, _ = readSource(f.Source, inventory.MaxConfigSourceBytes)
				read[f.Source] = b
			}
			if len(b) > 0 {
				files = append(files, File{Secret: true, Content: b})
			}
		}
	}
	for _, s := range inv.Services {
		env(s.Config.Env)
		file(s.Config.Files)
	}
	for _, h := range inv.Hosts {
		for _, o := range h.Config {
			if o != nil {
				env(o.Env)
				file(o.Files)
			}
		}
	}
	if len(files) == 0 {
		return &Secrets{}
	}
	seen := map[string]bool{}
	var out []string
	for _, v := range secretValues(files) {
		forms := []string{v, strings.Trim(strconv.Quote(v), `"`), OneLine(v)}
		if b, err := json.Marshal(v); err == nil {
			forms = append(forms, strings.Trim(string(b), `"`))
		}
		for _, f := range forms {
			if len(f) >= minRedact && !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return &Secrets{values: out}
}

// OneLine is v as omni shows a host's output on one line (a failed
// hook's): its line breaks and tabs as spaces.
func OneLine(v string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, v)
}

// errSkip marks a secret that cannot be read now.
var errSkip = &RenderError{Msg: "skipped"}

// None reports whether there is nothing to redact.
func (s *Secrets) None() bool { return s == nil || len(s.values) == 0 }

// Redact replaces every secret value in text, a whole piece of a host's
// output (an error, a log tail, a note), by <secret>: also what is left of
// a secret where the output was cut (at text's start, or at a CutMark:
// the end of a failed hook's output, a log line cut short).
func (s *Secrets) Redact(text string) string {
	if s.None() {
		return text
	}
	return redactFragments(s.whole(text), s.values, true)
}

// RedactText replaces every secret value in text by <secret>, where it
// stands as itself: a secret made only of digits (a PIN) is not redacted
// inside a longer number (a PID, a port, a timestamp of omni's own). What
// is left of one at a CutMark is redacted too: text is whole lines of
// omni's, in which a host's output it cut is marked.
func (s *Secrets) RedactText(text string) string {
	if s.None() {
		return text
	}
	return redactFragments(s.whole(text), s.values, false)
}

// whole replaces every whole secret value in text (replaceSecret).
func (s *Secrets) whole(text string) string {
	for _, v := range s.values {
		text = replaceSecret(text, v)
	}
	return text
}

// RedactJSON is RedactText within the string values of a JSON document
// only: its numbers, keys' structure and punctuation stay as omni wrote
// them, so that the document still parses.
func (s *Secrets) RedactJSON(doc []byte) []byte {
	if s.None() {
		return doc
	}
	var out []byte
	last := 0
	for i := 0; i < len(doc); i++ {
		if doc[i] != '"' {
			continue
		}
		j := i + 1
		for j < len(doc) && doc[j] != '"' {
			if doc[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(doc) {
			break
		}
		out = append(out, doc[last:i+1]...)
		out = append(out, s.RedactText(string(doc[i+1:j]))...)
		last = j
		i = j
	}
	return append(out, doc[last:]...)
}

// replaceSecret replaces v in text by <secret>; an all-digit v only where
// no digit touches it.
func replaceSecret(text, v string) string {
	if strings.Trim(v, "0123456789") != "" {
		return strings.ReplaceAll(text, v, redacted)
	}
	var b strings.Builder
	for {
		i := strings.Index(text, v)
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		end := i + len(v)
		digit := func(k int) bool { return k >= 0 && k < len(text) && text[k] >= '0' && text[k] <= '9' }
		b.WriteString(text[:i])
		if digit(i-1) || digit(end) {
			b.WriteString(v)
		} else {
			b.WriteString(redacted)
		}
		text = text[end:]
	}
}
