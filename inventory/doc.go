// Package inventory owns omni's inventory file: the YAML description of the
// fleet (defaults, hosts, roles, services and their dependencies).
//
// Load reads and validates a file in one place, before any connection is
// opened: unknown keys, wrong types, dangling references, bastion (via) loops
// and dependency cycles are all reported at once, each as FILE:LINE: message
// (see ErrorList). A loaded Inventory has every default applied and every path
// made absolute, keeps declaration order, and answers the questions the rest
// of omni asks: which host is which, what a host runs, how to reach it.
package inventory
