package playbooks

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/omni-fleet/omni/internal/yamlbound"
	"gopkg.in/yaml.v3"
)

//go:embed *.yaml
var builtin embed.FS

// Steps is the step vocabulary the engine understands, with what each does.
var Steps = map[string]string{
	"confirm":        "warn about the impact and ask for confirmation (critical service or impact text)",
	"check-stopped":  "verify the service is stopped; if it already runs there is nothing to do",
	"check-deps":     "the services it requires run and are healthy: stopped ones are started first (--no-deps: refuse instead)",
	"stop":           "graceful stop: SIGTERM (or the stop command), SIGKILL after the grace period",
	"verify-stopped": "verify the process is gone (a zombie counts as stopped)",
	"start":          "start the service",
	"health":         "run the health checks (process, port, HTTP) with retries",
	"record":         "read the final state and update the service registry",
	"logs":           "print the service's logs",
}

// Playbook is the ordered list of steps of one command.
type Playbook struct {
	Name        string
	Description string
	Steps       []Step
	Source      string // file the playbook was read from ("builtin:restart.yaml" or a path)
	StepsLine   int    // line of the steps: key
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

// Builtin loads the embedded playbooks.
func Builtin() (*Set, error) {
	return load(builtin, "builtin:", nil)
}

// LoadDir loads the built-in playbooks, then overrides each with a file of the
// same name (start.yaml, ...) in dir, when there is one.
func LoadDir(dir string) (*Set, error) {
	if dir == "" {
		return Builtin()
	}
	return load(builtin, "builtin:", os.DirFS(dir), dir)
}

func load(base fs.FS, baseName string, override fs.FS, overrideDir ...string) (*Set, error) {
	set := &Set{byName: map[string]*Playbook{}}
	for _, name := range Required {
		file := name + ".yaml"
		b, err := fs.ReadFile(base, file)
		if err != nil {
			return nil, fmt.Errorf("playbook %s: %w", name, err)
		}
		pb, err := parseNamed(baseName+file, b, name)
		if err != nil {
			return nil, err
		}
		must := required(pb)
		if override != nil {
			if b, err := readLimited(override, file, overrideDir[0]); err == nil {
				if pb, err = parseNamed(filepath.Join(overrideDir[0], file), b, name); err != nil {
					return nil, err
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
		// The built-ins pass too: their order is the rule's reference.
		if err := checkSafety(pb, must); err != nil {
			return nil, err
		}
		set.byName[name] = pb
	}
	return set, nil
}

// parseNamed parses a playbook file that must be called name.
func parseNamed(source string, data []byte, name string) (*Playbook, error) {
	pb, err := Parse(source, data)
	if err != nil {
		return nil, err
	}
	if pb.Name != name {
		return nil, fmt.Errorf("%s: name is %q, want %q (the file name)", source, pb.Name, name)
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

// Parse reads one playbook; errors carry source:line.
func Parse(source string, data []byte) (*Playbook, error) {
	// Aliases and merges are bounded before anything is decoded.
	var doc yaml.Node
	stepsLine := 0
	if err := yaml.Unmarshal(data, &doc); err == nil {
		if line, msg := yamlbound.Check(&doc, MaxAliasNodes, "the playbook"); msg != "" {
			return nil, fmt.Errorf("%s:%d: %s", source, line, msg)
		}
		stepsLine = keyLine(&doc, "steps")
	} // else the decode below reports the syntax error
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, yamlError(source, data, err)
	}
	if f.Name == "" {
		return nil, fmt.Errorf("%s: missing name", source)
	}
	pb := &Playbook{Name: f.Name, Description: f.Description, Source: source, StepsLine: stepsLine}
	if len(f.Steps) == 0 {
		return nil, fmt.Errorf("%s: playbook %q has no steps", source, f.Name)
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
		if _, ok := Steps[raw.Step]; !ok {
			return nil, fmt.Errorf("%s:%d: unknown step %q (known: %s)", source, node.Line, raw.Step, strings.Join(stepNames(), ", "))
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
		if st.Grace != 0 && st.Name != "stop" {
			return nil, fmt.Errorf("%s:%d: grace applies only to the stop step", source, node.Line)
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
		return 0, fmt.Errorf("%q is not a positive duration like 30s", s)
	}
	return d, nil
}

func stepNames() []string {
	names := make([]string, 0, len(Steps))
	for n := range Steps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
var unknownField = regexp.MustCompile(`^field (\S+) not found in type .*$`)

// yamlError turns yaml.v3's "line N: msg" errors into "source:N: msg".
func yamlError(source string, data []byte, err error) error {
	msgs := []string{err.Error()}
	var typeErr *yaml.TypeError
	if errors.As(err, &typeErr) {
		msgs = typeErr.Errors
	}
	m := yamlLine.FindStringSubmatch(strings.TrimSpace(msgs[0]))
	if m == nil {
		return fmt.Errorf("%s: %s", source, strings.TrimPrefix(msgs[0], "yaml: "))
	}
	msg := m[2]
	if f := unknownField.FindStringSubmatch(msg); f != nil {
		msg = fmt.Sprintf("unknown key %q (known: name, description, steps)", f[1])
	}
	line, _ := strconv.Atoi(m[1])
	return fmt.Errorf("%s:%d: %s", source, yamlbound.ErrorLine(data, line, msg), msg)
}
