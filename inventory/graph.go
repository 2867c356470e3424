package inventory

import (
	"fmt"
	"slices"
	"strings"
)

// Graph is the service-level dependency graph of an inventory: one node per
// service, one edge per requires entry, the @host / @role qualifier kept on
// the edge. NewGraph builds the whole graph; Part keeps what one service
// requires and what requires it. A Graph is read-only once built.
type Graph struct {
	// Focus is the service a Part was built around; "" for the whole graph.
	Focus string

	services   []*Service               // nodes, in declaration order
	byName     map[string]*Service      // nodes by name
	requires   map[string][]Requirement // edges by requiring service, in requires order
	requiredBy map[string][]string      // requirers by required service, distinct, in declaration order
}

// NewGraph returns the whole dependency graph of inv: every service, enabled
// or not, and every requires entry. Entries naming no service are left out
// (Load rejects them). For an inventory built without Load, a qualifier is
// taken for a host when inv has a host of that name, else for a role.
func NewGraph(inv *Inventory) *Graph {
	g := &Graph{byName: map[string]*Service{}, requires: map[string][]Requirement{}, requiredBy: map[string][]string{}}
	for _, s := range inv.Services {
		if g.byName[s.Name] == nil {
			g.services = append(g.services, s)
			g.byName[s.Name] = s
		}
	}
	for _, s := range g.services {
		for _, r := range s.Requirements() {
			if g.byName[r.Service] == nil {
				continue
			}
			if r.At != "" && r.Host == "" && r.Role == "" {
				if inv.findHost(r.At) != nil {
					r.Host = r.At
				} else {
					r.Role = r.At
				}
			}
			g.addEdge(s.Name, r)
		}
	}
	return g
}

func (g *Graph) addEdge(from string, r Requirement) {
	g.requires[from] = append(g.requires[from], r)
	if !slices.Contains(g.requiredBy[r.Service], from) {
		g.requiredBy[r.Service] = append(g.requiredBy[r.Service], from)
	}
}

// Part returns the part of g through one service: the service, everything it
// requires (transitively) with all their requires entries, and everything
// that requires it (transitively) with the entries on the way to it. An
// unknown name is a *NotFoundError with a suggestion.
func (g *Graph) Part(service string) (*Graph, error) {
	if g.byName[service] == nil {
		names := make([]string, len(g.services))
		for i, s := range g.services {
			names[i] = s.Name
		}
		return nil, &NotFoundError{Kind: "service", Name: service, Suggestion: Suggest(service, names)}
	}
	down := g.closure(service, func(n string) []string {
		var out []string
		for _, r := range g.requires[n] {
			out = append(out, r.Service)
		}
		return out
	})
	up := g.closure(service, func(n string) []string { return g.requiredBy[n] })

	p := &Graph{Focus: service, byName: map[string]*Service{}, requires: map[string][]Requirement{}, requiredBy: map[string][]string{}}
	for _, s := range g.services {
		if down[s.Name] || up[s.Name] {
			p.services = append(p.services, s)
			p.byName[s.Name] = s
		}
	}
	// An edge is on a path through service when it leaves something service
	// needs, or enters something that needs service. (No edge goes from the
	// first set to the second: that would be a cycle.)
	for _, s := range p.services {
		for _, r := range g.requires[s.Name] {
			if down[s.Name] || up[r.Service] {
				p.addEdge(s.Name, r)
			}
		}
	}
	return p, nil
}

// closure returns start and every service reachable from it through next.
func (g *Graph) closure(start string, next func(string) []string) map[string]bool {
	seen := map[string]bool{start: true}
	stack := []string{start}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, m := range next(n) {
			if !seen[m] {
				seen[m] = true
				stack = append(stack, m)
			}
		}
	}
	return seen
}

// Services lists the graph's services in declaration order.
func (g *Graph) Services() []*Service {
	return append([]*Service(nil), g.services...)
}

// Requires lists the graph's edges out of the named service, in the order of
// its requires; Host or Role is set for every qualified entry.
func (g *Graph) Requires(service string) []Requirement {
	return append([]Requirement(nil), g.requires[service]...)
}

// RequiredBy lists the services of the graph with an edge to the named
// service, each once, in declaration order.
func (g *Graph) RequiredBy(service string) []string {
	return append([]string(nil), g.requiredBy[service]...)
}

// Roots lists, in declaration order, the services no service of the graph
// requires. In an acyclic graph every service is a root or below one.
func (g *Graph) Roots() []string {
	var out []string
	for _, s := range g.services {
		if len(g.requiredBy[s.Name]) == 0 {
			out = append(out, s.Name)
		}
	}
	return out
}

