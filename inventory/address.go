package inventory

import (
	"net/netip"
	"strings"
)

// addressProblem says why v is not a host's address, "" when it is one: a
// host name (labels of letters, digits, '-' and '_', separated by dots, at
// most 253 bytes, no label over 63 or starting with '-'), an IPv4 address,
// or an IPv6 address (with a zone of letters, digits, '.', '-', '_'),
// without brackets or port. Anything else reaches known_hosts, where a
// comma, a '*' or a line break would make a pattern that trusts a key for
// other hosts (--accept-new-host-keys), and ssh, where a leading '-' is an
// option.
func addressProblem(v string) string {
	if v == "" {
		return "is empty"
	}
	if a, err := netip.ParseAddr(v); err == nil {
		if z := a.Zone(); z != "" && strings.Trim(z, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "" {
			return "has an IPv6 zone with characters other than letters, digits, '.', '-' and '_'"
		}
		return ""
	}
	if strings.ContainsAny(v, ":%[]") {
		return "is not a valid IP address"
	}
	if len(v) > 253 {
		return "is longer than 253 bytes"
	}
	for _, label := range strings.Split(strings.TrimSuffix(v, "."), ".") {
		switch {
		case label == "":
			return "has an empty label (two dots in a row, or a leading dot)"
		case len(label) > 63:
			return "has a label longer than 63 bytes"
		case label[0] == '-':
			return "has a label that starts with '-'"
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return "is not a host name or an IP address (a host name is letters, digits, '-' and '_', in labels separated by dots)"
			}
		}
	}
	return ""
}
