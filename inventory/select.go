package inventory

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// TargetError is a target that selects nothing or cannot be read; the CLI
// treats it as a usage error, like NotFoundError.
type TargetError struct {
	Target string
	Msg    string
}

func (e *TargetError) Error() string { return fmt.Sprintf("target %q: %s", e.Target, e.Msg) }

// Select resolves a command's HOST argument to hosts, in declaration order,
// each once. A target is a comma-separated list of: a host name, a role
// name, "all" (every host), or a glob over host names (`worker*`,
// `web-[12]`, `db?`). A name is never both a host and a role (Load refuses
// such an inventory). Every element must select at least one host: a typo
// is an error, with a suggestion, never a silently smaller fleet.
func (inv *Inventory) Select(target string) ([]*Host, error) {
	if strings.TrimSpace(target) == "" {
		return nil, &TargetError{Target: target, Msg: "empty target"}
	}
	picked := map[*Host]bool{}
	for _, elem := range strings.Split(target, ",") {
		elem = strings.TrimSpace(elem)
		if elem == "" {
			return nil, &TargetError{Target: target, Msg: "empty element in the comma list"}
		}
		hosts, err := inv.selectOne(elem)
		if err != nil {
			return nil, err
		}
		for _, h := range hosts {
			picked[h] = true
		}
	}
	var out []*Host
	for _, h := range inv.Hosts {
		if picked[h] {
			out = append(out, h)
		}
	}
	return out, nil
}

func (inv *Inventory) selectOne(elem string) ([]*Host, error) {
	if h := inv.findHost(elem); h != nil {
		return []*Host{h}, nil
	}
	if elem == AllRole || inv.findRole(elem) != nil {
		hosts := inv.HostsWithRole(elem)
		if len(hosts) == 0 {
			return nil, &TargetError{Target: elem, Msg: "no host has this role"}
		}
		return hosts, nil
	}
	if !isGlob(elem) {
		names := append(inv.HostNames(), inv.RoleNames()...)
		return nil, &NotFoundError{Kind: "host or role", Name: elem, Suggestion: Suggest(elem, names)}
	}
	if _, err := path.Match(elem, ""); err != nil {
		return nil, &TargetError{Target: elem, Msg: "bad glob pattern"}
	}
	var out []*Host
	for _, h := range inv.Hosts {
		if ok, _ := path.Match(elem, h.Name); ok {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, &TargetError{Target: elem, Msg: "the glob matches no host"}
	}
	return out, nil
}

// IsHost reports whether target is exactly one host's name: the commands
// then act on that host alone and print the single-host status block.
func (inv *Inventory) IsHost(target string) bool { return inv.findHost(target) != nil }

func isGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// TargetNames lists what a target may name (hosts, roles, "all"), for
// completion and suggestions.
func (inv *Inventory) TargetNames() []string {
	names := append(inv.HostNames(), inv.RoleNames()...)
	if !slices.Contains(names, AllRole) {
		names = append(names, AllRole)
	}
	return names
}
