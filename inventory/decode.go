package inventory

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// This file turns yaml.Node trees into Go values, reporting every problem
// with the line it is on. Each helper reports and returns ok=false rather
// than stopping, so one run of Load shows every mistake in the file.

// entry is one key of a mapping and its value, aliases resolved.
type entry struct {
	key *yaml.Node
	val *yaml.Node
}

func (e entry) name() string { return e.key.Value }
func (e entry) line() int    { return e.key.Line }

// item is one string of a list, with its line.
type item struct {
	value string
	line  int
}

// loader carries what Load needs while decoding one file.
type loader struct {
	file    string // the path as given, for messages
	dir     string // absolute directory of the file, for relative paths
	errs    ErrorList
	dropped int // problems past maxErrors, counted but not kept

	// merged remembers the entries a mapping gives to a merge (<<), so a
	// mapping merged from many places is expanded once.
	merged map[*yaml.Node][]entry
	// mergeDupsDone: the mappings written in a merge whose duplicate keys
	// are reported.
	mergeDupsDone map[*yaml.Node]bool

	// Lines of references, for the cross-checks once everything is decoded.
	hostRefs map[*Host]*hostRefs
	roleRefs map[*Role][]item    // services listed by each role
	requires map[*Service][]item // requires entries of each service
	// reachOf: the requires entries written as mappings, by service and
	// requirement string (reach.go).
	reachOf map[*Service]map[string]ReachSpec

	// Connection settings the file states itself: in defaults, and on
	// each host (defaults included).
	explicitDefaults Explicit
	explicit         map[*Host]Explicit
}

type hostRefs struct {
	roles []item
	via   item
}

func (l *loader) errorf(line int, format string, args ...any) {
	if l.full() {
		l.dropped++
		return
	}
	l.errs = append(l.errs, &Error{File: l.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// full says maxErrors problems are already reported: further ones are only
// counted, and costly hints (did you mean) are not worth computing.
func (l *loader) full() bool { return len(l.errs) >= maxErrors }

// suggest is Suggest, skipped once the report is full.
func (l *loader) suggest(name string, candidates func() []string) string {
	if l.full() {
		return ""
	}
	return didYouMean(Suggest(name, candidates()))
}

// invalid reports a bad value for key e in the place described by where
// (e.g. `in host "worker1"`).
func (l *loader) invalid(e entry, where, format string, args ...any) {
	l.errorf(e.line(), "invalid %s %s: %s", e.name(), where, fmt.Sprintf(format, args...))
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// isImplicitNull says n is a null written as nothing at all (not as
// "null" or "~"), as the content of a document of only "---".
func isImplicitNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Value == ""
}

func isMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && (n.Tag == "" || n.Tag == "!" || n.ShortTag() == "!!merge")
}

// describe names what a node holds, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	default:
		return strconv.Quote(n.Value)
	}
}

// pairs lists the entries of mapping n in order. Merge keys ("<<: *anchor")
// are expanded; explicit keys win over merged ones. A key written twice is
// passed to dup with the line of its first definition.
func (l *loader) pairs(n *yaml.Node, dup func(key *yaml.Node, first int)) []entry {
	var out, merged []entry
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if isMergeKey(k) {
			merged = append(merged, l.mergeSource(k, n.Content[i+1])...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			l.errorf(k.Line, "keys must be plain names, got %s", describe(k))
			continue
		}
		if first, ok := seen[k.Value]; ok {
			dup(k, first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, entry{k, v})
	}
	for _, e := range merged {
		if _, ok := seen[e.name()]; ok {
			continue
		}
		seen[e.name()] = e.line()
		out = append(out, e)
	}
	return out
}

// mergeSource returns the entries a merge key k gives: those of the
// mapping v, or of each mapping of the list v (v as written: an alias is
// resolved here).
func (l *loader) mergeSource(k, v *yaml.Node) []entry {
	written := v.Kind != yaml.AliasNode
	switch v = resolve(v); v.Kind {
	case yaml.MappingNode:
		return l.mergedPairs(v, written)
	case yaml.SequenceNode:
		var out []entry
		for _, m := range v.Content {
			written := written && m.Kind != yaml.AliasNode
			if m = resolve(m); m.Kind != yaml.MappingNode {
				l.errorf(m.Line, "a merge (<<) takes mappings, got %s", describe(m))
				continue
			}
			out = append(out, l.mergedPairs(m, written)...)
		}
		return out
	}
	l.errorf(k.Line, "a merge (<<) takes a mapping or a list of mappings, got %s", describe(v))
	return nil
}

// mergedPairs is pairs(m) for a merge, computed once per mapping: the
// problems in m are reported once, however often it is merged. written
// says m is written in the merge itself (<<: {a: 1}), not reached through
// an alias: its duplicate keys are then reported here, since nothing else
// decodes it. A mapping an alias refers to has its duplicates reported
// where it is written.
func (l *loader) mergedPairs(m *yaml.Node, written bool) []entry {
	if written && !l.mergeDupsDone[m] {
		if l.mergeDupsDone == nil {
			l.mergeDupsDone = map[*yaml.Node]bool{}
		}
		l.mergeDupsDone[m] = true // once, however often the mapping around the merge is decoded
		l.duplicateKeys(m)
	}
	if out, ok := l.merged[m]; ok {
		return out
	}
	if l.merged == nil {
		l.merged = map[*yaml.Node][]entry{}
	}
	l.merged[m] = nil // yamlbound.Check has refused a mapping that merges itself; this keeps a cycle finite anyway
	out := l.pairs(m, func(*yaml.Node, int) {})
	l.merged[m] = out
	return out
}

// duplicateKeys reports each key written twice in mapping m, at the
// second, as pairs does for a mapping decoded in its place.
func (l *loader) duplicateKeys(m *yaml.Node) {
	first := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind != yaml.ScalarNode || isMergeKey(k) {
			continue
		}
		if line, ok := first[k.Value]; ok {
			l.errorf(k.Line, "duplicate key %q in a merge (<<) (first defined at line %d)", k.Value, line)
			continue
		}
		first[k.Value] = k.Line
	}
}