// Text renders the graph as trees drawn with box characters.
//
// The whole graph is one tree per root, in declaration order, separated by
// blank lines. A Part is the tree of what Focus requires, then "Required by:"
// and the tree of what requires Focus (or "Required by: none").
//
// Forward edges print their qualifier: "svc@host", "svc@role (any host with
// role role)". In the "Required by" tree a requirer whose entries are
// qualified says so: "alert-manager (requires auth-service@bastion)".
// Disabled services are marked "(disabled)". Within one tree a service whose
// requirements were already drawn is printed once more, marked
// "(see above)", without them, so a tree has at most one line per edge.
func (g *Graph) Text() string {
	var b strings.Builder
	if g.Focus != "" {
		g.writeTree(&b, g.Focus, g.forward)
		if len(g.requiredBy[g.Focus]) == 0 {
			b.WriteString("\nRequired by: none\n")
		} else {
			b.WriteString("\nRequired by:\n")
			g.writeTree(&b, g.Focus, g.reverse)
		}
		return b.String()
	}
	drawn := map[string]bool{}
	tree := func(root string) {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		for n := range g.writeTree(&b, root, g.forward) {
			drawn[n] = true
		}
	}
	for _, root := range g.Roots() {
		tree(root)
	}
	// Only a cycle (which Load rejects) leaves services undrawn; draw them
	// anyway rather than hide them.
	for _, s := range g.services {
		if !drawn[s.Name] {
			tree(s.Name)
		}
	}
	return b.String()
}

// treeNode is one line of a tree: a service and how it is labelled there.
type treeNode struct{ name, label string }

func (g *Graph) forward(name string) []treeNode {
	var out []treeNode
	for _, r := range g.requires[name] {
		out = append(out, treeNode{r.Service, RequirementLabel(r)})
	}
	return out
}

func (g *Graph) reverse(name string) []treeNode {
	var out []treeNode
	for _, from := range g.requiredBy[name] {
		var entries []string
		qualified := false
		for _, r := range g.requires[from] {
			if r.Service == name {
				entries = append(entries, r.String())
				qualified = qualified || !r.SameHost()
			}
		}
		label := from
		if qualified {
			label += " (requires " + strings.Join(entries, ", ") + ")"
		}
		out = append(out, treeNode{from, label})
	}
	return out
}

// RequirementLabel is how a requires entry reads in the text graph: "svc",
// "svc@host", or "svc@role (any host with role role)".
func RequirementLabel(r Requirement) string {
	switch {
	case r.SameHost():
		return r.Service
	case r.Role == AllRole:
		return r.String() + " (any host)"
	case r.Role != "":
		return r.String() + " (any host with role " + r.Role + ")"
	}
	return r.String()
}

// writeTree draws the tree below root and returns the services it drew.
func (g *Graph) writeTree(b *strings.Builder, root string, children func(string) []treeNode) map[string]bool {
	expanded := map[string]bool{}
	var walk func(n treeNode, lead, indent string)
	walk = func(n treeNode, lead, indent string) {
		b.WriteString(lead + n.label)
		if s := g.byName[n.name]; s != nil && !s.Enabled {
			b.WriteString(" (disabled)")
		}
		kids := children(n.name)
		if len(kids) > 0 && expanded[n.name] {
			b.WriteString(" (see above)\n")
			return
		}
		expanded[n.name] = true
		b.WriteString("\n")
		for i, k := range kids {
			if i == len(kids)-1 {
				walk(k, indent+"└── ", indent+"    ")
			} else {
				walk(k, indent+"├── ", indent+"│   ")
			}
		}
	}
	walk(treeNode{root, root}, "", "")
	return expanded
}

// DOT renders the graph for Graphviz: every service as a box, in declaration
// order (disabled ones dashed, a Part's Focus bold), then every edge, from
// requirer to required, in declaration and requires order; a qualified
// edge is labelled "@host" or "@role".
func (g *Graph) DOT() string {
	var b strings.Builder
	b.WriteString("digraph omni {\n  rankdir=LR;\n  node [shape=box];\n")
	for _, s := range g.services {
		var style []string
		if s.Name == g.Focus {
			style = append(style, "bold")
		}
		if !s.Enabled {
			style = append(style, "dashed")
		}
		fmt.Fprintf(&b, "  %s", dotQuote(s.Name))
		if len(style) > 0 {
			fmt.Fprintf(&b, " [style=%s]", dotQuote(strings.Join(style, ",")))
		}
		b.WriteString(";\n")
	}
	for _, s := range g.services {
		for _, r := range g.requires[s.Name] {
			fmt.Fprintf(&b, "  %s -> %s", dotQuote(s.Name), dotQuote(r.Service))
			if !r.SameHost() {
				fmt.Fprintf(&b, " [label=%s]", dotQuote("@"+r.At))
			}
			b.WriteString(";\n")
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// dotQuote makes s a DOT double-quoted ID: backslashes and quotes escaped,
// line breaks as \n.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)
	return `"` + r.Replace(s) + `"`
}
