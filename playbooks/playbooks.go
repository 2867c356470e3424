package playbooks

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/omni-fleet/omni/internal/yamlbound"
	"gopkg.in/yaml.v3"
)

//go:embed *.yaml
var builtin embed.FS

// Vocabulary is the steps a playbook may name, with the safety rules each
// carries. The engine owns the steps and hands its vocabulary in
// (engine.Vocabulary): this package keeps no list of its own.
type Vocabulary []StepRule

// StepRule is one step a playbook may name, and what the safety rules
// make of it.
type StepRule struct {
	Name    string
	Grace   bool // the step takes a grace key (the stop)
	Changes bool // the step changes the service (stop, start)
	// DecideFirst: a safety step that must come before the first step
	// that changes the service (confirm, check-deps).
	DecideFirst bool
	Last        bool // a safety step that must be the last step (record)
	// Needs: the safety steps a playbook that names this step must have
	// too, whatever its name (start: check-deps, record). NeedsUnless:
	// needed as well unless a step named Unless follows this one (stop:
	// confirm, unless a start follows).
	Needs, NeedsUnless []string
	Unless             string
}

// safety reports a step an override may move and time but never drop.
func (r StepRule) safety() bool { return r.DecideFirst || r.Last }

// rule returns the vocabulary's rule for a step name.
func (v Vocabulary) rule(name string) (StepRule, bool) {
	for _, r := range v {
		if r.Name == name {
			return r, true
		}
	}
	return StepRule{}, false
}

// names lists the vocabulary's steps, sorted.
func (v Vocabulary) names() []string {
	names := make([]string, 0, len(v))
	for _, r := range v {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	return names
}

// graceSteps lists the steps that take a grace key, in the vocabulary's order.
func (v Vocabulary) graceSteps() []string {
	var names []string
	for _, r := range v {
		if r.Grace {
			names = append(names, r.Name)
		}
	}
	return names
}

// Playbook is the ordered list of steps of one command.
type Playbook struct {
	Name        string
	Description string
	Steps       []Step
	Source      string // file the playbook was read from ("builtin:restart.yaml" or a path)
	StepsLine   int    // line of the steps: key (1 when absent)
	NameLine    int    // line of the name: key (1 when absent)
}

// Has reports whether the playbook names the step.
func (p *Playbook) Has(step string) bool {
	for _, st := range p.Steps {
		if st.Name == step {
			return true
		}
	}
	return false
}

// Step is one step of a playbook. A zero Timeout or Grace means "the service's own value".
type Step struct {
	Name    string
	Timeout time.Duration
	Grace   time.Duration
	Line    int
}

// Set holds the playbooks by name.
type Set struct {
	byName map[string]*Playbook
}

// Required lists the playbooks every set must have.
var Required = []string{"start", "stop", "restart", "logs"}

// Builtin loads the embedded playbooks, validated against vocab.
func Builtin(vocab Vocabulary) (*Set, error) {
	return load(vocab, builtin, "builtin:", nil)
}

// LoadDir loads the built-in playbooks, then overrides each with a file of the
// same name (start.yaml, ...) in dir, when there is one. Every playbook is
// validated against vocab. dir must be a directory: a mistyped one would
// otherwise leave the built-ins in place without a word.
func LoadDir(dir string, vocab Vocabulary) (*Set, error) {
	if dir == "" {
		return Builtin(vocab)
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	return load(vocab, builtin, "builtin:", os.DirFS(dir), dir)
}

// checkDir says why dir cannot be a playbooks directory, nil when it can.
func checkDir(dir string) error {
	info, err := os.Stat(dir)
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("playbooks directory %s does not exist", dir)
	case errors.As(err, &pathErr):
		return fmt.Errorf("playbooks directory %s: %w", dir, pathErr.Err)
	case err != nil:
		return fmt.Errorf("playbooks directory %s: %w", dir, err)
	case !info.IsDir():
		return fmt.Errorf("playbooks directory %s is not a directory", dir)
	}
	return nil
}

func load(vocab Vocabulary, base fs.FS, baseName string, override fs.FS, overrideDir ...string) (*Set, error) {
	set := &Set{byName: map[string]*Playbook{}}
	for _, name := range Required {
		file := name + ".yaml"
		b, err := fs.ReadFile(base, file)
		if err != nil {
			return nil, fmt.Errorf("playbook %s: %w", name, err)
		}
		pb, err := parseNamed(baseName+file, b, name, vocab)
		if err != nil {
			return nil, err
		}
		must := required(pb, vocab)
		if override != nil {
			if b, err := readLimited(override, file, overrideDir[0]); err == nil {
				if pb, err = parseNamed(filepath.Join(overrideDir[0], file), b, name, vocab); err != nil {
					return nil, err
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
		// The built-ins pass too: their order is the rule's reference.
		if err := checkSafety(pb, must, vocab); err != nil {
			return nil, err
		}
		set.byName[name] = pb
	}
	return set, nil
}

// parseNamed parses a playbook file that must be called name.
func parseNamed(source string, data []byte, name string, vocab Vocabulary) (*Playbook, error) {
	pb, err := Parse(source, data, vocab)
	if err != nil {
		return nil, err
	}
	if pb.Name != name {
		return nil, fmt.Errorf("%s:%d: name is %q, want %q (the file name)", source, pb.NameLine, pb.Name, name)
	}
	return pb, nil
}

// MaxBytes is the largest playbook file read: a playbook is a few lines,
// and an override comes from the same repository as the inventory.
const MaxBytes = 1 << 20

// MaxAliasNodes is the most nodes a playbook's aliases and merges may
// expand to (see internal/yamlbound).
const MaxAliasNodes = 10_000

// readLimited reads at most MaxBytes of name; a longer file (or an endless
// one) is an error naming it.
func readLimited(fsys fs.FS, name, dir string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%s: the playbook is larger than %d bytes (1 MiB), the most omni reads", filepath.Join(dir, name), MaxBytes)
	}
	return data, nil
}

// Get returns the playbook called name.
func (s *Set) Get(name string) (*Playbook, error) {
	pb, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("no playbook %q", name)
	}
	return pb, nil
}

type fileStep struct {
	Step    string `yaml:"step"`
	Timeout string `yaml:"timeout"`
	Grace   string `yaml:"grace"`
}

type file struct {
	Name        string      `yaml:"name"`
	Description string      `yaml:"description"`
	Steps       []yaml.Node `yaml:"steps"`
}

// Parse reads one playbook, whose steps must be in vocab; errors carry
// source:line.
func Parse(source string, data []byte, vocab Vocabulary) (*Playbook, error) {
	// Aliases and merges are bounded before anything is decoded.
	var doc yaml.Node
	stepsLine, nameLine := 1, 1
	if err := yaml.Unmarshal(data, &doc); err == nil {
		if line, msg := yamlbound.Check(&doc, MaxAliasNodes, "the playbook"); msg != "" {
			return nil, fmt.Errorf("%s:%d: %s", source, line, msg)
		}
		stepsLine, nameLine = max(keyLine(&doc, "steps"), 1), max(keyLine(&doc, "name"), 1)
	} // else the decode below reports the syntax error
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s:1: the playbook is empty (want name: and steps:)", source)
		}
		return nil, yamlError(source, data, err)
	}
	// One document a file: a second (after ---) would be read by no one.
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, fmt.Errorf("%s:%d: a second YAML document (after ---): a playbook file holds one", source, max(next.Line, 1))
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(source, data, err)
	}
	if f.Name == "" {
		return nil, fmt.Errorf("%s:%d: missing name", source, nameLine)
	}
	pb := &Playbook{Name: f.Name, Description: f.Description, Source: source, StepsLine: stepsLine, NameLine: nameLine}
	if len(f.Steps) == 0 {
		return nil, fmt.Errorf("%s:%d: playbook %q has no steps", source, stepsLine, f.Name)
	}
	seen := map[string]int{}
	for _, node := range f.Steps {
		var raw fileStep
		if err := node.Decode(&raw); err != nil {
			return nil, yamlError(source, data, err)
		}
		if err := checkKeys(&node); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", source, node.Line, err)
		}
		rule, ok := vocab.rule(raw.Step)
		if !ok {
			return nil, fmt.Errorf("%s:%d: unknown step %q (known: %s)", source, node.Line, raw.Step, strings.Join(vocab.names(), ", "))
		}
		if first, dup := seen[raw.Step]; dup {
			return nil, fmt.Errorf("%s:%d: step %q repeated (first at line %d)", source, node.Line, raw.Step, first)
		}
		seen[raw.Step] = node.Line
		st := Step{Name: raw.Step, Line: node.Line}
		var err error
		if st.Timeout, err = duration(raw.Timeout); err != nil {
			return nil, fmt.Errorf("%s:%d: timeout: %v", source, node.Line, err)
		}
		if st.Grace, err = duration(raw.Grace); err != nil {
			return nil, fmt.Errorf("%s:%d: grace: %v", source, node.Line, err)
		}
		if st.Grace != 0 && !rule.Grace {
			return nil, fmt.Errorf("%s:%d: grace applies only to the %s step", source, node.Line, strings.Join(vocab.graceSteps(), " and "))
		}
		pb.Steps = append(pb.Steps, st)
	}
	return pb, nil
}