// fields decodes n as a mapping of known keys (nothing counts as an empty
// mapping) and returns its entries by key. what names the mapping for
// messages, e.g. `host "worker1"`.
func (l *loader) fields(n *yaml.Node, line int, what string, known ...string) (map[string]entry, bool) {
	out := map[string]entry{}
	if isNull(n) {
		return out, true
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(line, "%s must be a mapping, got %s", what, describe(n))
		return out, false
	}
	dup := func(k *yaml.Node, first int) {
		l.errorf(k.Line, "duplicate key %q in %s (first defined at line %d)", k.Value, what, first)
	}
	for _, e := range l.pairs(n, dup) {
		if !slices.Contains(known, e.name()) {
			l.errorf(e.line(), "unknown key %q in %s%s", e.name(), what, l.suggest(e.name(), func() []string { return known }))
			continue
		}
		out[e.name()] = e
	}
	return out, true
}

// named decodes a section mapping names to definitions (hosts, roles,
// services), checking each name. kind is "host", "role" or "service".
func (l *loader) named(e entry, kind string) []entry {
	if isNull(e.val) {
		return nil
	}
	if e.val.Kind != yaml.MappingNode {
		l.errorf(e.line(), "%s must be a mapping of %s names, got %s", e.name(), kind, describe(e.val))
		return nil
	}
	dup := func(k *yaml.Node, first int) {
		l.errorf(k.Line, "duplicate %s %q (first defined at line %d)", kind, k.Value, first)
	}
	entries := l.pairs(e.val, dup)
	for _, d := range entries {
		if !validName(d.name()) {
			l.errorf(d.line(), "invalid %s name %q: %s", kind, d.name(), nameRule)
		}
	}
	return entries
}

func (l *loader) str(e entry, where string) (string, bool) {
	v := e.val
	if v.Kind != yaml.ScalarNode || isNull(v) || v.ShortTag() == "!!bool" {
		l.invalid(e, where, "must be a string, got %s", describe(v))
		return "", false
	}
	if v.Value == "" {
		l.invalid(e, where, "must not be empty")
		return "", false
	}
	return v.Value, true
}

// integer decodes an integer written in decimal. YAML also reads 0x1F,
// 0o17, 0b101, 1_000 and 0017 as integers, the last as octal in YAML 1.1
// (yaml.v3 among them) and as decimal in YAML 1.2: a port written 02222
// would silently be 1170. They are refused, saying how to write them.
func (l *loader) integer(e entry, where string) (int, bool) {
	v := e.val
	// 089 is not octal: yaml.v3 reads it as a float.
	if v.Kind == yaml.ScalarNode && (v.ShortTag() == "!!int" || v.ShortTag() == "!!float" && padded(v.Value)) {
		if !plainDecimal(v.Value) {
			l.invalid(e, where, "%s", notDecimal(v.Value))
			return 0, false
		}
		if n, err := strconv.ParseInt(v.Value, 10, 32); err == nil {
			return int(n), true
		}
	}
	l.invalid(e, where, "must be an integer, got %s", describe(v))
	return 0, false
}

// plainDecimal says v is an integer as the inventory takes it: decimal
// digits, without a leading zero (0 itself aside), after an optional sign.
// (Checks written out, not regular expressions: compiling those costs
// every start of omni.)
func plainDecimal(v string) bool {
	d := strings.TrimLeft(v, "+-")
	return len(v)-len(d) <= 1 && digitsOnly(d) && (d == "0" || d[0] != '0')
}

