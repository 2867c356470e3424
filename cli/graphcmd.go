package cli

import (
	"context"
	"io"

	"github.com/alecthomas/kingpin/v2"

	"github.com/omni-fleet/omni/inventory"
)

// addGraphCommand registers `omni inventory graph [SERVICE] [--format text|dot]`
// under the inventory command.
func addGraphCommand(parent *kingpin.CmdClause, g *globalOptions, s Streams, run *func(context.Context) error) {
	var service, format string
	cmd := parent.Command("graph", "Show the service dependency graph (no connection is opened): every service's requirements as trees, or with SERVICE what it requires and what requires it.")
	cmd.Arg("SERVICE", "Service name from the inventory.").HintAction(serviceHints(g, new(string))).StringVar(&service)
	cmd.Flag("format", "text (trees) or dot (Graphviz: omni inventory graph --format dot | dot -Tsvg > graph.svg).").Default("text").EnumVar(&format, "text", "dot")
	cmd.Action(func(*kingpin.ParseContext) error {
		*run = func(context.Context) error { return inventoryGraph(g, s, service, format) }
		return nil
	})
}

// inventoryGraph prints the dependency graph, or the part of it through one
// service, as text, DOT or JSON.
func inventoryGraph(g *globalOptions, s Streams, service, format string) error {
	if g.Output == "json" && format != "text" {
		return &usageError{"--format " + format + " and --output json cannot be combined"}
	}
	inv, err := loadInventory(g)
	if err != nil {
		return err
	}
	graph := inventory.NewGraph(inv)
	if service != "" {
		if graph, err = graph.Part(service); err != nil {
			return err
		}
	}
	switch {
	case g.Output == "json":
		return writeJSON(s.Out, newGraphDoc(graph))
	case format == "dot":
		_, err = io.WriteString(s.Out, graph.DOT())
	default:
		_, err = io.WriteString(s.Out, graph.Text())
	}
	return err
}

// graphDoc is the result of `omni inventory graph [SERVICE] --output json`.
//
//	service      the SERVICE asked about; absent for the whole graph
//	services     in declaration order: every service, or SERVICE, what it
//	             requires and what requires it (transitively)
//	  name       the service
//	  enabled    false for a service the file disables
//	  requires   its requires entries in the graph, in file order; each has
//	             service, and host (svc@host) or role (svc@role: any host
//	             with that role), neither for the same host
//	  required_by  the services whose requires name it, each once, in
//	             declaration order
//
// With SERVICE, only the entries on a path through SERVICE are listed: all
// the requires of what SERVICE needs, and the requires that lead to SERVICE
// from what needs it. requires and required_by are [] when empty.
type graphDoc struct {
	Service  string            `json:"service,omitempty"`
	Services []graphServiceDoc `json:"services"`
}

type graphServiceDoc struct {
	Name       string            `json:"name"`
	Enabled    bool              `json:"enabled"`
	Requires   []graphRequireDoc `json:"requires"`
	RequiredBy []string          `json:"required_by"`
}

type graphRequireDoc struct {
	Service string `json:"service"`
	Host    string `json:"host,omitempty"`
	Role    string `json:"role,omitempty"`
}

func newGraphDoc(graph *inventory.Graph) graphDoc {
	doc := graphDoc{Service: graph.Focus, Services: []graphServiceDoc{}}
	for _, svc := range graph.Services() {
		e := graphServiceDoc{Name: svc.Name, Enabled: svc.Enabled, Requires: []graphRequireDoc{}, RequiredBy: []string{}}
		for _, r := range graph.Requires(svc.Name) {
			e.Requires = append(e.Requires, graphRequireDoc{Service: r.Service, Host: r.Host, Role: r.Role})
		}
		e.RequiredBy = append(e.RequiredBy, graph.RequiredBy(svc.Name)...)
		doc.Services = append(doc.Services, e)
	}
	return doc
}