// keyLine is the line of a top-level key of the document, 0 if absent.
func keyLine(doc *yaml.Node, key string) int {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return 0
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return 0
}

// checkKeys rejects unknown keys in a step mapping (Node.Decode does not apply KnownFields).
func checkKeys(node *yaml.Node) error {
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("a step must be a mapping like {step: stop}")
	}
	for i := 0; i < len(node.Content); i += 2 {
		switch k := node.Content[i].Value; k {
		case "step", "timeout", "grace":
		default:
			return fmt.Errorf("unknown key %q in step (known: step, timeout, grace)", k)
		}
	}
	return nil
}

func duration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration like 30s, above 0 and at most %dh", s, math.MaxInt64/int64(time.Hour))
	}
	return d, nil
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)
var unknownField = regexp.MustCompile(`^field (\S+) not found in type .*$`)

// yamlError turns a yaml.v3 error into "source:LINE: msg": a decode error
// (a *yaml.TypeError) carries the line of its node, a syntax error is
// placed by yamlbound.SyntaxError.
func yamlError(source string, data []byte, err error) error {
	var typeErr *yaml.TypeError
	if !errors.As(err, &typeErr) {
		line, msg := yamlbound.SyntaxError(data, err)
		return fmt.Errorf("%s:%d: %s", source, line, msg)
	}
	m := yamlLine.FindStringSubmatch(strings.TrimSpace(typeErr.Errors[0]))
	if m == nil {
		return fmt.Errorf("%s: %s", source, typeErr.Errors[0])
	}
	msg := m[2]
	if f := unknownField.FindStringSubmatch(msg); f != nil {
		msg = fmt.Sprintf("unknown key %q (known: name, description, steps)", f[1])
	}
	return fmt.Errorf("%s:%s: %s", source, m[1], msg)
}