// padded says v is decimal digits after one or more leading zeros, after
// an optional sign; sign and digits are v's, less the zeros.
func padded(v string) bool {
	_, _, ok := unpad(v)
	return ok
}

// unpad splits a padded v (see padded) into its sign and its digits
// without the leading zeros.
func unpad(v string) (sign, digits string, ok bool) {
	d := strings.TrimLeft(v, "+-")
	if len(v)-len(d) > 1 || !digitsOnly(d) || d[0] != '0' {
		return "", "", false
	}
	rest := strings.TrimLeft(d, "0")
	if rest == "" { // "00": zeros, the last of them the digit
		rest = "0"
	}
	if len(rest) == len(d) {
		return "", "", false
	}
	return v[:len(v)-len(d)], rest, true
}

// digitsOnly says d is one or more decimal digits.
func digitsOnly(d string) bool {
	return d != "" && strings.Trim(d, "0123456789") == ""
}

// notDecimal says why integer refuses v, an integer not written in plain
// decimal, and how to write it.
func notDecimal(v string) string {
	digits := strings.ReplaceAll(v, "_", "")
	if sign, rest, ok := unpad(digits); ok {
		return fmt.Sprintf("%s has a leading zero, which YAML 1.1 reads as octal and YAML 1.2 as decimal: write %s%s, in decimal without a leading zero", v, sign, rest)
	}
	if n, err := strconv.ParseInt(digits, 0, 64); err == nil {
		return fmt.Sprintf("%s is not plain decimal (0x, 0o, 0b and _ are refused): write %d", v, n)
	}
	return fmt.Sprintf("must be an integer in decimal, got %q", v)
}

func (l *loader) intRange(e entry, where string, lo, hi int) (int, bool) {
	n, ok := l.integer(e, where)
	if ok && (n < lo || n > hi) {
		l.invalid(e, where, "%d is out of range %d-%d", n, lo, hi)
		return 0, false
	}
	return n, ok
}

func (l *loader) port(e entry, where string) (int, bool) {
	return l.intRange(e, where, 1, 65535)
}

func (l *loader) boolean(e entry, where string) (bool, bool) {
	v := e.val
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" {
		if b, err := strconv.ParseBool(v.Value); err == nil {
			return b, true
		}
	}
	l.invalid(e, where, "must be true or false, got %s", describe(v))
	return false, false
}

// duration parses a Go duration ("10s", "1m30s"); positive says whether
// zero is refused. Negative durations are always refused.
func (l *loader) duration(e entry, where string, positive bool) (time.Duration, bool) {
	v := e.val
	if v.Kind != yaml.ScalarNode || isNull(v) {
		l.invalid(e, where, "must be a duration such as \"10s\", got %s", describe(v))
		return 0, false
	}
	d, err := time.ParseDuration(v.Value)
	switch {
	case err != nil:
		l.invalid(e, where, "%q is not a duration (use a number and a unit, e.g. \"10s\" or \"500ms\")", v.Value)
		return 0, false
	case d < 0:
		l.invalid(e, where, "must not be negative")
		return 0, false
	case d == 0 && positive:
		l.invalid(e, where, "must be greater than zero")
		return 0, false
	}
	return d, true
}

// list decodes a list of strings; nothing counts as an empty list. what
// names the list for messages, e.g. `roles in host "worker1"`.
func (l *loader) list(v *yaml.Node, line int, what string) ([]item, bool) {
	if isNull(v) {
		return nil, true
	}
	if v.Kind != yaml.SequenceNode {
		l.errorf(line, "invalid %s: must be a list, got %s", what, describe(v))
		return nil, false
	}
	items := make([]item, 0, len(v.Content))
	ok := true
	for _, n := range v.Content {
		line := n.Line // an alias's own line: the item is used there, not at its anchor
		n = resolve(n)
		if n.Kind != yaml.ScalarNode || isNull(n) || n.Value == "" {
			l.errorf(line, "invalid %s: items must be names, got %s", what, describe(n))
			ok = false
			continue
		}
		items = append(items, item{n.Value, line})
	}
	return items, ok
}

// uniq reports items listed twice and returns the list without them.
func (l *loader) uniq(items []item, what string) []item {
	first := map[string]int{}
	out := items[:0:0]
	for _, it := range items {
		if line, ok := first[it.value]; ok {
			l.errorf(it.line, "%q is listed twice in %s (first at line %d)", it.value, what, line)
			continue
		}
		first[it.value] = it.line
		out = append(out, it)
	}
	return out
}

func values(items []item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.value
	}
	return out
}
