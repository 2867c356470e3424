// Package yamlbound bounds YAML aliases and merge keys before a document
// is decoded: an alias that includes the node it sits in is refused, and
// so is expansion past a number of nodes ("billion laughs"). yaml.v3
// builds a yaml.Node tree without expanding aliases; what walks the tree
// afterwards (or Node.Decode) is what would recurse or blow up.
//
// It also places yaml.v3's syntax errors on the right line (SyntaxError),
// for the inventory and the playbooks alike.
package yamlbound

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// aliasCheck walks a parsed document once, in document order, before any
// of it is decoded. It rejects an alias that refers to a node containing
// it (a merge of the mapping it sits in, or of a list holding it), which
// would make any expansion endless, and counts the nodes aliases and
// merges would expand to, rejecting the alias that takes the count past
// the limit. Each node is walked once: the expanded size of an anchor
// is remembered, so the check itself is linear in the file.
type aliasCheck struct {
	open     map[*yaml.Node]bool // anchored nodes being walked: ancestors of the current one
	size     map[*yaml.Node]int  // anchored nodes walked: how many nodes each expands to (at most limit+1)
	expanded int                 // nodes reached through aliases so far
	limit    int
	what     string // "the inventory"
	line     int    // the offending alias, once found
	msg      string
}

// Check returns the line of the first offending alias in doc and what is
// wrong with it, or 0 and "" when doc is within bounds. limit is the most
// nodes aliases may expand to; what names the document in messages
// ("the inventory").
func Check(doc *yaml.Node, limit int, what string) (int, string) {
	c := &aliasCheck{open: map[*yaml.Node]bool{}, size: map[*yaml.Node]int{}, limit: limit, what: what}
	c.walk(doc, false)
	return c.line, c.msg
}

// walk returns how many nodes n expands to, capped at limit+1 so that
// exponential sizes do not overflow. merge says n is the value of a merge
// key or an item of such a value, for the messages.
func (c *aliasCheck) walk(n *yaml.Node, merge bool) int {
	if n == nil || c.msg != "" {
		return 0
	}
	// Only anchored nodes can be reached again, through an alias: only
	// they are remembered.
	anchored := n.Anchor != ""
	if anchored {
		if s, ok := c.size[n]; ok {
			return s
		}
		c.open[n] = true
	}
	total := 1
	for i, child := range n.Content {
		childMerge := false
		switch n.Kind {
		case yaml.MappingNode:
			childMerge = i%2 == 1 && isMergeKey(n.Content[i-1])
		case yaml.SequenceNode:
			childMerge = merge
		}
		total = c.add(total, c.walk(child, childMerge))
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil && c.msg == "" {
		total = c.add(total, c.alias(n, merge))
	}
	if anchored {
		delete(c.open, n)
		c.size[n] = total
	}
	return total
}

// alias checks one alias and returns the size of its anchor.
func (c *aliasCheck) alias(n *yaml.Node, merge bool) int {
	what := "alias *" + n.Value
	if merge {
		what = "merge (<<) of *" + n.Value
	}
	t := n.Alias
	if t.Anchor == "" {
		// Not from yaml.v3's parser, which sets the anchor of every
		// node an alias refers to; without it the walk could not
		// tell a cycle.
		c.fail(n.Line, "%s refers to a node without an anchor", what)
		return 0
	}
	if c.open[t] {
		c.fail(n.Line, "%s refers to %s that contains it (&%s at line %d): a merge or alias cannot include itself", what, kindOf(t), n.Value, t.Line)
		return 0
	}
	s := c.walk(t, false) // already walked (anchors come before their aliases), so remembered
	c.expanded = c.add(c.expanded, s)
	if c.expanded > c.limit {
		c.fail(n.Line, "%s makes %s too large: with its aliases and merges expanded it would have more than %d nodes (the limit); anchors that merge or repeat earlier ones multiply, so write these values out instead", what, c.what, c.limit)
		return 0
	}
	return s
}

func (c *aliasCheck) fail(line int, format string, args ...any) {
	if c.msg == "" {
		c.line, c.msg = max(line, 1), fmt.Sprintf(format, args...)
	}
}

// add sums sizes, saturating just past the limit.
func (c *aliasCheck) add(a, b int) int {
	return min(a+b, c.limit+1)
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "the document"
	}
	return "a node"
}

// isMergeKey is yaml.v3's test for "<<".
func isMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && (n.Tag == "" || n.Tag == "!" || n.ShortTag() == "!!merge")
}
